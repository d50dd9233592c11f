"""FGSM adversarial training: every training step's observation is the FGSM attack
against the current protagonist at ε (METHODS.md: schedule "every step")."""
from defenses.base import Defense


class FGSMTraining(Defense):
    name = "fgsm"
    attack_name = "fgsm"
