"""A population of K directors attacking one batch of episodes (RAP, Vinitsky et al. 2020).

Each episode of a batch is assigned one member, uniformly and balanced (a seeded permutation
of ``arange(B) mod K``).  At every step each member directs only its own episodes — K batched
forward passes, one per member, never one per episode — and one targeted step (Eq. 13) over
the whole batch realises all targets.  ``learn`` hands every member exactly the episodes it
attacked (``EpisodeBatch.rows``); the protagonist learns from all of them.  The population takes
``updates`` gradient steps per batch in all, dealt round-robin: at batch r the members
(r·U + j) mod K, j < U, take one step each (on their own replay), so over K batches every member
takes U steps, and K members cost what one director with U steps per batch does.
"""
from __future__ import annotations

import torch

from attacks.base import Attack
from attacks.paad import PAAD
from attacks.targeted import targeted_step
from robench.learners.agent import Agent
from robench.learners.buffer import EpisodeBatch


def balanced_assignment(batch_size: int, k: int, generator: torch.Generator) -> torch.Tensor:
    """[B] member index of each episode: a seeded permutation of ``arange(B) mod k`` (uniform, and
    every member's share differs by at most one episode)."""
    order = torch.randperm(batch_size, generator=generator)
    assignment = torch.empty(batch_size, dtype=torch.int64)
    assignment[order] = torch.arange(batch_size) % k
    return assignment


class DirectorPopulation(Attack):
    name = "population"
    learned = True

    def __init__(self, members: list[PAAD], generator: torch.Generator | None = None, updates: int = 1):
        super().__init__(generator)
        if not members:
            raise ValueError("a population needs at least one director")
        if updates < 1:
            raise ValueError(f"a population takes at least one gradient step per batch, got {updates}")
        self.members, self.updates = members, updates
        self.batches = 0
        """Batches learned from so far (the round-robin position)."""
        self.assignment = torch.zeros(0, dtype=torch.int64)
        """[B] member index of each episode of the current batch."""

    @property
    def training(self) -> bool:
        return self.members[0].training

    @training.setter
    def training(self, value: bool) -> None:
        for member in self.members:
            member.training = value

    def reset(self, batch_size: int) -> None:
        self.assignment = balanced_assignment(batch_size, len(self.members), self.generator)
        for i, member in enumerate(self.members):
            member.reset(int((self.assignment == i).sum()))

    def perturb(self, agent: Agent, obs, hidden, avail, eps, low, high) -> torch.Tensor:
        target = torch.zeros(obs.shape[:2], dtype=torch.int64, device=obs.device)
        for i, member in enumerate(self.members):
            rows = self.assignment == i
            if bool(rows.any()):
                target[rows] = member.direct(obs[rows], avail[rows])
        return targeted_step(agent, obs, hidden, avail, target, eps, low, high)

    def turns(self) -> torch.Tensor:
        """[K] gradient steps of each member at the current batch (round-robin, ``updates`` in all)."""
        k = len(self.members)
        dealt = (self.batches * self.updates + torch.arange(self.updates)) % k
        return torch.bincount(dealt, minlength=k)

    def learn(self, batch: EpisodeBatch) -> dict[str, float]:
        """Every member stores the episodes it attacked, and only those, and takes its turns."""
        stats: dict[str, float] = {}
        turns = self.turns()
        for i, member in enumerate(self.members):
            rows = self.assignment == i
            if bool(rows.any()):
                learned = member.learn(batch.rows(rows), updates=int(turns[i]))
                stats.update({f"m{i}.{k}": v for k, v in learned.items()})
        self.batches += 1
        return stats
