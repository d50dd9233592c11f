"""Defense recipes, registered under their CLI names (one module + one line each)."""
from __future__ import annotations

from defenses.atla import ATLATraining
from defenses.atsa import ATSATraining
from defenses.base import Defense, DefenseConfig
from defenses.ernie import ERNIE
from defenses.fgsm import FGSMTraining
from defenses.noadv import NoAdv
from defenses.noise import RandomNoiseTraining
from defenses.paad import PAADTraining
from defenses.pr import PR
from defenses.pr_rep import PRREP
from defenses.rap import RAPTraining
from defenses.romance import RomanceP, RomanceS
from robench.plugins import load_entry_points

DEFENSES: dict[str, type[Defense]] = {
    "noadv": NoAdv,
    "rn": RandomNoiseTraining,
    "fgsm": FGSMTraining,
    "atla": ATLATraining,
    "paad": PAADTraining,
    "pr": PR,
    "pr-rep": PRREP,
    "ernie": ERNIE,
    "rap": RAPTraining,
    "romance-p": RomanceP,
    "romance-s": RomanceS,
    "atsa": ATSATraining,
    **load_entry_points("robench.defenses"),
}

__all__ = ["DEFENSES", "Defense", "DefenseConfig"]
