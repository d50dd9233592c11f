"""NoAdv: vanilla VDN / QMIX training on clean observations."""
from defenses.base import Defense


class NoAdv(Defense):
    name = "noadv"
    attack_name = "none"
