"""FGSM adversarial training: the observations of a training episode are the FGSM attack against
the current protagonist at ε, in half of the episodes (the other half clean).

Regime (``robench.regime``): ``attack_prob`` 0.5 per episode follows SA-DQN's adversarial
training (``adv_ratio`` 0.5, chenhongge/SA_DQN); no ε warm-up and õ in replay, as the paper's
Algorithm 1.  Attacking every episode teaches the team to ignore its observations and read the
unperturbed action mask (docs/methods.md, *Evidence: the threat model*)."""
from defenses.base import Defense
from robench.regime import Regime


class FGSMTraining(Defense):
    name = "fgsm"
    attack_name = "fgsm"
    REGIME = Regime(attack_prob=0.5)
