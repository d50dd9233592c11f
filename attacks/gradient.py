"""Gradient attacks on the protagonist's own utilities (docs/methods.md, Attacks).

``fgsm`` (Huang et al. 2017, untargeted): ô = Proj(o + ε·sign(∇_o CE(π_i(·|o), a*_i))),
a*_i the clean greedy action: one step that makes the clean choice least likely.
``pgd``: k steps of size β = ε/4 from a uniform random start in the ε-ball, each followed
by Proj, ascending the same loss (beyond the paper; stronger than FGSM).
"""
from __future__ import annotations

import torch

from attacks.base import Attack, action_ce_grad, clean_greedy_action, signed_steps, uniform_start


class FGSM(Attack):
    name = "fgsm"

    def perturb(self, agent, obs, hidden, avail, eps, low, high) -> torch.Tensor:
        return obs + eps * action_ce_grad(agent, obs, hidden, avail).sign()  # a* from the same forward


class PGD(Attack):
    name = "pgd"

    def __init__(self, *args, steps: int = 10, step_frac: float = 0.25, **kwargs):
        super().__init__(*args, **kwargs)
        self.steps, self.step_frac = steps, step_frac

    def perturb(self, agent, obs, hidden, avail, eps, low, high) -> torch.Tensor:
        a_star = clean_greedy_action(agent, obs, hidden, avail)
        return signed_steps(lambda x: action_ce_grad(agent, x, hidden, avail, a_star),
                            uniform_start(obs, eps, self.generator), obs, eps, low, high, self.steps,
                            self.step_frac * eps)
