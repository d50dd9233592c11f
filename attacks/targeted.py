"""The targeted step ("actor") shared by PAAD, ATSA's STor and ROMANCE-s — Eq. 13:

    ô_i = Proj(o_i − β·sign(∇_o CE(π_i(·|o_i), â_i)))

one signed gradient step of size β (= ε by default) that makes the victim's softmax policy
more likely to pick the target action â_i; ``steps`` > 1 gives the k-step PGD variant (each
step of size β/steps followed by Proj).  The gradient is taken through the *attacked*
protagonist, so a director trained against one victim transfers to any other.
"""
from __future__ import annotations

import torch

from attacks.base import action_ce_grad, policy_input_grad, project, signed_steps
from robench.learners.agent import Agent


def targeted_step(agent: Agent, obs: torch.Tensor, hidden: torch.Tensor, avail: torch.Tensor,
                  target: torch.Tensor, eps: float, low: torch.Tensor, high: torch.Tensor,
                  beta: float | None = None, steps: int = 1) -> torch.Tensor:
    """ô [B, N, D] pushing each agent towards ``target`` [B, N] inside the ε-ball."""
    size = (eps if beta is None else beta) / steps
    return signed_steps(lambda x: -action_ce_grad(agent, x, hidden, avail, target), obs, obs, eps, low, high, steps,
                        size)


def direction_step(agent: Agent, obs: torch.Tensor, hidden: torch.Tensor, avail: torch.Tensor,
                   direction: torch.Tensor, eps: float, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """PA-AD's actor: one signed step of size ε pushing π_i = softmax(Q_i) along ``direction`` [B, N, A].

    PA-AD maximises f(ô) = cos(π(ô) − π(o), d) + ‖π(ô) − π(o)‖₂ with one FGSM step from ô = o.
    There π(ô) − π(o) = 0: the norm has zero (sub)gradient and the cosine's gradient is that of
    d·π(ô) up to a positive factor, so the step is ô = Proj(o + ε·sign(∇_o Σ_i d_i·π_i(o)))."""
    d = direction.detach()
    grad = policy_input_grad(agent, obs, hidden, avail, lambda logits: (torch.softmax(logits, -1) * d).sum())
    return project(obs + eps * grad.sign(), obs, eps, low, high)
