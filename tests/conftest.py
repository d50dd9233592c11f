"""Shared fixtures: small envs and agents; tests run on the CPU with few threads."""
from __future__ import annotations

import os

os.environ.setdefault("ROBENCH_TORCH_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

from robench.learners.agent import RNNAgent  # noqa: E402


@pytest.fixture(scope="session")
def env3m_factory():
    from robench.envs import make_env

    cache = {}

    def make(batch: int):
        if batch not in cache:
            cache[batch] = make_env("3m", batch)
        return cache[batch]

    return make


@pytest.fixture()
def toy_agent() -> RNNAgent:
    torch.manual_seed(0)
    return RNNAgent(obs_dim=6, n_agents=3, n_actions=5, hidden=16)
