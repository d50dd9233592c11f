"""FGSM adversarial training: the observations of a training episode are a single-step gradient
attack against the current protagonist at ε, in half of the episodes (the other half clean).

Regime (``robench.regime``): ``attack_prob`` 0.5 per episode follows SA-DQN's adversarial
training (``adv_ratio`` 0.5, chenhongge/SA_DQN); no ε warm-up and õ in replay, as the paper's
Algorithm 1.  Attacking every episode teaches the team to ignore its observations and read the
unperturbed action mask (docs/evidence/protocol.md).

``attack`` chooses the attack of the training rollouts (``attacks.gradient``): ``fgsm`` (the
default: the paper's FGSM training), ``fgsm-rs`` (Wong et al. 2020's random start and step
1.25 ε), ``fgsm-all`` (the ATSA authors' FGSM, its cross-entropy over all actions), ``fgsm-support``
(FGSM's step on the non-zero coordinates only: no ±ε where the clean observation reads 0) or ``pgd``
(Madry et al. 2018's adversarial training: the inner max of min_θ E[max_{‖ô−o‖∞≤ε} L] taken by
PGD's k signed steps instead of one: k input gradients per attacked step where FGSM takes one)."""
from dataclasses import dataclass

from attacks import Attack, make_attack
from defenses.base import Defense
from robench.method_config import MethodConfig, setting
from robench.regime import Regime

TRAINING_ATTACKS = ("fgsm", "fgsm-rs", "fgsm-all", "fgsm-support", "pgd")


@dataclass(frozen=True)
class FGSMConfig(MethodConfig):
    """FGSM training's settings."""

    attack: str = setting("fgsm", choices=TRAINING_ATTACKS, added="fgsm")
    """The attack of the training rollouts (one step, or PGD's k)."""


class FGSMTraining(Defense):
    name = "fgsm"
    label = "FGSM"
    attack_name = "fgsm"
    Config = FGSMConfig
    REGIME = Regime(attack_prob=0.5)

    def build_attack(self) -> Attack:
        return make_attack(self.config.attack, seed=self.cfg.seed)
