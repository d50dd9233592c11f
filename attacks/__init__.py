"""Observation attacks, registered under their CLI names.

Adding an attack = one module with an :class:`attacks.base.Attack` subclass + one line here.
"""
from __future__ import annotations

import torch

from attacks.base import Attack, project
from attacks.gradient import FGSM, PGD
from attacks.none import NoAttack
from attacks.random_noise import RandomNoise
from robench.plugins import load_entry_points

ATTACKS: dict[str, type[Attack]] = {
    "none": NoAttack,
    "random": RandomNoise,
    "fgsm": FGSM,
    "pgd": PGD,
    **load_entry_points("robench.attacks"),
}


def make_attack(name: str, seed: int = 0, attacked_agents: torch.Tensor | None = None) -> Attack:
    """Instantiate the attack registered as ``name`` with its own seeded generator."""
    if name not in ATTACKS:
        raise KeyError(f"unknown attack {name!r}; known: {', '.join(ATTACKS)}")
    return ATTACKS[name](generator=torch.Generator().manual_seed(seed), attacked_agents=attacked_agents)


__all__ = ["ATTACKS", "Attack", "make_attack", "project"]
