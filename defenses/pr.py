"""PR (policy regularisation; SA-DQN's hinge, chenhongge/SA_DQN, as docs/methods.md reads it):

    L_adv = mean_{i, t} max( max_{a ≠ a*} Q_i(ô, a) − Q_i(ô, a*), −1 ),   a* = argmax_avail Q_i(o)

with a* the clean greedy action (detached) and ô from a 5-step PGD inside the ε-ball (step ε/5,
random start) that maximises the *unclipped* margin max_{a ≠ a*} Q_i(ô, a) − Q_i(ô, a*) (the −1
floor has zero gradient below it, so it is applied in the loss only, as SA-DQN does); the
protagonist minimises TD + μ·L_adv (μ = 0.1).
``loss=kl`` uses KL(π_i(o) ‖ π_i(ô)) instead (π = softmax of Q over available actions; the PGD
then maximises that KL).  ``eps_ramp`` > 0 ramps the regulariser's ε from 0 over that fraction
of training.  ``reg_prob`` = 0.5: the term is paid at a random half of the learner steps, weighted
2μ there (unbiased; keeps PR within 1.5× NoAdv's wall time, see ``Regularised.regulariser``).
Rollouts are clean.

On QMIX the default ``loss`` is ``kl``: with the hinge, a QMIX team collapses to one constant
action (measured on 3m at μ 0.1 and 0.01, floors 1 and 0.1, seeds 0 and 1, with and without
``reg_start``, and with the margin weighted by the mixer's ∂Q_tot/∂Q_i; docs/methods.md, *Defenses*),
while the KL form trains (clean 0.67 / 0.67 / 0.69 at 100k steps, seeds 0–2).  ``--defense-opt loss=hinge`` restores it.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from attacks.base import objective_grad, signed_steps, uniform_start
from defenses.regularised import Regularised, RegularisedConfig, masked_mean, ramp_schedule
from robench.learners.agent import greedy, masked_logits
from robench.learners.learner import LossContext
from robench.method_config import setting

NEG = -1e10


def margin(q: torch.Tensor, best: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
    """max_{a ≠ a*, available} Q(a) − Q(a*) per row (−1 where a* is the only available action):
    q [.., A], best [..] → [..]; positive where a* is no longer greedy."""
    q_best = q.gather(-1, best.unsqueeze(-1)).squeeze(-1)
    others = avail & ~F.one_hot(best, q.shape[-1]).bool()
    runner_up = q.masked_fill(~others, NEG).max(-1).values
    return torch.where(others.any(-1), runner_up - q_best, torch.full_like(q_best, -1.0))


def hinge_margin(q: torch.Tensor, best: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
    """SA-DQN's hinge max(margin, −1) per row."""
    return margin(q, best, avail).clamp(min=-1.0)


def policy_kl(q_clean: torch.Tensor, q_pert: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
    """KL(π(o) ‖ π(ô)) per row with π = softmax over the available actions: [.., A] → [..]."""
    p_log = F.log_softmax(masked_logits(q_clean, avail), -1)
    q_log = F.log_softmax(masked_logits(q_pert, avail), -1)
    return (p_log.exp() * (p_log - q_log)).masked_fill(~avail, 0.0).sum(-1)


PR_LOSSES = ("hinge", "kl")


class KLOnQMIX:
    """The per-learner default of PR's and PR-REP's ``loss``: the hinge collapses QMIX (module
    docstring), so ``kl`` there."""

    @classmethod
    def for_learner(cls, learner: str):
        return cls(loss="kl") if learner == "qmix" else cls()


@dataclass(frozen=True)
class PRConfig(KLOnQMIX, RegularisedConfig):
    mu: float = setting(0.1, low=0.0)
    """Weight μ of the term."""
    loss: str = setting("hinge", choices=PR_LOSSES)
    """SA-DQN's ``hinge`` on the margin, or ``kl`` between the clean and perturbed policies."""
    pgd_steps: int = setting(5, low=1)
    """Steps of the inner PGD (size ε/steps, random start)."""
    eps_ramp: float = setting(0.0, low=0.0, high=1.0)
    """Fraction of training over which the term's ε ramps from 0 after ``reg_start``."""
    reg_prob: float = setting(0.5, low=1e-6, high=1.0)
    """p: the share of learner steps that pay the term, weighted μ/p there."""
    reg_start: float = setting(0.0, low=0.0, high=1.0, added=0.0)
    """Fraction of training before the term starts (SA-DQN's ``schedule_start``)."""


class PR(Regularised):
    name = "pr"
    label = "PR"
    Config = PRConfig

    def schedule(self, progress: float) -> tuple[float, float]:
        c = self.config
        return ramp_schedule(c.mu, self.cfg.eps, progress, c.reg_start, c.eps_ramp)

    def term_prob(self) -> float:
        return self.config.reg_prob

    def term(self, ctx: LossContext, eps: float) -> torch.Tensor:
        b = ctx.batch
        obs, avail = b.obs[:, :-1], b.avail[:, :-1]
        q_clean = ctx.q[:, :-1]
        if self.config.loss == "kl":
            target = q_clean.detach()
            ascend = loss = lambda q: policy_kl(target, q, avail)  # noqa: E731
        else:
            best = greedy(q_clean.detach(), avail)
            ascend, loss = (lambda q: margin(q, best, avail)), (lambda q: hinge_margin(q, best, avail))
        steps = self.config.pgd_steps
        x = signed_steps(objective_grad(lambda x: ascend(self.perturbed(ctx, x)).sum()),
                         uniform_start(obs, eps, ctx.generator), obs, eps, self.low, self.high, steps, eps / steps)
        return masked_mean(loss(self.perturbed(ctx, x)), b.mask)
