"""The shared recurrent agent network of PyMARL: MLP → GRU → MLP over [obs, agent-id one-hot].

One set of weights serves every agent (parameter sharing); the agent id is appended to the
observation so agents can still specialise.  ``step`` advances one time step for a batch of
B×N agent rows; ``unroll`` runs whole episodes through the fused ``nn.GRU`` kernel.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RNNAgent(nn.Module):
    """Q_i(τ_i, ·): utilities of agent i given its observation history."""

    def __init__(self, obs_dim: int, n_agents: int, n_actions: int, hidden: int = 64):
        super().__init__()
        self.obs_dim, self.n_agents, self.n_actions, self.hidden = obs_dim, n_agents, n_actions, hidden
        self.fc1 = nn.Linear(obs_dim + n_agents, hidden)
        self.rnn = nn.GRU(hidden, hidden, batch_first=True)
        self.fc2 = nn.Linear(hidden, n_actions)

    def init_hidden(self, batch: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """Zero recurrent state [B, N, H]."""
        return torch.zeros(batch, self.n_agents, self.hidden, device=device)

    def _inputs(self, obs: torch.Tensor) -> torch.Tensor:
        """Append the agent-id one-hot to obs [..., N, D] → [..., N, D+N]."""
        eye = torch.eye(self.n_agents, device=obs.device, dtype=obs.dtype)
        return torch.cat([obs, eye.expand(*obs.shape[:-1], self.n_agents)], dim=-1)

    def step(self, obs: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: obs [B, N, D], hidden [B, N, H] → (Q [B, N, A], hidden' [B, N, H])."""
        b, n, _ = obs.shape
        x = F.relu(self.fc1(self._inputs(obs))).reshape(b * n, 1, self.hidden)
        out, h = self.rnn(x, hidden.reshape(1, b * n, self.hidden))
        q = self.fc2(out.reshape(b, n, self.hidden))
        return q, h.reshape(b, n, self.hidden)

    def unroll(self, obs: torch.Tensor, hidden: torch.Tensor | None = None) -> torch.Tensor:
        """Whole sequences: obs [B, T, N, D] → Q [B, T, N, A] (starting from ``hidden`` or zeros)."""
        b, t, n, _ = obs.shape
        x = F.relu(self.fc1(self._inputs(obs)))  # [B, T, N, H]
        x = x.permute(0, 2, 1, 3).reshape(b * n, t, self.hidden)
        h0 = None if hidden is None else hidden.reshape(1, b * n, self.hidden)
        out, _ = self.rnn(x, h0)
        out = out.reshape(b, n, t, self.hidden).permute(0, 2, 1, 3)
        return self.fc2(out)


def masked_logits(q: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
    """Utilities with unavailable actions pushed to a large negative value (finite, so that
    softmax and cross-entropy stay NaN-free): the protagonist's policy is ``softmax`` of it."""
    return q.masked_fill(~avail, -1e10)


def greedy(q: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
    """argmax over available actions: [.., A] → [..] (int64)."""
    return masked_logits(q, avail).argmax(dim=-1)
