"""Attacks, registered under their CLI names: observation attacks, and ROMANCE's action
attackers (``attacks.hijack``), which leave observations alone and hijack actions instead.

Adding an attack = one module with an :class:`attacks.base.Attack` subclass + one line here.
"""
from __future__ import annotations

import torch

from attacks.atla import ATLA
from attacks.atsa import ATSA
from attacks.base import Attack, project
from attacks.gradient import FGSM, PGD, FGSMAllActions, FGSMOnSupport, FGSMRandomStart
from attacks.none import NoAttack
from attacks.paad import PAAD
from attacks.random_noise import RandomNoise, ZeroCorners
from attacks.romance import Romance, RomanceSteered
from attacks.uniform_target import UniformTarget
from robench.plugins import add_plugins, registry

ATTACKS: dict[str, type[Attack]] = registry([
    NoAttack,
    RandomNoise,
    ZeroCorners,
    FGSM,
    FGSMAllActions,
    FGSMRandomStart,
    FGSMOnSupport,
    PGD,
    ATLA,
    PAAD,
    ATSA,
    Romance,
    RomanceSteered,
    UniformTarget,
])
"""Every attack under its ``name``, built-ins first, then the ``robench.attacks`` plugins."""


def make_attack(name: str, seed: int = 0, attacked_agents: torch.Tensor | None = None,
                adversary: Attack | None = None, features: torch.Tensor | None = None) -> Attack:
    """Instantiate the attack registered as ``name`` with its own seeded generator.

    Learned attacks are not built from scratch here: pass the loaded ``adversary``
    (``attacks.training.load_adversary``); it is checked to be of the named attack."""
    if name not in ATTACKS:
        raise KeyError(f"unknown attack {name!r}; known: {', '.join(ATTACKS)}")
    if ATTACKS[name].learned:
        if adversary is None or adversary.name != name:
            raise KeyError(f"attack {name!r} is learned: it needs an adversary checkpoint of that attack")
        adversary.generator = torch.Generator().manual_seed(seed)
        adversary.attacked_agents, adversary.features = attacked_agents, features
        adversary.training = False
        return adversary
    return ATTACKS[name](generator=torch.Generator().manual_seed(seed), attacked_agents=attacked_agents,
                         features=features)


add_plugins(ATTACKS, "robench.attacks")

__all__ = ["ATTACKS", "Attack", "make_attack", "project"]
