"""RN: train on observations perturbed by uniform noise in the ε-ball (the ``random`` attack), in
half of the episodes — the regime of FGSM training (``defenses.fgsm``), so the two rows differ
only in the perturbation."""
from defenses.base import Defense
from robench.regime import Regime


class RandomNoiseTraining(Defense):
    name = "rn"
    label = "RN"
    attack_name = "random"
    REGIME = Regime(attack_prob=0.5)
