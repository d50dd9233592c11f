"""The targeted step ("actor") shared by PAAD, ATSA's STor and ROMANCE-s — Eq. 13:

    ô_i = Proj(o_i − β·sign(∇_o CE(π_i(·|o_i), â_i)))

one signed gradient step of size β (= ε by default) that makes the victim's softmax policy
more likely to pick the target action â_i; ``steps`` > 1 gives the k-step PGD variant (each
step of size β/steps followed by Proj).  The gradient is taken through the *attacked*
protagonist, so a director trained against one victim transfers to any other.
"""
from __future__ import annotations

import torch

from attacks.base import action_ce_grad, project
from robench.learners.agent import RNNAgent


def targeted_step(agent: RNNAgent, obs: torch.Tensor, hidden: torch.Tensor, avail: torch.Tensor,
                  target: torch.Tensor, eps: float, low: torch.Tensor, high: torch.Tensor,
                  beta: float | None = None, steps: int = 1) -> torch.Tensor:
    """ô [B, N, D] pushing each agent towards ``target`` [B, N] inside the ε-ball."""
    size = (eps if beta is None else beta) / steps
    x = obs
    for _ in range(steps):
        x = project(x - size * action_ce_grad(agent, x, hidden, avail, target).sign(), obs, eps, low, high)
    return x
