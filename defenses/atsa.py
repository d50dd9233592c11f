"""ATSA (the paper's method, Alg. 1): the protagonist trains against the stochastic adversary
SDor + STor (``attacks.atsa``) while SDor learns online from the same rollouts: Eqs. 7–10 for
its critics and soft policy, Eqs. 14–15 (κ·CE to the protagonist's greedy action on ô) for the
consistency of SDor with STor, and STor's targeted step (Eq. 13) perturbs every training
observation.  κ = 0 is the ablation of the paper's Fig. 2, a fixed α that of Fig. 4.

Defaults: κ = 0.005 for VDN and 0.01 for QMIX (each in the paper's search set, Sec. 5:
VDN {0.001, 0.005, 0.01}, QMIX {0.001, 0.005, 0.01, 0.025}); α follows FOP's schedule
(``alpha`` ≤ 0) unless a fixed value > 0 is given; SDor sees rewards ×``reward_scale``
(SMAX → SMAC's scale, see ``attacks.atsa.SDorConfig.reward_scale``).  SDor takes ``adversary_updates``
gradient steps per rollout of 32 episodes while the protagonist takes 12.  One SDor step (an actor,
two critics, two target critics) costs ≈ 3 protagonist steps, and SDor's cost does not depend on the
protagonist's learner, so the default is per learner: 1 with VDN, 2 with QMIX (the evidence:
docs/evidence/adversary-updates.md).
"""
from __future__ import annotations

from dataclasses import dataclass

from attacks.atsa import SDOR_VALUES, SDorConfig
from defenses.cotrained import CoTrainedConfig, CoTrainedDefense
from robench.method_config import setting


@dataclass(frozen=True)
class ATSATrainingConfig(CoTrainedConfig):
    kappa: float = setting(0.005, low=0.0)
    """Weight κ of SDor's consistency term (Eqs. 14–15); 0 is the ablation of Fig. 2."""
    alpha: float = -1.0
    """A fixed temperature α > 0 (Fig. 4's ablation); ≤ 0 = FOP's schedule."""
    value: str = setting("closed_form", choices=SDOR_VALUES)
    """SDor's per-agent soft values: ``closed_form`` (FOP) or ``network`` (Eq. 9)."""
    reward_scale: float = setting(10.0, low=1e-9)
    """SDor learns from −scale·r."""
    adversary_updates: int = setting(1, low=1)
    """SDor's gradient steps per rollout of 32 episodes (QMIX: 2, ``for_learner``)."""

    @classmethod
    def for_learner(cls, learner: str) -> "ATSATrainingConfig":
        """The paper's per-learner κ (VDN 0.005, QMIX 0.01); QMIX's dearer protagonist step leaves
        room for 2 SDor steps within 1.5× NoAdv's wall time."""
        return cls(kappa=0.01, adversary_updates=2) if learner == "qmix" else cls()


class ATSATraining(CoTrainedDefense):
    name = "atsa"
    label = "ATSA"
    attack_name = "atsa"
    Config = ATSATrainingConfig
    ZOO_SHARES = {"3m": (1.0,)}
    """The paper's regime beside the protocol's: SDor perturbs every step of every episode."""

    def attack_options(self) -> SDorConfig:
        c = self.config
        return SDorConfig(kappa=c.kappa, alpha=c.alpha if c.alpha > 0 else None, value=c.value,
                          reward_scale=c.reward_scale, updates_per_batch=c.adversary_updates)
