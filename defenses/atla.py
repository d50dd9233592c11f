"""ATLA (Zhang et al. 2021): alternating training, 1:1.  Phases of ``phase_steps`` env steps
alternate (both count towards the run's step budget):

  * protagonist phase — the MAPPO adversary (``attacks.atla``) is fixed and perturbs (sampling
    its Gaussian policy); the protagonist explores, stores ô and learns;
  * adversary phase — the protagonist is fixed and greedy; the adversary runs
    ``attacks.training.adversary_round`` (the step of ``robench attack train``) on fresh rollouts.

The original code's phase is 2,048 steps; ``squash`` = δ = ε·tanh(u)."""
from __future__ import annotations

from dataclasses import replace

from attacks.training import AttackTrainConfig
from defenses.cotrained import CoTrainedDefense
from robench.learners.buffer import EpisodeBatch


class ATLATraining(CoTrainedDefense):
    name = "atla"
    attack_name = "atla"
    OPTIONS = {"phase_steps": 2048, "squash": False}

    def attack_config(self) -> AttackTrainConfig:
        # MAPPO's lr decays over the adversary's own steps: half of the run's
        return replace(super().attack_config(), steps=max(1, self.cfg.steps // 2),
                            squash=bool(self.options["squash"]))

    def protagonist_frozen(self, t_env: int) -> bool:
        """Odd phases belong to the adversary: (t_env // phase_steps) mod 2 = 1."""
        return (t_env // max(1, int(self.options["phase_steps"]))) % 2 == 1

    def after_rollout(self, batch: EpisodeBatch, t_env: int) -> dict[str, float]:
        """The adversary is fixed in the protagonist's phase (it learns in ``adversary_round``)."""
        return {}
