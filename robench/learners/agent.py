"""The shared agent network: input layer → core → output layer over [obs, (last action), agent id].

One set of weights serves every agent (parameter sharing); the agent id is appended to the
observation so agents can still specialise, and optionally the agent's own previous action
(PyMARL's ``obs_last_action``).  Two cores:

- ``rnn`` (:class:`RNNAgent`, the paper's and PyMARL's): MLP → GRU(H) → MLP, Q_i(τ_i, ·) of the
  whole observation history;
- ``mlp`` (:class:`MLPAgent`): MLP → Linear(H, H) → MLP, Q_i(o_i, ·) of the current
  observation only — no sequential unroll, so one training step costs a fraction of the GRU's.

The per-row *context* [B, N, M (+A)] carries the core's memory (M = H for the GRU, 0 for the
MLP) and, with ``last_action``, the previous action's one-hot; ``record_actions`` writes the
chosen action into it.  ``step`` advances one time step for B×N agent rows; ``unroll`` runs
whole episodes at once.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Agent(nn.Module):
    """Q_i(·): utilities of agent i; subclasses supply the core between input and output layer."""

    memory: int
    """Width of the core's recurrent state inside the context (0 = feed-forward)."""

    def __init__(self, obs_dim: int, n_agents: int, n_actions: int, hidden: int = 64, last_action: bool = False):
        super().__init__()
        self.obs_dim, self.n_agents, self.n_actions, self.hidden = obs_dim, n_agents, n_actions, hidden
        self.last_action = last_action
        self.fc1 = nn.Linear(obs_dim + (n_actions if last_action else 0) + n_agents, hidden)
        self.fc2 = nn.Linear(hidden, n_actions)

    def init_hidden(self, batch: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """Zero context [B, N, M (+A)]."""
        extra = self.n_actions if self.last_action else 0
        return torch.zeros(batch, self.n_agents, self.memory + extra, device=device)

    def record_actions(self, hidden: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """The context after the agents chose ``actions`` [B, N] (identity without ``last_action``)."""
        if not self.last_action:
            return hidden
        return torch.cat([hidden[..., : self.memory], F.one_hot(actions, self.n_actions).to(hidden.dtype)], -1)

    def _inputs(self, obs: torch.Tensor, prev: torch.Tensor | None) -> torch.Tensor:
        """[obs, previous-action one-hot (if used), agent-id one-hot] along the last dimension."""
        eye = torch.eye(self.n_agents, device=obs.device, dtype=obs.dtype).expand(*obs.shape[:-1], self.n_agents)
        return torch.cat([obs, prev, eye] if self.last_action else [obs, eye], dim=-1)

    def step(self, obs: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: obs [B, N, D], context [B, N, M(+A)] → (Q [B, N, A], context')."""
        mem, prev = hidden[..., : self.memory], hidden[..., self.memory:]
        x = F.relu(self.fc1(self._inputs(obs, prev)))
        y, mem = self._core_step(x, mem)
        return self.fc2(y), torch.cat([mem, prev], -1)

    def unroll(self, obs: torch.Tensor, actions: torch.Tensor | None = None) -> torch.Tensor:
        """Whole sequences from a zero context: obs [B, T(+1), N, D] and, with ``last_action``, the
        actions taken [B, T, N] (the input at step t is the action of step t−1) → Q [B, T(+1), N, A]."""
        return self.unroll_with_context(obs, actions)[0]

    def unroll_with_context(self, obs: torch.Tensor, actions: torch.Tensor | None = None,
                            ) -> tuple[torch.Tensor, torch.Tensor]:
        """``unroll`` plus the context each step *started from*, [B, T(+1), N, M(+A)]: the core's
        memory after step t−1 (zero at t = 0) and the previous action's one-hot.  So that
        ``step(o'_t, context_t)`` is Q at step t with o_t replaced by o'_t and the history held
        fixed (batched over B·T by flattening) — the regularisers' fixed-recurrent-state variant."""
        b, t, n, _ = obs.shape
        prev = None
        if self.last_action:
            onehot = F.one_hot(actions, self.n_actions).to(obs.dtype)[:, : t - 1]
            prev = torch.cat([obs.new_zeros(b, 1, n, self.n_actions), onehot], 1)
        y = self._core_unroll(F.relu(self.fc1(self._inputs(obs, prev))))
        mem = y[..., : self.memory]  # the GRU's output at t is its state after step t (none for the MLP)
        before = torch.cat([torch.zeros_like(mem[:, :1]), mem[:, :-1]], 1)
        context = before if prev is None else torch.cat([before, prev], -1)
        return self.fc2(y), context

    def _core_step(self, x: torch.Tensor, mem: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Core on one step: features [B, N, H], memory [B, N, M] → (features', memory')."""
        raise NotImplementedError

    def _stacked_core_step(self, weights: dict[str, torch.Tensor], x: torch.Tensor, mem: torch.Tensor,
                           ) -> tuple[torch.Tensor, torch.Tensor]:
        """``_core_step`` of K agents at once: features [K, R, H], memory [K, R, M], each agent's
        parameters stacked along K in ``weights`` (named as in ``named_parameters``)."""
        raise NotImplementedError

    def _core_unroll(self, x: torch.Tensor) -> torch.Tensor:
        """Core over whole sequences from zero memory: [B, T, N, H] → [B, T, N, H]."""
        raise NotImplementedError


class RNNAgent(Agent):
    """PyMARL's recurrent agent: the core is a GRU(H) over the episode (fused ``nn.GRU`` kernel
    in ``unroll``)."""

    def __init__(self, obs_dim: int, n_agents: int, n_actions: int, hidden: int = 64, last_action: bool = False):
        super().__init__(obs_dim, n_agents, n_actions, hidden, last_action)
        self.memory = hidden
        self.rnn = nn.GRU(hidden, hidden, batch_first=True)

    def _core_step(self, x: torch.Tensor, mem: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, n, h = x.shape
        out, mem = self.rnn(x.reshape(b * n, 1, h), mem.reshape(1, b * n, h))
        return out.reshape(b, n, h), mem.reshape(b, n, h)

    def _core_unroll(self, x: torch.Tensor) -> torch.Tensor:
        b, t, n, h = x.shape
        out, _ = self.rnn(x.permute(0, 2, 1, 3).reshape(b * n, t, h))
        return out.reshape(b, n, t, h).permute(0, 2, 1, 3)

    def _stacked_core_step(self, weights: dict[str, torch.Tensor], x: torch.Tensor, mem: torch.Tensor,
                           ) -> tuple[torch.Tensor, torch.Tensor]:
        """The GRU cell (``nn.GRU``'s gate order r, z, n):  r = σ(W_ir x + b_ir + W_hr h + b_hr),
        z = σ(W_iz x + b_iz + W_hz h + b_hz),  n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)),
        h' = (1 − z) ⊙ n + z ⊙ h; its output is h'."""
        gi = stacked_linear(weights["rnn.weight_ih_l0"], weights["rnn.bias_ih_l0"], x).chunk(3, -1)
        gh = stacked_linear(weights["rnn.weight_hh_l0"], weights["rnn.bias_hh_l0"], mem).chunk(3, -1)
        r = torch.sigmoid(gi[0] + gh[0])
        z = torch.sigmoid(gi[1] + gh[1])
        n = torch.tanh(gi[2] + r * gh[2])
        mem = (1 - z) * n + z * mem
        return mem, mem


class MLPAgent(Agent):
    """Feed-forward agent: the core is one more ReLU layer, h' = relu(W h + b); no memory."""

    def __init__(self, obs_dim: int, n_agents: int, n_actions: int, hidden: int = 64, last_action: bool = False):
        super().__init__(obs_dim, n_agents, n_actions, hidden, last_action)
        self.memory = 0
        self.fc_mid = nn.Linear(hidden, hidden)

    def _core_step(self, x: torch.Tensor, mem: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return F.relu(self.fc_mid(x)), mem

    def _core_unroll(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.fc_mid(x))

    def _stacked_core_step(self, weights: dict[str, torch.Tensor], x: torch.Tensor, mem: torch.Tensor,
                           ) -> tuple[torch.Tensor, torch.Tensor]:
        return F.relu(stacked_linear(weights["fc_mid.weight"], weights["fc_mid.bias"], x)), mem


AGENTS: dict[str, type[Agent]] = {"rnn": RNNAgent, "mlp": MLPAgent}


def stacked_linear(weight: torch.Tensor, bias: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """K linear layers at once: y_k = x_k W_kᵀ + b_k for x [K, R, in], W [K, out, in], b [K, out]."""
    return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))


class AgentStack:
    """K agent networks of one architecture stepped as one batched call.

    ``step(obs, context)`` on obs [K, B, N, D] equals ``agents[k].step(obs[k], context[k])`` for
    every k, with one ``baddbmm`` per layer over weights stacked along K instead of K calls (a
    population's directors at every rollout step).  The weights are a detached snapshot taken at
    construction: build a new stack after the agents learn."""

    def __init__(self, agents: list[Agent]):
        params = [dict(a.named_parameters()) for a in agents]
        shapes = [(type(a), a.last_action, {n: w.shape for n, w in p.items()}) for a, p in zip(agents, params)]
        if not agents or any(s != shapes[0] for s in shapes):
            raise ValueError("an agent stack needs one or more agents of one architecture (class and sizes)")
        self.template, self.k = agents[0], len(agents)
        self.weights = {name: torch.stack([p[name].detach() for p in params]) for name in params[0]}

    def init_hidden(self, batch: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """Zero contexts [K, B, N, M (+A)]."""
        return self.template.init_hidden(batch, device).unsqueeze(0).repeat(self.k, 1, 1, 1)

    def step(self, obs: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """obs [K, B, N, D], contexts [K, B, N, M(+A)] → (Q [K, B, N, A], contexts')."""
        agent, w = self.template, self.weights
        k, b, n, _ = obs.shape
        mem, prev = hidden[..., : agent.memory], hidden[..., agent.memory:]
        x = F.relu(stacked_linear(w["fc1.weight"], w["fc1.bias"], agent._inputs(obs, prev).reshape(k, b * n, -1)))
        y, mem = agent._stacked_core_step(w, x, mem.reshape(k, b * n, agent.memory))
        q = stacked_linear(w["fc2.weight"], w["fc2.bias"], y)
        return q.reshape(k, b, n, -1), torch.cat([mem.reshape(k, b, n, agent.memory), prev], -1)


def make_agent(kind: str, obs_dim: int, n_agents: int, n_actions: int, hidden: int = 64,
               last_action: bool = False) -> Agent:
    """Build a protagonist agent network by registry name (``rnn`` or ``mlp``)."""
    if kind not in AGENTS:
        raise KeyError(f"unknown agent network {kind!r}; known: {', '.join(AGENTS)}")
    return AGENTS[kind](obs_dim, n_agents, n_actions, hidden, last_action)


def masked_logits(q: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
    """Utilities with unavailable actions pushed to a large negative value (finite, so that
    softmax and cross-entropy stay NaN-free): the protagonist's policy is ``softmax`` of it."""
    return q.masked_fill(~avail, -1e10)


def greedy(q: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
    """argmax over available actions: [.., A] → [..] (int64)."""
    return masked_logits(q, avail).argmax(dim=-1)
