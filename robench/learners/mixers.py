"""Value-decomposition mixers: Q_tot from per-agent chosen utilities [B, T, N] and state [B, T, S].

``vdn``  (Sunehag et al. 2018):  Q_tot = Σ_i Q_i.
``qmix`` (Rashid et al. 2018):   Q_tot = w2ᵀ ELU(W1ᵀ Q + b1) + b2 with W1 = |hyper_w1(s)|,
w2 = |hyper_w2(s)| (non-negative, so ∂Q_tot/∂Q_i ≥ 0: the monotonicity constraint), b1 = hyper_b1(s),
b2 = V(s) (two-layer MLP).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class VDNMixer(nn.Module):
    """Q_tot = Σ_i Q_i (the state is ignored)."""

    label = "VDN"

    def forward(self, qs: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        return qs.sum(dim=-1)


class QMixer(nn.Module):
    """Monotonic hypernetwork mixer on the global state (PyMARL sizes: embed 32, hypernet 64)."""

    label = "QMIX"

    def __init__(self, n_agents: int, state_dim: int, embed: int = 32, hyper_embed: int = 64):
        super().__init__()
        self.n_agents, self.embed = n_agents, embed
        self.hyper_w1 = nn.Sequential(
            nn.Linear(state_dim, hyper_embed), nn.ReLU(), nn.Linear(hyper_embed, embed * n_agents)
        )
        self.hyper_w2 = nn.Sequential(nn.Linear(state_dim, hyper_embed), nn.ReLU(), nn.Linear(hyper_embed, embed))
        self.hyper_b1 = nn.Linear(state_dim, embed)
        self.value = nn.Sequential(nn.Linear(state_dim, embed), nn.ReLU(), nn.Linear(embed, 1))

    def forward(self, qs: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """qs [..., N], state [..., S] → Q_tot [...]."""
        lead = qs.shape[:-1]
        s = state.reshape(-1, state.shape[-1])
        q = qs.reshape(-1, 1, self.n_agents)
        w1 = self.hyper_w1(s).abs().view(-1, self.n_agents, self.embed)
        b1 = self.hyper_b1(s).view(-1, 1, self.embed)
        hidden = F.elu(torch.bmm(q, w1) + b1)
        w2 = self.hyper_w2(s).abs().view(-1, self.embed, 1)
        q_tot = torch.bmm(hidden, w2).view(-1) + self.value(s).view(-1)
        return q_tot.view(lead)


MIXERS = {"vdn": VDNMixer, "qmix": QMixer}
"""Learner name → mixer class."""


def make_mixer(name: str, n_agents: int, state_dim: int) -> nn.Module:
    """Build the mixer registered under ``name``."""
    if name not in MIXERS:
        raise KeyError(f"unknown learner {name!r}; known: {', '.join(sorted(MIXERS))}")
    return VDNMixer() if name == "vdn" else MIXERS[name](n_agents, state_dim)
