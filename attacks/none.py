"""``none``: the identity, ô = o (the clean column of every table)."""
from __future__ import annotations

import torch

from attacks.base import Attack


class NoAttack(Attack):
    name = "none"
    label = "Natural"
    clean = True

    def perturb(self, agent, obs, hidden, avail, eps, low, high) -> torch.Tensor:
        return obs
