"""A defense = a recipe for the one protagonist training loop (``robench.train``).

It fills these hooks (docs/design.md, Defenses) and never owns a loop:
  * ``attack``        — the observation adversary of training rollouts; a learned one also
                         learns in ``after_rollout`` from the recorded batch (clean observations,
                         the protagonist's greedy actions, its own recorded targets);
  * ``extra_losses``  — terms added to the protagonist's TD loss (PR, PR-REP, ERNIE), each a
                         function of a ``robench.learners.learner.LossContext``;
  * ``budget(progress)`` — the schedule: training ε at progress ∈ [0, 1] (ramps, sawtooths);
  * ``protagonist_frozen(t_env)`` — phases in which the protagonist neither explores, stores
                         nor learns and the adversary trains against it (ATLA's alternation);
  * ``adversary_round(env, agent, eps, seed, generator)`` — what such a phase does: one round
                         of the adversary's own training against the fixed greedy protagonist;
  * ``adversaries()`` — the co-trained adversaries to write as zoo entries of their own;
  * ``REGIME``        — the defaults of its training regime (``robench.regime``: the share of
                         perturbed episodes, the ε warm-up, what replay stores), which the loop
                         applies to every defense alike.

Options (``OPTIONS``) are typed by their defaults (float, int, bool or str); ``defaults(learner)``
may make a default depend on the protagonist's learner (ATSA's κ).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from attacks import Attack, make_attack
from attacks.training import AttackTrainConfig
from robench.envs.protocol import EnvInfo
from robench.errors import RobenchError
from robench.learners.buffer import EpisodeBatch
from robench.learners.learner import ExtraLoss, QLearner
from robench.options import Option, parse_pairs
from robench.regime import Regime



@dataclass
class DefenseConfig:
    """Settings every defense receives."""

    eps: float = 0.25
    """Training perturbation budget ε (L∞)."""
    seed: int = 0
    """Seed of the defense's own randomness (adversary noise, adversary init)."""
    options: dict[str, Option] = field(default_factory=dict)
    """Defense-specific hyperparameters (e.g. ATSA's κ and α), each declared in ``Defense.OPTIONS``;
    recorded in the checkpoint manifest, they become the row's *variant* in grids and ablations."""
    steps: int = 3_000_000
    """The run's env-step budget (schedules of co-trained adversaries: MAPPO's lr decay)."""
    bounds: str = "none"
    """The run's ``bounds`` mode (``robench.threat``), recorded with co-trained adversaries."""
    obs_low: torch.Tensor | None = None
    """[D] lowest value of ô under the run's threat model (``robench.threat``; −∞ with
    ``bounds=none``); regularisers' inner maximisation clips to it."""
    obs_high: torch.Tensor | None = None
    """[D] highest value of ô under the run's threat model."""


class Defense:
    """Base recipe: trains under ``attack_name`` at a constant ε, no extra loss."""

    name = "defense"
    attack_name = "none"
    OPTIONS: ClassVar[dict[str, Option | None]] = {}
    """The hyperparameters this defense accepts, with their defaults."""
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {}
    """The allowed values of string-valued options."""
    BOUNDS: ClassVar[dict[str, tuple[float | None, float | None]]] = {}
    """Inclusive (low, high) bounds of numeric options (None = unbounded); every float must be finite."""
    ADDED: ClassVar[dict[str, Option]] = {}
    """Options declared after zoo runs were trained, each with the value that reproduces the
    behaviour before it existed: a manifest without the key is read as having that value, so a
    new option at a behaviour-preserving default does not turn finished runs stale."""
    PER_LEARNER: ClassVar[dict[str, dict[str, Option]]] = {}
    """Learner → the options whose default differs for that learner (ATSA's κ, PR's loss on QMIX)."""
    REGIME: ClassVar[Regime] = Regime()
    """The training regime's defaults for this defense (each states where they come from)."""
    PRETRAINED: ClassVar[bool] = False
    """True for defenses that fine-tune a trained protagonist (``TrainConfig.init_from``; ROMANCE-p)."""

    def __init__(self, cfg: DefenseConfig, learner: QLearner, info: EnvInfo):
        self.cfg, self.learner, self.info = cfg, learner, info
        self.options = self.resolve_options(cfg.options, learner.cfg.mixer)
        self.attack: Attack = self.build_attack()
        self.extra_losses: list[ExtraLoss] = []

    def build_attack(self) -> Attack:
        """The training adversary (a fixed attack by default; co-trained defenses build theirs)."""
        return make_attack(self.attack_name, seed=self.cfg.seed)

    @classmethod
    def defaults(cls, learner: str) -> dict[str, Option | None]:
        """``OPTIONS`` for a protagonist of ``learner`` (``vdn`` / ``qmix``), ``PER_LEARNER`` applied."""
        return {**cls.OPTIONS, **cls.PER_LEARNER.get(learner, {})}

    @classmethod
    def resolve_options(cls, given: dict[str, Option], learner: str = "vdn") -> dict[str, Option | None]:
        """The defaults updated by ``given``; an undeclared key or a value outside ``CHOICES`` is an error."""
        unknown = sorted(set(given) - set(cls.OPTIONS))
        if unknown:
            known = ", ".join(cls.OPTIONS) or "none"
            raise RobenchError(f"defense {cls.name!r} has no option {', '.join(unknown)}; its options: {known}")
        for key, value in given.items():
            if key in cls.CHOICES and value not in cls.CHOICES[key]:
                raise RobenchError(f"defense {cls.name!r} option {key} must be one of {', '.join(cls.CHOICES[key])}, "
                                   f"got {value!r}")
            if isinstance(value, float) and not math.isfinite(value):
                raise RobenchError(f"defense {cls.name!r} option {key} must be finite, got {value}")
            low, high = cls.BOUNDS.get(key, (None, None))
            if (low is not None and value < low) or (high is not None and value > high):
                span = f"[{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}]"
                raise RobenchError(f"defense {cls.name!r} option {key} must lie in {span}, got {value}")
        return {**cls.defaults(learner), **given}

    @classmethod
    def parse_options(cls, pairs: list[str]) -> dict[str, Option]:
        """``KEY=VALUE`` strings → typed options (``robench.options``; checked by ``resolve_options``)."""
        options = parse_pairs(pairs, "--defense-opt", cls.OPTIONS, unknown="keep")
        cls.resolve_options(options)
        return options

    @classmethod
    def perturbs_training(cls) -> bool:
        """Whether training depends on the threat model's ``bounds`` (an adversary in the rollouts,
        or a regulariser's inner maximisation); NoAdv's does not."""
        return cls.attack_name != "none"

    def budget(self, progress: float) -> float:
        """Training ε at ``progress`` ∈ [0, 1] of the run (constant by default)."""
        return self.cfg.eps

    def protagonist_frozen(self, t_env: int) -> bool:
        """True in phases where only the adversary trains (never, by default)."""
        return False

    def adversary_round(self, env, agent, eps: float, seed: int, generator: torch.Generator):
        """One round of an adversary-only phase (``protagonist_frozen``): returns the round's
        ``Outcomes``.  Only defenses with such phases implement it."""
        raise NotImplementedError(f"defense {self.name!r} has no adversary-only phase")

    def after_rollout(self, batch: EpisodeBatch, t_env: int) -> dict[str, float]:
        """Called with every recorded protagonist batch; co-trained adversaries update here."""
        return {}

    def adversaries(self) -> dict[str, tuple[Attack, AttackTrainConfig]]:
        """Co-trained adversaries to save: entry name → (adversary, its attack-training options)."""
        return {}
