"""ROMANCE-p and ROMANCE-s.

ROMANCE-p (Yuan et al. 2023): fine-tune a trained protagonist against an evolving,
quality-diverse population of sparse action attackers (``attacks.romance``, ``attacks.qd_archive``).

One generation = two iterations of the one loop, both against the K attackers of the
generation (each episode attacked by one of them, at most ``attack_num`` hijacks):
  1. attacker round (``protagonist_frozen``): the greedy protagonist plays, the attackers learn
     (``attacks.training.adversary_round``, ``attacker_updates`` soft-Q steps);
  2. protagonist round: the protagonist plays ε-greedily, stores and learns; the attackers store
     the transitions too; each attacker is offered to the archive (quality = −mean team return
     of its episodes of this round, behaviour = its policy on states of this round) and the next
     K are selected from it.
After ``finetune_from`` of the run (ROMANCE: generation 500 of 800) attackers stop learning and
the archive freezes; every round then trains the protagonist against archive selections.
ROMANCE plays both rounds' episodes into the ego's replay; here the attacker round, like
ATLA's adversary phase, is not stored by the protagonist (its actions are greedy, not its own
exploration).  The run starts from ``TrainConfig.init_from`` (a NoAdv protagonist of the same map
and learner).  The final archive is saved as one adversary checkpoint ``adv_romance`` whose
population is the archive (evaluation: each episode attacked by one of its members).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from attacks.base import Attack
from attacks.qd_archive import Entry, QDArchive
from attacks.romance import Romance, RomanceConfig, RomanceShared
from attacks.training import AttackTrainConfig, build
from defenses.cotrained import CoTrainedDefense
from robench.learners.buffer import EpisodeBatch
from robench.method_config import setting


@dataclass(frozen=True)
class RomanceTrainingConfig(RomanceShared):
    population: int = setting(4, low=1)
    """K attackers per generation."""
    archive: int = setting(15, low=1)
    """Capacity of the quality-diversity archive."""
    attacker_updates: int = setting(3, low=1)
    """The attackers' soft-Q steps per round."""
    finetune_from: float = setting(0.625, low=0.0, high=1.0)
    """Fraction of the run after which the archive freezes (ROMANCE: generation 500 of 800)."""
    behaviour_states: int = setting(64, low=1)
    """States on which an attacker's behaviour is compared in the archive."""


class RomanceP(CoTrainedDefense):
    name = "romance-p"
    label = "ROMANCE-p"
    attack_name = "romance"
    PRETRAINED = True
    Config = RomanceTrainingConfig

    def attack_options(self) -> RomanceConfig:
        c = self.config
        return RomanceConfig(members=c.population, attack_num=c.attack_num, penalty=c.penalty,
                             reward_scale=c.reward_scale, diversity=c.diversity, updates_per_batch=c.attacker_updates)

    def build_attack(self) -> Attack:
        attackers = super().build_attack()
        self.archive = QDArchive(capacity=self.config.archive)
        self.evolution = torch.Generator().manual_seed(self.adversary_seed + 7)
        self._attacker_round = True
        self.progress = 0.0
        return attackers

    def evolving(self) -> bool:
        return self.progress < self.config.finetune_from

    def protagonist_frozen(self, t_env: int) -> bool:
        """Attacker and protagonist rounds alternate while the population evolves."""
        self.progress = t_env / max(1, self.cfg.steps)
        if not self.evolving():
            return False
        frozen, self._attacker_round = self._attacker_round, not self._attacker_round
        return frozen

    def absorb(self, batch: EpisodeBatch) -> None:
        """What the attackers do with a protagonist rollout: store it (they learn in their own round)."""
        self.attack.remember(batch)

    def after_rollout(self, batch: EpisodeBatch, t_env: int) -> dict[str, float]:
        """Hand the episodes the attackers acted in to them; evolve the population through the archive."""
        attackers = self.attack
        if not self.evolving():
            self.select(attackers)
            return {}
        perturbed = self.perturbed_episodes(batch)
        if perturbed is None:  # no episode attacked: the same generation plays the next round
            return {}
        batch = perturbed
        self.absorb(batch)
        quality = attackers.member_quality(batch)
        net = attackers.net
        shared = attackers.transitions(batch)["x"]
        pick = torch.randperm(shared.shape[0], generator=self.evolution)[: self.config.behaviour_states]
        played = [i for i in range(net.k) if bool(torch.isfinite(quality[i]))]  # idle members are not judged
        outcome = self.archive.update([Entry(net.member(i), float(quality[i])) for i in played],
                                      lambda members: attackers.behaviour_policies(shared[pick], members),
                                      self.progress)
        self.select(attackers)
        return {"archive": float(len(self.archive)), "added": float(sum(o == "added" for o in outcome))}

    def select(self, attackers: Romance) -> None:
        """The next generation's K attackers from the archive (fresh ones where it is short)."""
        members = self.archive.select(attackers.net.k, self.progress, self.evolution,
                                      lambda: attackers.net.fresh_member(self.evolution))
        attackers.net.set_members(members)
        attackers.restart()

    def adversaries(self) -> dict[str, tuple[Attack, AttackTrainConfig]]:
        """The final archive as one population (K = its size)."""
        if not len(self.archive):
            return super().adversaries()
        config = replace(self.adversary_config, options=replace(self.adversary_config.options, members=len(self.archive)))
        population = build(self.attack_name, self.info, self.adversary_seed, str(self.learner.device), config)
        population.net.set_members([e.member for e in self.archive.entries])
        return {f"adv_{self.attack_name}": (population, config)}


class RomanceS(RomanceP):
    """ROMANCE-s (the paper's variant): Alg. 1 with ROMANCE's attackers in SDor's place.  Trained from
    scratch like ATSA, online: every rollout the K attackers pick whom to steer and STor realises
    "that agent's lowest-Q action" within ε (``attacks.romance.RomanceSteered``); the attackers learn
    from the same rollout and evolve through the archive; no frozen phases."""

    name = "romance-s"
    label = "ROMANCE-s"
    attack_name = "romance-s"
    PRETRAINED = False

    def protagonist_frozen(self, t_env: int) -> bool:
        self.progress = t_env / max(1, self.cfg.steps)
        return False

    def absorb(self, batch: EpisodeBatch) -> None:
        self.attack.learn(batch)
