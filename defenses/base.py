"""A defense = a recipe for the one protagonist training loop (``robench.train``).

It supplies exactly three things (DESIGN.md, Defenses):
  * ``attack``       — the observation adversary used during training rollouts (hook 1);
                        a learned adversary also learns in ``after_rollout`` from the batch
                        (clean observations, its own storage) — hook 2;
  * ``extra_losses`` — terms added to the protagonist's TD loss (PR, PR-REP, ERNIE) — hook 3;
  * ``budget(progress)`` — the schedule: training ε as a function of training progress
                        in [0, 1] (ramps, sawtooths, alternations) — hook 4.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from attacks import Attack, make_attack
from robench.errors import RobenchError
from robench.learners.buffer import EpisodeBatch
from robench.learners.learner import ExtraLoss, QLearner


@dataclass
class DefenseConfig:
    """Settings every defense receives."""

    eps: float = 0.25
    """Training perturbation budget ε (L∞)."""
    seed: int = 0
    """Seed of the defense's own randomness (adversary noise, adversary init)."""
    options: dict[str, float] = field(default_factory=dict)
    """Defense-specific hyperparameters (e.g. ATSA's κ and α), each declared in ``Defense.OPTIONS``;
    recorded in the checkpoint manifest, they become the row's *variant* in grids and ablations."""


class Defense:
    """Base recipe: trains under ``attack_name`` at a constant ε, no extra loss."""

    name = "defense"
    attack_name = "none"
    OPTIONS: ClassVar[dict[str, float]] = {}
    """The hyperparameters this defense accepts, with their defaults."""

    def __init__(self, cfg: DefenseConfig, learner: QLearner):
        self.cfg = cfg
        self.options = self.resolve_options(cfg.options)
        self.learner = learner
        self.attack: Attack = make_attack(self.attack_name, seed=cfg.seed)
        self.extra_losses: list[ExtraLoss] = []

    @classmethod
    def resolve_options(cls, given: dict[str, float]) -> dict[str, float]:
        """The defaults of ``OPTIONS`` updated by ``given``; an undeclared key is an error."""
        unknown = sorted(set(given) - set(cls.OPTIONS))
        if unknown:
            known = ", ".join(cls.OPTIONS) or "none"
            raise RobenchError(f"defense {cls.name!r} has no option {', '.join(unknown)}; its options: {known}")
        return {**cls.OPTIONS, **given}

    def budget(self, progress: float) -> float:
        """Training ε at ``progress`` ∈ [0, 1] of the run (constant by default)."""
        return self.cfg.eps

    def after_rollout(self, batch: EpisodeBatch, t_env: int) -> dict[str, float]:
        """Called with every recorded batch; learned adversaries update here."""
        return {}

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors of the defense's own models, saved beside the protagonist (none by default)."""
        return {}
