"""Attacks, registered under their CLI names: observation attacks, and ROMANCE's action
attackers (``attacks.hijack``), which leave observations alone and hijack actions instead.

Adding an attack = one module with an :class:`attacks.base.Attack` subclass + one line here.
"""
from __future__ import annotations

import torch

from attacks.atla import ATLA
from attacks.atsa import ATSA
from attacks.base import Attack, project
from attacks.gradient import FGSM, PGD, FGSMAllActions, FGSMOnSupport, FGSMRandomStart, PGDRestarts
from attacks.none import NoAttack
from attacks.paad import PAAD
from attacks.random_noise import RandomNoise, ZeroCorners
from attacks.romance import Romance, RomanceSteered
from attacks.uniform_target import UniformTarget
from robench.plugins import add_plugins, registry
from robench.threat import BoundThreat

ATTACKS: dict[str, type[Attack]] = registry([
    NoAttack,
    RandomNoise,
    ZeroCorners,
    FGSM,
    FGSMAllActions,
    FGSMRandomStart,
    FGSMOnSupport,
    PGD,
    PGDRestarts,
    ATLA,
    PAAD,
    ATSA,
    Romance,
    RomanceSteered,
    UniformTarget,
])
"""Every attack under its ``name``, built-ins first, then the ``robench.attacks`` plugins."""


def make_attack(name: str, seed: int = 0, adversary: Attack | None = None, threat: BoundThreat | None = None) -> Attack:
    """Instantiate the attack registered as ``name`` with its own seeded generator, bound to
    ``threat`` when given (``Attack.bind``).

    Learned attacks are not built from scratch here: pass the loaded ``adversary``
    (``attacks.training.load_adversary``); it is checked to be of the named attack."""
    if name not in ATTACKS:
        raise KeyError(f"unknown attack {name!r}; known: {', '.join(ATTACKS)}")
    if ATTACKS[name].learned:
        if adversary is None or adversary.name != name:
            raise KeyError(f"attack {name!r} is learned: it needs an adversary checkpoint of that attack")
        adversary.generator = torch.Generator().manual_seed(seed)
        adversary.training = False
        attack = adversary
    else:
        attack = ATTACKS[name](generator=torch.Generator().manual_seed(seed))
    return attack if threat is None else attack.bind(threat)


def is_clean(name: str) -> bool:
    """Whether ``name`` is the clean column's attack (``Attack.clean``: ``none``)."""
    return ATTACKS[name].clean


add_plugins(ATTACKS, "robench.attacks")

CLEAN = next(name for name, cls in ATTACKS.items() if cls.clean)
"""The name of the clean column's attack (``none``): the cell every row is measured clean in."""

__all__ = ["ATTACKS", "CLEAN", "Attack", "is_clean", "make_attack", "project"]
