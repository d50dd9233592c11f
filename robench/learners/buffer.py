"""Episode storage: a batch of B padded episodes, and a ring replay buffer of them."""
from __future__ import annotations

from dataclasses import dataclass, field, fields

import torch


@dataclass
class EpisodeBatch:
    """B episodes padded to the longest one, T steps (T+1 observations).

    ``obs`` is what the protagonist acted on (perturbed under attack); ``clean_obs`` the
    unperturbed stream, present in freshly collected batches (for defenses and learned
    adversaries) and absent (None) in replay samples: the protagonist learns from ``obs`` only.
    """

    obs: torch.Tensor  # [B, T+1, N, D] float32
    state: torch.Tensor  # [B, T+1, S] float32
    avail: torch.Tensor  # [B, T+1, N, A] bool
    actions: torch.Tensor  # [B, T, N] int64
    reward: torch.Tensor  # [B, T] float32
    terminated: torch.Tensor  # [B, T] bool: true at the step that ended the episode (not time-outs)
    mask: torch.Tensor  # [B, T] bool: step t belongs to the episode
    clean_obs: torch.Tensor | None = None  # [B, T+1, N, D] float32
    extras: dict[str, torch.Tensor] = field(default_factory=dict)  # name → [B, T, ...] per-step extras

    @property
    def size(self) -> int:
        return self.obs.shape[0]

    @property
    def steps(self) -> int:
        return self.actions.shape[1]

    def rows(self, idx: torch.Tensor) -> "EpisodeBatch":
        """The episodes ``idx`` (indices or a [B] bool mask) of this batch, every field sliced
        alike (per-episode dispatch, e.g. RAP's directors); the time padding is kept."""
        moved = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extras"}
        return EpisodeBatch(**{k: None if v is None else v[idx] for k, v in moved.items()},
                            extras={k: v[idx] for k, v in self.extras.items()})

    def to(self, device: torch.device | str) -> "EpisodeBatch":
        moved = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extras"}
        return EpisodeBatch(**{k: None if v is None else v.to(device) for k, v in moved.items()},
                            extras={k: v.to(device) for k, v in self.extras.items()})


STORED = ("obs", "state", "avail", "actions", "reward", "terminated", "mask")
"""EpisodeBatch fields the replay buffer keeps."""


class ReplayBuffer:
    """Ring buffer of the last ``capacity`` episodes, each padded to ``max_steps``.

    ``extras`` names additional per-step tensors (name → (trailing shape, dtype)) that a
    learner needs beside the standard fields, e.g. the protagonist's taken actions for ATSA."""

    def __init__(self, capacity: int, max_steps: int, n_agents: int, obs_dim: int, state_dim: int,
                 n_actions: int, device: torch.device | str = "cpu",
                 extras: dict[str, tuple[tuple[int, ...], torch.dtype]] | None = None):
        c, t, n = capacity, max_steps, n_agents
        z = lambda *s, dtype=torch.float32: torch.zeros(*s, dtype=dtype, device=device)  # noqa: E731
        self.data = EpisodeBatch(
            obs=z(c, t + 1, n, obs_dim), state=z(c, t + 1, state_dim),
            avail=z(c, t + 1, n, n_actions, dtype=torch.bool), actions=z(c, t, n, dtype=torch.int64),
            reward=z(c, t), terminated=z(c, t, dtype=torch.bool), mask=z(c, t, dtype=torch.bool),
            extras={k: z(c, t, *shape, dtype=dtype) for k, (shape, dtype) in (extras or {}).items()},
        )
        self.capacity, self.max_steps = capacity, max_steps
        self.lengths = torch.zeros(c, dtype=torch.int64)
        self.next, self.count = 0, 0

    def __len__(self) -> int:
        return self.count

    def insert(self, batch: EpisodeBatch) -> None:
        """Store every episode of ``batch`` (overwriting the oldest when full); steps past
        the batch's length are zeroed so a slot never mixes two episodes."""
        b = batch.size
        idx = (self.next + torch.arange(b)) % self.capacity
        pairs = [(getattr(self.data, n), getattr(batch, n)) for n in STORED]
        pairs += [(dst, batch.extras[k]) for k, dst in self.data.extras.items()]
        for dst, src in pairs:
            dst[idx] = 0
            dst[idx, : src.shape[1]] = src.to(dst.device)
        self.lengths[idx] = batch.mask.sum(1).cpu()
        self.next = int((self.next + b) % self.capacity)
        self.count = min(self.capacity, self.count + b)

    def sample(self, batch_size: int, generator: torch.Generator) -> EpisodeBatch:
        """Uniformly sample episodes, cut to the longest sampled one."""
        idx = torch.randint(self.count, (batch_size,), generator=generator)
        t = int(self.lengths[idx].max())
        data = self.data
        return EpisodeBatch(
            obs=data.obs[idx, : t + 1], state=data.state[idx, : t + 1], avail=data.avail[idx, : t + 1],
            actions=data.actions[idx, :t], reward=data.reward[idx, :t], terminated=data.terminated[idx, :t],
            mask=data.mask[idx, :t], extras={k: v[idx, :t] for k, v in data.extras.items()},
        )
