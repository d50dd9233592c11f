"""RN: train on observations perturbed by uniform noise in the ε-ball (the ``random`` attack)."""
from defenses.base import Defense


class RandomNoiseTraining(Defense):
    name = "rn"
    attack_name = "random"
