"""A population of K directors attacking one batch of episodes (RAP, Vinitsky et al. 2020).

Each episode of a batch is assigned one member, uniformly and balanced (a seeded permutation
of ``arange(B) mod K``).  At every step each member directs only its own episodes — K batched
forward passes, one per member, never one per episode — and one targeted step (Eq. 13) over
the whole batch realises all targets.  ``learn`` hands every member exactly the episodes it
attacked (``EpisodeBatch.rows``); the protagonist learns from all of them.
"""
from __future__ import annotations

import torch

from attacks.base import Attack
from attacks.director import DirectorAttack
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

    def __init__(self, members: list[DirectorAttack], generator: torch.Generator | None = None):
        super().__init__(generator)
        if not members:
            raise ValueError("a population needs at least one director")
        self.members = members
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

    def learn(self, batch: EpisodeBatch) -> dict[str, float]:
        """Every member learns from the episodes it attacked, and only from those."""
        stats: dict[str, float] = {}
        for i, member in enumerate(self.members):
            rows = self.assignment == i
            if bool(rows.any()):
                stats.update({f"m{i}.{k}": v for k, v in member.learn(batch.rows(rows)).items()})
        return stats
