"""NoAdv: vanilla VDN / QMIX training on clean observations."""
from defenses.base import Defense


class NoAdv(Defense):
    name = "noadv"
    label = "NoAdv"
    attack_name = "none"
