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

Its hyperparameters are one typed dataclass, ``Config`` (``robench.method_config``: field docs,
choices and bounds in the field metadata, ``for_learner`` for defaults that depend on the
protagonist's learner, ATSA's κ); the resolved config is ``self.config``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import torch

from attacks import ATTACKS, Attack, make_attack
from attacks.training import AttackTrainConfig
from robench.envs.protocol import EnvInfo
from robench.learners.buffer import EpisodeBatch
from robench.learners.learner import ExtraLoss, QLearner
from robench.method_config import MethodConfig, make, parse
from robench.options import Option
from robench.regime import Regime
from robench.threat import BoundThreat


@dataclass
class DefenseConfig:
    """Settings every defense receives."""

    threat: BoundThreat
    """The run's threat model on its environment (``robench.threat``): the training ε, and the
    range K of ô that its adversary (``Attack.bind``) and the regularisers' inner maximisation keep
    to; recorded with co-trained adversaries."""
    seed: int = 0
    """Seed of the defense's own randomness (adversary noise, adversary init)."""
    options: MethodConfig | None = None
    """The defense's hyperparameters for this run (e.g. ATSA's κ and α): an instance of its
    ``Defense.Config``, as ``Defense.config_for`` resolves the given ones (None: the defaults for
    the learner).  The given ones are recorded in the checkpoint manifest and become the row's
    *variant* in grids and ablations."""
    steps: int = 3_000_000
    """The run's env-step budget (schedules of co-trained adversaries: MAPPO's lr decay)."""

    @property
    def eps(self) -> float:
        """Training perturbation budget ε (L∞)."""
        return float(self.threat.model.eps)


class Defense:
    """Base recipe: trains under ``attack_name`` at a constant ε, no extra loss."""

    name = "defense"
    """The registry key (``defenses.DEFENSES``) and CLI name."""
    label = ""
    """The display name of tables and figures (the name where empty)."""
    co_trained: ClassVar[bool] = False
    """True for defenses that train an adversary of their own and save it beside the protagonist."""
    attack_name = "none"
    Config: ClassVar[type[MethodConfig]] = MethodConfig
    """The defense's typed hyperparameters (none by default)."""
    REGIME: ClassVar[Regime] = Regime()
    """The training regime's defaults for this defense (each states where they come from)."""
    PRETRAINED: ClassVar[bool] = False
    """True for defenses that fine-tune a trained protagonist (``TrainConfig.init_from``; ROMANCE-p)."""
    ZOO_SHARES: ClassVar[dict[str, tuple[float, ...]]] = {}
    """Extra zoo rows of this defense: map → attacked shares p trained beside the default regime's
    row (ATSA's every-step p = 1 on 3m, the paper's regime), each an entry ``…_p<P>_s<seed>``."""

    @classmethod
    def zoo_learner(cls, backend: str) -> dict[str, Option]:
        """``LearnerConfig`` settings of this defense's zoo recipe on ``backend`` (none by default)."""
        return {}

    def __init__(self, cfg: DefenseConfig, learner: QLearner, info: EnvInfo):
        self.cfg, self.learner, self.info = cfg, learner, info
        if cfg.options is not None and not isinstance(cfg.options, self.Config):
            raise TypeError(f"defense {self.name!r} takes {self.Config.__name__} options, not {type(cfg.options).__name__}")
        self.config = cfg.options if cfg.options is not None else self.config_for(learner.cfg.mixer)
        self.attack: Attack = self.build_attack().bind(cfg.threat)
        self.extra_losses: list[ExtraLoss] = []

    def build_attack(self) -> Attack:
        """The training adversary (a fixed attack by default; co-trained defenses build theirs)."""
        return make_attack(self.attack_name, seed=self.cfg.seed)

    @classmethod
    def config_for(cls, learner: str, given: Mapping[str, Option] | None = None) -> MethodConfig:
        """``Config`` for a protagonist of ``learner`` (``vdn`` / ``qmix``: ``for_learner``'s
        defaults) with the ``given`` settings; an undeclared or out-of-range one is an error."""
        return make(cls.Config, given or {}, f"defense {cls.name!r}", cls.Config.for_learner(learner))

    @classmethod
    def parse_options(cls, pairs: list[str]) -> dict[str, Option]:
        """``--defense-opt KEY=VALUE`` strings → the given settings, typed and checked."""
        return parse(cls.Config, pairs, "--defense-opt", f"defense {cls.name!r}")

    @classmethod
    def perturbs_training(cls) -> bool:
        """Whether training depends on the threat model's ``bounds`` (an adversary in the rollouts,
        or a regulariser's inner maximisation); NoAdv's does not."""
        return cls.attacks_in_rollouts()

    @classmethod
    def attacks_in_rollouts(cls) -> bool:
        """Whether an attack perturbs its training rollouts (so the regime's share p applies)."""
        return not ATTACKS[cls.attack_name].clean

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
