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
from robench.plugins import add_plugins, registry

DEFENSES: dict[str, type[Defense]] = registry([
    NoAdv,
    RandomNoiseTraining,
    FGSMTraining,
    ATLATraining,
    PAADTraining,
    PR,
    PRREP,
    ERNIE,
    RAPTraining,
    RomanceP,
    RomanceS,
    ATSATraining,
])
"""Every defense under its ``name``, the paper's Table 1 order, then the ``robench.defenses`` plugins."""
add_plugins(DEFENSES, "robench.defenses")

__all__ = ["DEFENSES", "Defense", "DefenseConfig"]
