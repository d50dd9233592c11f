"""PR-REP (repetitive PR): PR's term with μ on a sawtooth — within each third of training μ
rises linearly from 0 to ``mu`` (0.1), then drops to 0 again; with ``ramp_eps`` the
regulariser's ε follows the same teeth.  Only the schedule differs from PR."""
from __future__ import annotations

from defenses.pr import PR
from defenses.regularised import sawtooth


class PRREP(PR):
    name = "pr-rep"
    OPTIONS = {"mu": 0.1, "loss": "hinge", "pgd_steps": 5, "ramp_eps": False, "recurrent": "fixed", "teeth": 3,
               "batch_frac": 0.25, "reg_prob": 0.5}

    def schedule(self, progress: float) -> tuple[float, float]:
        u = sawtooth(progress, int(self.options["teeth"]))
        return float(self.options["mu"]) * u, self.cfg.eps * (u if self.options["ramp_eps"] else 1.0)
