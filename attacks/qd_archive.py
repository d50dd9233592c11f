"""ROMANCE's quality-diversity archive of action attackers (zzq-bot/ROMANCE ``QD/archive.py``).

Entries are attackers (parameter lists of ``attacks.romance.StackedMLP.member``) with a quality
q = −(mean team return) of the episodes they attacked.  Behavioural distance between attackers
a and b is the mean over shared states s (their inputs [state, budget left]) of
KL(π_b(s) ‖ π_a(s)) over the N + 1 options.

Update, for each candidate c with distances d_j to the archive's entries:
    thr = mean_j d_j · (1 − r),   r decaying linearly 0.9 → 0.5 over training;
    min_j d_j > thr  →  c is new behaviour: appended (the oldest entry leaves when full);
    otherwise        →  c replaces its nearest entry j* iff q_c ≥ q_j*.
(The original replaces with probability 1 − q_c/(q_c + q_j*), which inverts the ordering for
the negative qualities of SMAC; we keep the intended "better quality wins".)

Selection of a generation's K attackers: with more than K entries, K draws with replacement
∝ softmax(q/5), each swapped for a fresh attacker with probability p decaying 0.4 → 0.05 over
the first eighth of training; otherwise every entry plus fresh attackers up to K.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from robench.snapshot import snapshot_record

Member = list[torch.Tensor]


def linear_decay(start: float, end: float, progress: float, horizon: float = 1.0) -> float:
    """start → end linearly over progress ∈ [0, horizon], then end."""
    return start + min(1.0, max(0.0, progress) / horizon) * (end - start)


def behaviour_distance(pi_a: torch.Tensor, pi_b: torch.Tensor) -> torch.Tensor:
    """mean_s KL(π_b(s) ‖ π_a(s)) for policies [..., S, C] (broadcast over leading dims)."""
    return (pi_b * (pi_b.clamp_min(1e-8).log() - pi_a.clamp_min(1e-8).log())).sum(-1).mean(-1)


@snapshot_record
@dataclass
class Entry:
    member: Member
    quality: float


class QDArchive:
    """At most ``capacity`` attackers, kept by the quality-diversity rule above."""

    def __init__(self, capacity: int = 15, fresh_start: float = 0.4, fresh_end: float = 0.05,
                 fresh_horizon: float = 0.125, ratio_start: float = 0.9, ratio_end: float = 0.5,
                 temperature: float = 5.0):
        self.capacity = capacity
        self.fresh = (fresh_start, fresh_end, fresh_horizon)
        self.ratio = (ratio_start, ratio_end)
        self.temperature = temperature
        self.entries: list[Entry] = []

    def __len__(self) -> int:
        return len(self.entries)

    def update(self, candidates: list[Entry], policies: Callable[[list[Member]], torch.Tensor],
               progress: float) -> list[str]:
        """Offer each candidate in turn; ``policies(members)`` gives their π [M, S, C] on the
        shared states.  Returns what happened to each ("added", "replaced j", "rejected")."""
        outcome = []
        r = linear_decay(*self.ratio, progress)
        for cand in candidates:
            if not self.entries:
                self.entries.append(cand)
                outcome.append("added")
                continue
            pis = policies([cand.member] + [e.member for e in self.entries])
            dist = behaviour_distance(pis[:1], pis[1:])  # [len(archive)]
            if float(dist.min()) > float(dist.mean()) * (1 - r):
                self.entries.append(cand)
                if len(self.entries) > self.capacity:
                    self.entries.pop(0)
                outcome.append("added")
                continue
            nearest = int(dist.argmin())
            if cand.quality >= self.entries[nearest].quality:
                self.entries[nearest] = cand
                outcome.append(f"replaced {nearest}")
            else:
                outcome.append("rejected")
        return outcome

    def select(self, k: int, progress: float, generator: torch.Generator,
               fresh: Callable[[], Member]) -> list[Member]:
        """The next generation's K attackers (see the module docstring)."""
        if len(self.entries) <= k:
            return [e.member for e in self.entries] + [fresh() for _ in range(k - len(self.entries))]
        quality = torch.tensor([e.quality for e in self.entries])
        picks = torch.multinomial(torch.softmax(quality / self.temperature, 0), k, replacement=True,
                                  generator=generator)
        p_fresh = linear_decay(self.fresh[0], self.fresh[1], progress, self.fresh[2])
        coins = torch.rand(k, generator=generator) < p_fresh
        return [fresh() if bool(c) else [t.clone() for t in self.entries[int(i)].member] for i, c in zip(picks, coins)]
