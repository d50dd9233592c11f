"""``atla``: a learned Gaussian observation adversary trained by MAPPO (docs/methods.md, ATLA).

The policy is ``attacks.mappo.GaussianMAPPO`` with D = obs_dim outputs, on the clean stream:
    u_i ~ N(μ(τ^clean_i), diag σ²)   (u = μ at evaluation),
    δ_i = ε·clip(u_i, −1, 1),   ô_i = Proj(o_i + δ_i)   (budget: ``Attack.__call__``),
so δ is in units of ε and one adversary serves any evaluation ε and any protagonist of the
map (it never looks at the protagonist).  Reward r̂ = −r; the PPO log-probability is that of
the unclipped u, as in ATLA's original code.  ``squash=True`` uses δ_i = ε·tanh(u_i) instead;
the PPO ratio is unchanged by it (the tanh Jacobian cancels between π and π_old at the same u).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from attacks.mappo import GaussianPolicyAttack, MAPPOConfig
from robench.envs.protocol import EnvInfo
from robench.learners.agent import Agent
from robench.method_config import MethodConfig


@dataclass(frozen=True)
class ATLAConfig(MethodConfig):
    """ATLA's settings (its MAPPO learner's are ``attacks.mappo.MAPPOConfig``'s defaults)."""

    squash: bool = False
    """δ = ε·tanh(u) instead of ε·clip(u, −1, 1)."""


class ATLA(GaussianPolicyAttack):
    name = "atla"
    label = "ATLA"
    Config = ATLAConfig

    @classmethod
    def build(cls, info: EnvInfo, cfg: ATLAConfig, generator: torch.Generator, device: str | torch.device = "cpu",
              steps: int = 200_000) -> "ATLA":
        """MAPPO's learning rate decays to 0 over the ``steps`` the adversary trains for."""
        return cls(info, generator, cfg=MAPPOConfig(anneal_steps=steps), device=device, squash=cfg.squash)

    def __init__(self, info: EnvInfo, generator: torch.Generator | None = None, cfg: MAPPOConfig | None = None,
                 device: str | torch.device = "cpu", squash: bool = False):
        super().__init__(info, generator, cfg, device)
        self.squash = squash

    @staticmethod
    def out_dim(info: EnvInfo) -> int:
        return info.obs_dim

    def perturb(self, agent: Agent, obs, hidden, avail, eps, low, high) -> torch.Tensor:
        """ô = o + ε·clip(u, −1, 1) (or ε·tanh(u) when squashed)."""
        u = self.act(obs)
        return obs + eps * (torch.tanh(u) if self.squash else u.clamp(-1.0, 1.0))
