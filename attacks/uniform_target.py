"""``uniform-target``: Eq. 13's targeted step toward a target drawn uniformly among each agent's
available actions, afresh every step — ATSA's STor driven by a director of maximum entropy
(h_i = U(avail_i), the α → ∞ end of SDor's entropy-regularised objective), with nothing learned.

A control for the learned directors: a protagonist that withstands its co-trained PAAD or ATSA
adversary but not this one has adapted to *that* adversary's choices, not to the perturbations
Eq. 13 can make.
"""
from __future__ import annotations

import torch

from attacks.atsa import sample_targets
from attacks.base import Attack
from attacks.targeted import targeted_step
from robench.learners.agent import Agent, masked_logits


class UniformTarget(Attack):
    name = "uniform-target"
    label = "Uniform target"

    def perturb(self, agent: Agent, obs, hidden, avail, eps, low, high) -> torch.Tensor:
        uniform = masked_logits(torch.zeros(avail.shape, device=obs.device), avail)
        return targeted_step(agent, obs, hidden, avail, sample_targets(uniform, self.generator), eps, low, high)
