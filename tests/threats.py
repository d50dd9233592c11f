"""Calling an attack the way the rollout does, with K given as tensors (test inputs have no env)."""
from __future__ import annotations

import torch

from attacks.base import Attack
from robench.threat import ThreatModel


def call(attack: Attack, agent, obs: torch.Tensor, hidden: torch.Tensor, avail: torch.Tensor, eps: float,
         low: torch.Tensor, high: torch.Tensor, state: torch.Tensor | None = None,
         agents: tuple[int, ...] | None = None, features: tuple[int, ...] | None = None) -> torch.Tensor:
    """ô from ``attack`` bound to K = [low, high] per feature (the attacked set ``agents``, the
    touchable ``features``) at radius ``eps``."""
    threat = ThreatModel(bounds="features", attacked_agents=agents, features=features)
    return attack.bind(threat.bind(low, high, obs.shape[1]))(agent, obs, hidden, avail, eps, state)


def on(env, attack: Attack, bounds: str = "features") -> Attack:
    """``attack`` bound to ``env``'s observations under ``bounds`` (every agent, every coordinate)."""
    return attack.bind(ThreatModel(bounds=bounds).bind(env.obs_low, env.obs_high, env.info().n_agents))
