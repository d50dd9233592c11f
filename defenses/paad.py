"""PAAD adversarial training: the protagonist and a PA-AD director learn online together
(Alg. 1 with PAAD's director in SDor's place).  The default director is the target-action
Q-learner with the protagonist's own architecture (App. H.2); ``director=direction`` is the
original PA-AD Gaussian direction policy (``attacks.paad``).  The director takes
``adversary_updates`` (2) gradient steps per rollout of 32 episodes (the direction policy: one
MAPPO update).  Measured: with 4 steps PAAD took 1.53× NoAdv's wall time with VDN (one machine,
8 concurrent runs × 2 cores, first 274k steps) and 1.68× with QMIX; with 2 steps, VDN 1.43× (1 M
steps alone on the 2-core machine, 1161.8 s vs NoAdv's 813.0 s, measured at one time).  Trained against a fixed victim
(PR VDN, two seeds each), the director left it 0.18 / 0.23 wins with 2 steps and 0.21 / 0.23 with 4
(docs/methods.md, *Adversary update counts*)."""
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
