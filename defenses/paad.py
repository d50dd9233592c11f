"""PAAD adversarial training: the protagonist and a PA-AD director learn online together
(Alg. 1 with PAAD's director in SDor's place).  The default director is the target-action
Q-learner with the protagonist's own architecture (App. H.2); ``director=direction`` is the
original PA-AD Gaussian direction policy (``attacks.paad``).  The director takes
``adversary_updates`` (2) gradient steps per rollout of 32 episodes (the direction policy: one
MAPPO update; the evidence: docs/evidence/adversary-updates.md)."""
from __future__ import annotations

from dataclasses import dataclass

from attacks.paad import PAAD_DIRECTORS, PAADConfig
from defenses.cotrained import CoTrainedConfig, CoTrainedDefense
from robench.method_config import setting


@dataclass(frozen=True)
class PAADTrainingConfig(CoTrainedConfig):
    director: str = setting("target", choices=PAAD_DIRECTORS)
    """The co-trained director: ``target`` (target-action Q-learner) or ``direction`` (PA-AD's)."""


class PAADTraining(CoTrainedDefense):
    name = "paad"
    label = "PAAD"
    attack_name = "paad"
    Config = PAADTrainingConfig

    def attack_options(self) -> PAADConfig:
        return PAADConfig(director=self.config.director, updates_per_batch=self.config.adversary_updates)
