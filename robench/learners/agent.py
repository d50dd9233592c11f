"""The shared recurrent agent network of PyMARL: MLP → GRU → MLP over [obs, (last action), agent id].

One set of weights serves every agent (parameter sharing); the agent id is appended to the
observation so agents can still specialise, and optionally the agent's own previous action
(PyMARL's ``obs_last_action``).  The recurrent *context* [B, N, H (+A)] carries the GRU state and,
with ``last_action``, the previous action's one-hot; ``record_actions`` writes the chosen action
into it.  ``step`` advances one time step for B×N agent rows; ``unroll`` runs whole episodes
through the fused ``nn.GRU`` kernel.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RNNAgent(nn.Module):
    """Q_i(τ_i, ·): utilities of agent i given its observation history."""

    def __init__(self, obs_dim: int, n_agents: int, n_actions: int, hidden: int = 64, last_action: bool = False):
        super().__init__()
        self.obs_dim, self.n_agents, self.n_actions, self.hidden = obs_dim, n_agents, n_actions, hidden
        self.last_action = last_action
        self.fc1 = nn.Linear(obs_dim + (n_actions if last_action else 0) + n_agents, hidden)
        self.rnn = nn.GRU(hidden, hidden, batch_first=True)
        self.fc2 = nn.Linear(hidden, n_actions)

    def init_hidden(self, batch: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """Zero recurrent context [B, N, H (+A)]."""
        extra = self.n_actions if self.last_action else 0
        return torch.zeros(batch, self.n_agents, self.hidden + extra, device=device)

    def record_actions(self, hidden: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """The context after the agents chose ``actions`` [B, N] (identity without ``last_action``)."""
        if not self.last_action:
            return hidden
        return torch.cat([hidden[..., : self.hidden], F.one_hot(actions, self.n_actions).to(hidden.dtype)], -1)

    def _inputs(self, obs: torch.Tensor, prev: torch.Tensor | None) -> torch.Tensor:
        """[obs, previous-action one-hot (if used), agent-id one-hot] along the last dimension."""
        eye = torch.eye(self.n_agents, device=obs.device, dtype=obs.dtype).expand(*obs.shape[:-1], self.n_agents)
        return torch.cat([obs, prev, eye] if self.last_action else [obs, eye], dim=-1)

    def step(self, obs: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: obs [B, N, D], context [B, N, H(+A)] → (Q [B, N, A], context')."""
        b, n, _ = obs.shape
        h, prev = hidden[..., : self.hidden], hidden[..., self.hidden:]
        x = F.relu(self.fc1(self._inputs(obs, prev))).reshape(b * n, 1, self.hidden)
        out, h = self.rnn(x, h.reshape(1, b * n, self.hidden))
        q = self.fc2(out.reshape(b, n, self.hidden))
        return q, torch.cat([h.reshape(b, n, self.hidden), prev], -1)

    def unroll(self, obs: torch.Tensor, actions: torch.Tensor | None = None) -> torch.Tensor:
        """Whole sequences from a zero context: obs [B, T(+1), N, D] and, with ``last_action``, the
        actions taken [B, T, N] (the input at step t is the action of step t−1) → Q [B, T(+1), N, A]."""
        b, t, n, _ = obs.shape
        prev = None
        if self.last_action:
            onehot = F.one_hot(actions, self.n_actions).to(obs.dtype)[:, : t - 1]
            prev = torch.cat([obs.new_zeros(b, 1, n, self.n_actions), onehot], 1)
        x = F.relu(self.fc1(self._inputs(obs, prev)))  # [B, T, N, H]
        x = x.permute(0, 2, 1, 3).reshape(b * n, t, self.hidden)
        out, _ = self.rnn(x)
        out = out.reshape(b, n, t, self.hidden).permute(0, 2, 1, 3)
        return self.fc2(out)


def masked_logits(q: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
    """Utilities with unavailable actions pushed to a large negative value (finite, so that
    softmax and cross-entropy stay NaN-free): the protagonist's policy is ``softmax`` of it."""
    return q.masked_fill(~avail, -1e10)


def greedy(q: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
    """argmax over available actions: [.., A] → [..] (int64)."""
    return masked_logits(q, avail).argmax(dim=-1)
