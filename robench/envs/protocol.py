"""The batched multi-agent environment protocol every backend implements (docs/design.md).

A backend holds ``B`` copies of one environment that advance in lockstep.  Every tensor
has a leading batch dimension ``B``; per-agent tensors then have the agent dimension ``N``.
A copy whose episode has ended is *frozen*: further ``step`` calls leave its observation
unchanged, give it zero reward and keep ``done`` true, so callers can keep stepping the whole
batch until every copy is finished, masking the finished ones.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch


@dataclass(frozen=True)
class EnvInfo:
    """Static facts about an environment."""

    n_agents: int
    """N, number of controlled agents."""
    obs_dim: int
    """D, per-agent observation size."""
    state_dim: int
    """S, global state size (for centralised mixers and critics)."""
    n_actions: int
    """A, per-agent discrete action count."""
    episode_limit: int
    """Maximum steps of an episode."""
    map_name: str
    """Canonical map / scenario name."""
    backend: str
    """Backend registry name (``smax``, ``sc2``, ``cav``...)."""
    obs_layout: str = "unit_list"
    """The observation layout: SMAX's ``unit_list`` or SMAC's ``smac`` (``--obs``), CAV's
    ``kinematics``; part of the env's identity (a checkpoint fits one layout)."""


@dataclass
class Observation:
    """What the agents see at a time step."""

    obs: torch.Tensor
    """[B, N, D] float32 per-agent observations."""
    state: torch.Tensor
    """[B, S] float32 global state."""
    avail: torch.Tensor
    """[B, N, A] bool available-action mask."""


@dataclass
class StepResult(Observation):
    """Result of one lockstep ``step``: the next observation plus the transition's outcome."""

    reward: torch.Tensor
    """[B] float32 team reward of this transition (0 for already-finished copies)."""
    done: torch.Tensor
    """[B] bool: the episode has ended (in this step or earlier)."""
    terminated: torch.Tensor
    """[B] bool: ended for a reason other than the time limit (no bootstrapping past it)."""
    won: torch.Tensor
    """[B] bool: the episode was won (SMAC-like), read from the final transition."""
    crashed: torch.Tensor
    """[B] bool: the episode ended in a crash (CAV); always false on SMAC maps."""
    episode_return: torch.Tensor
    """[B] float32 undiscounted return accumulated since the last reset."""


class BatchedEnv(Protocol):
    """B lockstep copies of a multi-agent environment with torch tensors in and out."""

    batch_size: int
    obs_low: torch.Tensor
    """[D] lowest valid value of each observation feature; attacks clip to it."""
    obs_high: torch.Tensor
    """[D] highest valid value of each observation feature."""

    def info(self) -> EnvInfo:
        """Static sizes and names."""
        ...

    def reset(self, seed: int) -> Observation:
        """Start B fresh episodes; the same seed gives the same episodes."""
        ...

    def step(self, actions: torch.Tensor) -> StepResult:
        """Advance every unfinished copy by one step with ``actions`` [B, N] (int64)."""
        ...
