"""PR-REP (repetitive PR): PR's term with μ on a sawtooth — within each third of training μ
rises linearly from 0 to ``mu`` (0.1), then drops to 0 again; with ``ramp_eps`` the
regulariser's ε follows the same teeth.  Only the schedule differs from PR."""
from __future__ import annotations

from dataclasses import dataclass

from defenses.pr import PR, PR_LOSSES, KLOnQMIX
from defenses.regularised import RegularisedConfig, sawtooth
from robench.method_config import setting


@dataclass(frozen=True)
class PRREPConfig(KLOnQMIX, RegularisedConfig):
    mu: float = setting(0.1, low=0.0)
    """Peak weight μ of each tooth."""
    loss: str = setting("hinge", choices=PR_LOSSES)
    """PR's ``hinge`` or ``kl``."""
    pgd_steps: int = setting(5, low=1)
    """Steps of the inner PGD."""
    ramp_eps: bool = False
    """The term's ε follows the teeth too."""
    teeth: int = setting(3, low=1)
    """Teeth of the sawtooth over training."""
    reg_prob: float = setting(0.5, low=1e-6, high=1.0)
    """p: the share of learner steps that pay the term, weighted μ/p there."""


class PRREP(PR):
    name = "pr-rep"
    label = "PR-REP"
    Config = PRREPConfig

    def schedule(self, progress: float) -> tuple[float, float]:
        u = sawtooth(progress, self.config.teeth)
        return self.config.mu * u, self.cfg.eps * (u if self.config.ramp_eps else 1.0)
