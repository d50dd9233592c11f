"""RAP (Vinitsky et al. 2020): the protagonist trains against a population of K PAAD directors
(target-action Q-learners with the protagonist's architecture), each episode of a rollout
attacked by one member assigned uniformly (``attacks.population.DirectorPopulation``); every
member learns only from the episodes it attacked, the protagonist from all.  All K members are
saved as adversary checkpoints of their own (``adv_paad_m<i>``).  The population takes
``adversary_updates`` (2) gradient steps per rollout in all, dealt round-robin over the members
(each on its own replay), so K members cost what PAAD's one director does, and the K members
direct their episodes in one stacked forward pass per step (its cost: docs/evidence/adversary-updates.md)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from attacks.base import Attack
from attacks.paad import PAADConfig
from attacks.population import DirectorPopulation
from attacks.training import AttackTrainConfig, build
from defenses.cotrained import CoTrainedConfig, CoTrainedDefense
from robench.method_config import setting


@dataclass(frozen=True)
class RAPConfig(CoTrainedConfig):
    k: int = setting(4, low=1)
    """Directors in the population (the ``adversary_updates`` are dealt round-robin over them)."""


class RAPTraining(CoTrainedDefense):
    name = "rap"
    label = "RAP"
    attack_name = "paad"
    Config = RAPConfig

    def attack_options(self) -> PAADConfig:
        """Each member's director takes one step per turn (the population deals the turns)."""
        return PAADConfig(updates_per_batch=1)

    def build_attack(self) -> Attack:
        self.adversary_config = self.attack_config()
        k = self.config.k
        members = [build("paad", self.info, self.adversary_seed + 1 + i, str(self.learner.device), self.adversary_config)
                   for i in range(k)]
        population = DirectorPopulation(members, torch.Generator().manual_seed(self.adversary_seed),
                                        updates=self.config.adversary_updates)
        population.training = True
        return population

    def adversaries(self) -> dict[str, tuple[Attack, AttackTrainConfig]]:
        return {f"adv_paad_m{i}": (m, self.adversary_config) for i, m in enumerate(self.attack.members)}
