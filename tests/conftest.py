"""Shared fixtures: small envs; tests run on the CPU with few threads."""
from __future__ import annotations

import os

os.environ.setdefault("ROBENCH_TORCH_THREADS", "1")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def env3m_factory():
    from robench.envs import make_env

    cache = {}

    def make(batch: int):
        if batch not in cache:
            cache[batch] = make_env("3m", batch)
        return cache[batch]

    return make

