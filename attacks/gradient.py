"""Gradient attacks on the protagonist's own utilities (docs/methods.md, Attacks).

``fgsm`` (Huang et al. 2017, untargeted): ô = Proj(o + ε·sign(∇_o CE(π_i(·|o), a*_i))),
a*_i the clean greedy action and π_i = softmax of Q_i over the *available* actions: one step
that makes the clean choice least likely.
``fgsm-all``: the same step with the cross-entropy taken over the raw Q_i of *all* actions,
unavailable ones included, as the ATSA authors' FGSM does (zhou-ziyuan/ICDE25,
``src/adv/attack.py``: ``CrossEntropyLoss`` on ``mac.soft``'s unmasked Q): its gradient also
weighs the utilities of actions the agent cannot take, so it points elsewhere than ``fgsm``'s —
neither is the stronger in general (docs/evidence/fgsm-robustness.md measures both on the zoo); it is here to
compare with the paper's numbers.
``fgsm-rs`` (Wong, Rice & Kolter 2020, "fast" adversarial training): one signed step of size
α = 1.25 ε on the same loss, from a uniform random start in the ε-ball, then Proj.
``fgsm-support``: FGSM's step on the clean observation's support only,
ô = o + ε·sign(∇_o CE)·1[o ≠ 0]: coordinates that read exactly 0 (unseen or dead units, unset
flags) stay 0.  Its perturbation is a subset of ``fgsm``'s, so a team that wins *less* under it
than under ``fgsm`` is answering the ±ε it sees on coordinates that should read 0 — a tell of
the attack — rather than withstanding the ball (a diagnostic; docs/evidence/fgsm-robustness.md).
``pgd``: k steps of size β = ε/4 from a uniform random start in the ε-ball, each followed
by Proj, ascending the same loss (beyond the paper; stronger than FGSM).
``pgd-r``: ``pgd`` from R random starts (Madry et al. 2018's restarts), keeping for every agent of
every copy the result with the highest CE(π_i(·|ô_i), a*_i) — the agents' losses are separate
(shared weights, separate inputs), so the choice is per agent; restart 0 draws ``pgd``'s start,
so the kept loss is never below ``pgd``'s.  The R restarts run as one batch of R·B copies.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from attacks.base import Attack, action_ce_grad, clean_greedy_action, signed_steps, uniform_start
from robench.learners.agent import masked_logits

RS_STEP = 1.25
"""FGSM-RS's step α in units of ε (Wong et al. 2020, Sec. 4)."""


class FGSM(Attack):
    name = "fgsm"
    label = "FGSM"

    def perturb(self, agent, obs, hidden, avail, eps, low, high) -> torch.Tensor:
        return obs + eps * action_ce_grad(agent, obs, hidden, avail).sign()  # a* from the same forward


class FGSMAllActions(Attack):
    name = "fgsm-all"
    label = "FGSM (all actions)"

    def perturb(self, agent, obs, hidden, avail, eps, low, high) -> torch.Tensor:
        a_star = clean_greedy_action(agent, obs, hidden, avail)
        return obs + eps * action_ce_grad(agent, obs, hidden, torch.ones_like(avail), a_star).sign()


class FGSMOnSupport(Attack):
    name = "fgsm-support"
    label = "FGSM (support)"

    def perturb(self, agent, obs, hidden, avail, eps, low, high) -> torch.Tensor:
        return obs + eps * action_ce_grad(agent, obs, hidden, avail).sign() * (obs != 0)


class PGD(Attack):
    name = "pgd"
    label = "PGD"

    def __init__(self, *args, steps: int = 10, step_frac: float = 0.25, **kwargs):
        super().__init__(*args, **kwargs)
        self.steps, self.step_frac = steps, step_frac

    def perturb(self, agent, obs, hidden, avail, eps, low, high) -> torch.Tensor:
        a_star = clean_greedy_action(agent, obs, hidden, avail)
        return signed_steps(lambda x: action_ce_grad(agent, x, hidden, avail, a_star),
                            uniform_start(obs, eps, self.generator), obs, eps, low, high, self.steps,
                            self.step_frac * eps)


class FGSMRandomStart(PGD):
    """PGD with one step of ``RS_STEP``·ε from its uniform start."""

    name = "fgsm-rs"
    label = "FGSM-RS"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, steps=1, step_frac=RS_STEP, **kwargs)


class PGDRestarts(PGD):
    """``pgd`` from ``restarts`` uniform starts, the strongest per agent (module docstring)."""

    name = "pgd-r"
    label = "PGD (restarts)"
    worst_case_only = True

    def __init__(self, *args, restarts: int = 5, **kwargs):
        super().__init__(*args, **kwargs)
        self.restarts = restarts

    def perturb(self, agent, obs, hidden, avail, eps, low, high) -> torch.Tensor:
        r, b = self.restarts, obs.shape[0]
        a_star = clean_greedy_action(agent, obs, hidden, avail).repeat(r, 1)
        obs_r, hidden_r, avail_r = obs.repeat(r, 1, 1), hidden.repeat(r, 1, 1), avail.repeat(r, 1, 1)
        x = signed_steps(lambda x: action_ce_grad(agent, x, hidden_r, avail_r, a_star),
                         uniform_start(obs_r, eps, self.generator), obs_r, eps, low, high, self.steps,
                         self.step_frac * eps)
        with torch.no_grad():
            q, _ = agent.step(x, hidden_r)
            logits = masked_logits(q, avail_r)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), a_star.reshape(-1), reduction="none")
        best = loss.view(r, b, -1).argmax(0)  # [B, N]: the restart kept per agent
        return x.view(r, *obs.shape).gather(0, best.view(1, *best.shape, 1).expand(1, *obs.shape)).squeeze(0)
