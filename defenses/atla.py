"""ATLA (Zhang et al. 2021): alternating training, 1:1.  Phases of ``phase_steps`` env steps
alternate (both count towards the run's step budget):

  * protagonist phase — the MAPPO adversary (``attacks.atla``) is fixed and perturbs (sampling
    its Gaussian policy); the protagonist explores, stores ô and learns;
  * adversary phase — the protagonist is fixed and greedy; the adversary runs
    ``attacks.training.adversary_round`` (the step of ``robench attack train``) on fresh rollouts.

The original code's phase is 2,048 steps; ``squash`` = δ = ε·tanh(u)."""
from __future__ import annotations

from dataclasses import dataclass, replace

from attacks.atla import ATLAConfig
from attacks.training import AttackTrainConfig
from defenses.cotrained import CoTrainedDefense
from robench.learners.buffer import EpisodeBatch
from robench.method_config import MethodConfig, setting


@dataclass(frozen=True)
class ATLATrainingConfig(MethodConfig):
    phase_steps: int = setting(2048, low=1)
    """Env steps of each phase (protagonist, then adversary, alternating)."""
    squash: bool = False
    """The adversary's δ = ε·tanh(u) instead of ε·clip(u, −1, 1)."""


class ATLATraining(CoTrainedDefense):
    name = "atla"
    label = "ATLA"
    attack_name = "atla"
    Config = ATLATrainingConfig

    def attack_options(self) -> ATLAConfig:
        return ATLAConfig(squash=self.config.squash)

    def attack_config(self) -> AttackTrainConfig:
        # MAPPO's lr decays over the adversary's own steps: half of the run's
        return replace(super().attack_config(), steps=max(1, self.cfg.steps // 2))

    _adversary_phase = False
    _phase_start = 0

    def protagonist_frozen(self, t_env: int) -> bool:
        """The phase flips once it has lasted ``phase_steps`` env steps (called once per rollout, so
        every phase gets at least one rollout whatever the rollout size)."""
        if t_env - self._phase_start >= self.config.phase_steps:
            self._adversary_phase, self._phase_start = not self._adversary_phase, t_env
        return self._adversary_phase

    def after_rollout(self, batch: EpisodeBatch, t_env: int) -> dict[str, float]:
        """The adversary is fixed in the protagonist's phase (it learns in ``adversary_round``)."""
        return {}
