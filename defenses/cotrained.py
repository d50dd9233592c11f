"""What every defense with a co-trained, learned adversary shares (ATLA, PAAD, RAP, ATSA).

Alg. 1 of the paper with the defense's adversary in SDor's place: in every rollout the
adversary perturbs (exploring: ``training`` is on), the protagonist acts ε-greedily on ô and
stores ô; after the rollout the adversary learns from the same batch (its clean observations,
its own recorded targets, r̂ = −r, the protagonist's greedy actions) and the protagonist from
its replay buffer.  The adversary is built by ``attacks.training.build`` from the same
``AttackTrainConfig`` that ``robench attack train`` uses, so a co-trained adversary is saved,
loaded and evaluated exactly like a freshly trained one.
"""
from __future__ import annotations

from dataclasses import dataclass

from attacks.base import Attack
from attacks.training import LEARNED, AttackTrainConfig, adversary_round, build
from defenses.base import Defense
from robench.learners.buffer import EpisodeBatch
from robench.method_config import MethodConfig, setting


@dataclass(frozen=True)
class CoTrainedConfig(MethodConfig):
    """The setting of the co-trained defenses whose adversary learns by gradient steps per rollout
    (PAAD, RAP, ATSA): how many."""

    adversary_updates: int = setting(2, low=1)
    """The adversary's gradient steps per rollout of 32 episodes (a population's, dealt over its members)."""


class CoTrainedDefense(Defense):
    """A defense whose ``attack`` is a learned adversary trained alongside the protagonist."""

    @property
    def adversary_seed(self) -> int:
        """The adversary's own seed: its sampling stream must not replay the loop's (seeded with
        the run's seed), or a director's exploration would copy the protagonist's."""
        return self.cfg.seed * 1_000_003 + 1

    def attack_options(self) -> MethodConfig:
        """The adversary's own settings from this defense's (default: the attack's defaults)."""
        return LEARNED[self.attack_name].Config()

    def attack_config(self) -> AttackTrainConfig:
        """The adversary's run: its seed, the run's ε, bounds and step budget, and its settings
        fitted to the protagonist as to a victim (PAAD's director takes its architecture, App. H.2)."""
        return AttackTrainConfig(attack=self.attack_name, eps=self.cfg.eps, steps=self.cfg.steps, bounds=self.cfg.bounds,
                                 seed=self.adversary_seed, options=self.attack_options().for_victim(self.learner.cfg))

    def adversary_round(self, env, agent, eps: float, seed: int, generator):
        """The step of ``robench attack train`` (``attacks.training.adversary_round``): B episodes of
        the greedy protagonist on the exploring adversary's ô, then one adversary update."""
        out, _ = adversary_round(env, agent, self.attack, eps, seed, generator, self.cfg.bounds)
        return out

    def build_attack(self) -> Attack:
        self.adversary_config = self.attack_config()
        adversary = build(self.attack_name, self.info, self.adversary_seed, str(self.learner.device),
                          self.adversary_config)
        adversary.training = True
        return adversary

    def after_rollout(self, batch: EpisodeBatch, t_env: int) -> dict[str, float]:
        return self.attack.learn(batch)

    def adversaries(self) -> dict[str, tuple[Attack, AttackTrainConfig]]:
        return {f"adv_{self.attack_name}": (self.attack, self.adversary_config)}

