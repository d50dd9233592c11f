"""ERNIE (Bukharin et al. 2023; abukharin3/ERNIE, as docs/methods.md reads it): a Lipschitz-style
smoothness term on the protagonist's utilities,

    L = λ · mean_{i, t} ‖Q_i(o) − Q_i(õ)‖₂      (the L2 norm over actions, not squared; λ = 0.5)

with õ = o + N(0, σ²) (σ = 10⁻³) followed by k (= 1) signed ascent steps of size ε/k on that
distance, each projected onto the ε-ball and the observation bounds.  ``projected=false`` takes
the original code's unprojected step instead, õ ← õ + ``alpha``·∇·|o| (raw gradient, no ball).
Rollouts are clean.
"""
from __future__ import annotations

import torch

from attacks.base import objective_grad, signed_steps
from defenses.regularised import Regularised, masked_mean
from robench.learners.learner import LossContext


def q_distance(q_a: torch.Tensor, q_b: torch.Tensor) -> torch.Tensor:
    """‖q_a − q_b‖₂ over the action dimension (not squared): [.., A] → [..]."""
    return torch.linalg.vector_norm(q_a - q_b, dim=-1)


class ERNIE(Regularised):
    name = "ernie"
    WEIGHT = "lam"
    OPTIONS = {"lam": 0.5, "steps": 1, "sigma": 1e-3, "projected": True, "alpha": 0.01, "eps_ramp": 0.0,
               "recurrent": "fixed", "batch_frac": 0.5}
    BOUNDS = {"lam": (0, None), "steps": (1, None), "sigma": (0, None), "alpha": (0, None), "eps_ramp": (0, 1),
              "batch_frac": (1e-6, 1)}

    def term(self, ctx: LossContext, eps: float) -> torch.Tensor:
        b = ctx.batch
        obs = b.obs[:, :-1]
        q_clean = ctx.q[:, :-1]
        target = q_clean.detach()
        grad = objective_grad(lambda x: q_distance(self.perturbed(ctx, x), target).sum())
        noise = torch.randn(obs.shape, generator=ctx.generator, device="cpu").to(obs.device)
        x = obs + float(self.options["sigma"]) * noise
        steps = int(self.options["steps"])
        if self.options["projected"]:
            x = signed_steps(grad, x, obs, eps, self.low, self.high, steps, eps / steps)
        else:
            for _ in range(steps):
                x = (x + float(self.options["alpha"]) * grad(x) * obs.abs()).detach()
        return masked_mean(q_distance(self.perturbed(ctx, x), q_clean), b.mask)
