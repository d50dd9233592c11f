"""Random observation noise, fresh every step.

``random``: uniform noise, ô = Proj(o + U(−ε, ε)).
``zero-corners``: only the coordinates that read exactly 0 move, each to a random corner,
ô = o + ε·s·1[o = 0] with s uniform on {−1, +1}; every non-zero coordinate stays clean.  It
carries no information loss, only the footprint a sign attack such as ``fgsm`` leaves on the
coordinates that should read 0 (unseen or dead units, unset flags): a team that loses clean win
rate under it has learned to answer that footprint (a diagnostic; docs/methods.md)."""
from __future__ import annotations

import torch

from attacks.base import Attack


class RandomNoise(Attack):
    name = "random"

    def perturb(self, agent, obs, hidden, avail, eps, low, high) -> torch.Tensor:
        u = torch.rand(obs.shape, generator=self.generator, device="cpu").to(obs.device)
        return obs + eps * (2 * u - 1)


class ZeroCorners(Attack):
    name = "zero-corners"

    def perturb(self, agent, obs, hidden, avail, eps, low, high) -> torch.Tensor:
        u = torch.rand(obs.shape, generator=self.generator, device="cpu").to(obs.device)
        return obs + eps * torch.where(u < 0.5, -1.0, 1.0).to(obs.dtype) * (obs == 0)
