"""ERNIE (Bukharin et al. 2023; abukharin3/ERNIE, as docs/methods.md reads it): a Lipschitz-style
smoothness term on the protagonist's utilities,

    L = λ · mean_{i, t} ‖Q_i(o) − Q_i(õ)‖₂      (the L2 norm over actions, not squared; λ = 0.5)

with õ = o + N(0, σ²) (σ = 10⁻³) followed by k (= 1) signed ascent steps of size ε/k on that
distance, each projected onto the ε-ball and the observation bounds.  ``projected=false`` takes
the original code's unprojected step instead, õ ← õ + ``alpha``·∇·|o| (raw gradient, no ball).
Rollouts are clean.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from attacks.base import objective_grad, signed_steps
from defenses.regularised import Regularised, RegularisedConfig, masked_mean, ramp_schedule
from robench.learners.learner import LossContext
from robench.method_config import setting


def q_distance(q_a: torch.Tensor, q_b: torch.Tensor) -> torch.Tensor:
    """‖q_a − q_b‖₂ over the action dimension (not squared): [.., A] → [..]."""
    return torch.linalg.vector_norm(q_a - q_b, dim=-1)


@dataclass(frozen=True)
class ERNIEConfig(RegularisedConfig):
    lam: float = setting(0.5, low=0.0)
    """Weight λ of the smoothness term."""
    steps: int = setting(1, low=1)
    """k signed ascent steps of the inner maximisation."""
    sigma: float = setting(1e-3, low=0.0)
    """σ of the Gaussian start õ = o + N(0, σ²)."""
    projected: bool = True
    """Steps of size ε/k projected onto the ε-ball; false: the original unprojected step."""
    alpha: float = setting(0.01, low=0.0)
    """Step size of the unprojected step õ ← õ + α·∇·|o|."""
    eps_ramp: float = setting(0.0, low=0.0, high=1.0)
    """Fraction of training over which the term's ε ramps from 0 (0 = no ramp)."""
    batch_frac: float = setting(0.5, low=1e-6, high=1.0)
    """Share of the replay sample's episodes the term is computed on."""


class ERNIE(Regularised):
    name = "ernie"
    label = "ERNIE"
    Config = ERNIEConfig

    def schedule(self, progress: float) -> tuple[float, float]:
        """λ from the first step, ε ramped over ``eps_ramp``."""
        return ramp_schedule(self.config.lam, self.cfg.eps, progress, ramp=self.config.eps_ramp)

    def term(self, ctx: LossContext, eps: float) -> torch.Tensor:
        b = ctx.batch
        obs = b.obs[:, :-1]
        q_clean = ctx.q[:, :-1]
        target = q_clean.detach()
        grad = objective_grad(lambda x: q_distance(self.perturbed(ctx, x), target).sum())
        noise = torch.randn(obs.shape, generator=ctx.generator, device="cpu").to(obs.device)
        x = obs + self.config.sigma * noise
        steps = self.config.steps
        if self.config.projected:
            x = signed_steps(grad, x, obs, eps, self.low, self.high, steps, eps / steps)
        else:
            for _ in range(steps):
                x = (x + self.config.alpha * grad(x) * obs.abs()).detach()
        return masked_mean(q_distance(self.perturbed(ctx, x), q_clean), b.mask)
