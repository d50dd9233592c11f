"""A population of K directors attacking one batch of episodes (RAP, Vinitsky et al. 2020).

Each episode of a batch is assigned one member, uniformly and balanced (a seeded permutation
of ``arange(B) mod K``).  At every step each member directs only its own episodes: the members'
networks are stepped as one batched call (``AgentStack``, their episodes gathered into a
[K, ⌈B/K⌉] block), never one call per member or per episode, ε-greedy as PAAD's director is,
and one targeted step (Eq. 13) over the whole batch realises all targets.  ``learn`` hands
every member exactly the episodes it attacked (``EpisodeBatch.rows``); the protagonist learns from all of them.  The population takes
``updates`` gradient steps per batch in all, dealt round-robin: at batch r the members
(r·U + j) mod K, j < U, take one step each (on their own replay), so over K batches every member
takes U steps, and K members cost what one director with U steps per batch does.
"""
from __future__ import annotations

import torch

from attacks.base import LearnedAttack
from attacks.paad import PAAD
from attacks.targeted import targeted_step
from robench.learners.agent import Agent, AgentStack
from robench.learners.buffer import EpisodeBatch
from robench.rollout import explore_actions


def balanced_assignment(batch_size: int, k: int, generator: torch.Generator) -> torch.Tensor:
    """[B] member index of each episode: a seeded permutation of ``arange(B) mod k`` (uniform, and
    every member's share differs by at most one episode)."""
    order = torch.randperm(batch_size, generator=generator)
    assignment = torch.empty(batch_size, dtype=torch.int64)
    assignment[order] = torch.arange(batch_size) % k
    return assignment


def member_blocks(assignment: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The episodes of each member as a rectangular block: (rows [K, m], valid [K, m]) with
    m = the largest share; member i's episodes are ``rows[i][valid[i]]`` (the padding indexes
    some episode of the batch, so the block can be gathered and its padding dropped)."""
    counts = torch.bincount(assignment, minlength=k)
    order = torch.argsort(assignment, stable=True)
    slot = torch.arange(int(counts.max()))
    valid = slot.unsqueeze(0) < counts.unsqueeze(1)
    start = torch.cumsum(counts, 0) - counts
    return order[(start.unsqueeze(1) + slot).clamp(max=len(order) - 1)], valid


class DirectorPopulation(LearnedAttack):
    name = "population"
    label = "Population"
    SNAPSHOT_SKIP = ("_stack",)
    """Rebuilt from the members' weights at every rollout's ``reset`` (``robench.snapshot``)."""

    def __init__(self, members: list[PAAD], generator: torch.Generator | None = None, updates: int = 1):
        super().__init__(generator)
        if not members:
            raise ValueError("a population needs at least one director")
        if updates < 1:
            raise ValueError(f"a population takes at least one gradient step per batch, got {updates}")
        if any(type(m) is not PAAD for m in members):
            raise ValueError("a population's members are PAAD target-action directors")
        self.members, self.updates = members, updates
        self.batches = 0
        """Batches learned from so far (the round-robin position)."""
        self.assignment = torch.zeros(0, dtype=torch.int64)
        """[B] member index of each episode of the current batch."""
        self._rows = self._valid = self._scatter = self._hidden = torch.zeros(0, dtype=torch.int64)
        self._stack: AgentStack | None = None
        self._targets: list[torch.Tensor] = []

    @property
    def training(self) -> bool:
        return self.members[0].training

    @training.setter
    def training(self, value: bool) -> None:
        for member in self.members:
            member.training = value

    def reset(self, batch_size: int) -> None:
        """A new assignment, and the members' current weights stacked for this batch's rollout."""
        device = self.members[0].device
        self.assignment = balanced_assignment(batch_size, len(self.members), self.generator)
        rows, valid = member_blocks(self.assignment, len(self.members))
        self._rows, self._valid, self._scatter = rows.to(device), valid.to(device), rows[valid].to(device)
        self._stack = AgentStack([member.policy for member in self.members])
        self._hidden = self._stack.init_hidden(rows.shape[1], device)
        self._targets = []

    def restrict(self, rows: torch.Tensor) -> None:
        """Each member keeps the episodes of ``rows`` it attacked (its share of them)."""
        self.assignment = self.assignment[rows.cpu()]
        self._targets = [t[rows.to(t.device)] for t in self._targets]

    def perturb(self, agent: Agent, obs, hidden, avail, eps, low, high) -> torch.Tensor:
        """Every member's targets for its own episodes (one stacked step), then Eq. 13 on all."""
        block_avail = avail[self._rows]
        with torch.no_grad():
            scores, self._hidden = self._stack.step(obs[self._rows], self._hidden)
        explore = self.members[0].explore if self.training else 0.0
        block = explore_actions(scores, block_avail, explore, self.generator)
        self._hidden = self._stack.template.record_actions(self._hidden, block)
        target = torch.empty(obs.shape[:2], dtype=torch.int64, device=obs.device)
        target[self._scatter] = block[self._valid]
        self._targets.append(target)
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
        if len(self._targets) != batch.steps:
            raise ValueError("learn() needs the recorded batch of the rollout this population perturbed")
        targets = torch.stack(self._targets, dim=1)  # [B, T, N]
        for i, member in enumerate(self.members):
            rows = self.assignment == i
            if bool(rows.any()):
                member.adopt(targets[rows])
                learned = member.learn(batch.rows(rows), updates=int(turns[i]))
                stats.update({f"m{i}.{k}": v for k, v in learned.items()})
        self.batches += 1
        return stats
