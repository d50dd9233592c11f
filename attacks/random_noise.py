"""Random observation noise, fresh every step.

``random``: uniform noise, ô = Proj(o + U(−ε, ε)).
``zero-corners``: only the coordinates that read exactly 0 move, each to a random corner,
ô = o + ε·s·1[o = 0] with s uniform on {−1, +1}; every non-zero coordinate stays clean.  It is
the footprint a sign attack such as ``fgsm`` leaves on the coordinates that read 0 (unseen or
dead units, unset flags), without the gradient's choice of signs: beside ``fgsm-support`` (the
gradient's signs everywhere else) it tells which half of FGSM's step a team answers
(a diagnostic; docs/evidence/fgsm-robustness.md)."""
from __future__ import annotations

import torch

from attacks.base import Attack, uniform_like, uniform_start


class RandomNoise(Attack):
    name = "random"
    label = "Random"

    def perturb(self, agent, obs, hidden, avail, eps, low, high) -> torch.Tensor:
        return uniform_start(obs, eps, self.generator)


class ZeroCorners(Attack):
    name = "zero-corners"
    label = "Zero corners"

    def perturb(self, agent, obs, hidden, avail, eps, low, high) -> torch.Tensor:
        sign = torch.where(uniform_like(obs, self.generator) < 0.5, -1.0, 1.0).to(obs.dtype)
        return obs + eps * sign * (obs == 0)
