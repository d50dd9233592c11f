"""``random``: uniform noise, ô = Proj(o + U(−ε, ε)), fresh every step."""
from __future__ import annotations

import torch

from attacks.base import Attack


class RandomNoise(Attack):
    name = "random"

    def perturb(self, agent, obs, hidden, avail, eps, low, high) -> torch.Tensor:
        u = torch.rand(obs.shape, generator=self.generator, device="cpu").to(obs.device)
        return obs + eps * (2 * u - 1)
