"""Defense recipes, registered under their CLI names (one module + one line each)."""
from __future__ import annotations

from defenses.base import Defense, DefenseConfig
from defenses.fgsm import FGSMTraining
from defenses.noadv import NoAdv
from defenses.noise import RandomNoiseTraining
from robench.plugins import load_entry_points

DEFENSES: dict[str, type[Defense]] = {
    "noadv": NoAdv,
    "rn": RandomNoiseTraining,
    "fgsm": FGSMTraining,
    **load_entry_points("robench.defenses"),
}

__all__ = ["DEFENSES", "Defense", "DefenseConfig"]
