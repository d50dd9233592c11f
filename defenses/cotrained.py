"""What every defense with a co-trained, learned adversary shares (ATLA, PAAD, RAP, ROMANCE, ATSA).

Alg. 1 of the paper with the defense's adversary in SDor's place: in every rollout the
adversary perturbs a share p of the episodes (exploring: ``training`` is on), the protagonist
acts ε-greedily on ô (o in the other episodes) and stores what it saw; after the rollout the
adversary learns from the episodes it perturbed, and from those only (their clean observations,
its own recorded targets, r̂ = −r, the protagonist's greedy actions: ``perturbed_episodes``),
the protagonist from its replay buffer.  The regime is the zoo's protocol (``REGIME``: p = 0.5
per episode, as FGSM and RN train); p = 1 (``--attack-prob 1``) is the ATSA authors' every-step
regime, in which the adversary learns from the whole batch.  The adversary is built by ``attacks.training.build`` from the same
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
from robench.regime import Regime


@dataclass(frozen=True)
class CoTrainedConfig(MethodConfig):
    """The setting of the co-trained defenses whose adversary learns by gradient steps per rollout
    (PAAD, RAP, ATSA): how many."""

    adversary_updates: int = setting(2, low=1)
    """The adversary's gradient steps per rollout of 32 episodes (a population's, dealt over its members)."""


class CoTrainedDefense(Defense):
    """A defense whose ``attack`` is a learned adversary trained alongside the protagonist."""

    REGIME = Regime(attack_prob=0.5)
    """The zoo's protocol, as FGSM's and RN's (``defenses.fgsm``): half the episodes perturbed."""
    co_trained = True

    @property
    def adversary_seed(self) -> int:
        """The adversary's own seed: its sampling stream must not replay the loop's (seeded with
        the run's seed), or a director's exploration would copy the protagonist's."""
        return self.cfg.seed * 1_000_003 + 1

    def attack_options(self) -> MethodConfig:
        """The adversary's own settings from this defense's (default: the attack's defaults)."""
        return LEARNED[self.attack_name].Config()

    def attack_config(self) -> AttackTrainConfig:
        """The adversary's run: its seed, the run's threat model and step budget, and its settings
        fitted to the protagonist as to a victim (PAAD's director takes its architecture, App. H.2)."""
        return AttackTrainConfig(attack=self.attack_name, threat=self.cfg.threat.model, steps=self.cfg.steps,
                                 seed=self.adversary_seed, options=self.attack_options().for_victim(self.learner.cfg))

    def adversary_round(self, env, agent, eps: float, seed: int, generator):
        """The step of ``robench attack train`` (``attacks.training.adversary_round``): B episodes of
        the greedy protagonist on the exploring adversary's ô, then one adversary update."""
        out, _ = adversary_round(env, agent, self.attack, eps, seed, generator)
        return out

    def build_attack(self) -> Attack:
        self.adversary_config = self.attack_config()
        adversary = build(self.attack_name, self.info, self.adversary_seed, str(self.learner.device),
                          self.adversary_config)
        adversary.training = True
        return adversary

    def perturbed_episodes(self, batch: EpisodeBatch) -> EpisodeBatch | None:
        """The episodes of a recorded rollout that the adversary perturbed (``extras["attacked"]``),
        with the adversary's own record of the rollout cut to them (``Attack.restrict``): the whole
        batch when every episode was, None when none was."""
        rows = batch.extras["attacked"].any(1)
        if bool(rows.all()):
            return batch
        if not bool(rows.any()):
            return None
        self.attack.restrict(rows)
        return batch.rows(rows)

    def after_rollout(self, batch: EpisodeBatch, t_env: int) -> dict[str, float]:
        """The adversary learns from the episodes it perturbed."""
        perturbed = self.perturbed_episodes(batch)
        return {} if perturbed is None else self.attack.learn(perturbed)

    def adversaries(self) -> dict[str, tuple[Attack, AttackTrainConfig]]:
        return {f"adv_{self.attack_name}": (self.attack, self.adversary_config)}

