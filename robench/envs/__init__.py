"""Environment registry: backend name → module that builds a :class:`BatchedEnv`.

Adding a backend (``sc2``, ``cav``…) is one module exposing ``make(map_name, batch_size,
device)`` and ``map_names()`` plus one line in ``BACKENDS``.  Backends are imported lazily so
that a missing optional dependency only matters when that backend is asked for.
"""
from __future__ import annotations

import importlib

import torch

from robench.envs.protocol import BatchedEnv, EnvInfo, Observation, StepResult
from robench.errors import RobenchError

BACKENDS: dict[str, str] = {
    "smax": "robench.envs.smax",
    "cav": "robench.envs.cav",
    "sc2": "robench.envs.sc2",
}
"""Backend name → module path."""

DEFAULT_BACKEND = "smax"

BACKEND_METRICS: dict[str, tuple[str, ...]] = {
    "smax": ("win_rate", "mean_return"),
    "sc2": ("win_rate", "mean_return"),
    "cav": ("mean_return", "crash_rate"),
}
"""The episode outcomes each backend declares, headline first: SMAC-like maps are won or lost
(``won``), CAV episodes have no winner but can end in a crash (``crashed``).  Commands print,
tabulate and plot only these."""


MAX_COPIES: dict[str, int] = {"sc2": 8}
"""Backends whose copies are heavyweight processes (a StarCraft II game each): at most this many
copies in lockstep; evaluations of more episodes run in sequential batches."""


def max_copies(backend: str) -> int | None:
    """The most lockstep copies ``backend`` runs at once (None: no limit)."""
    return MAX_COPIES.get(backend)


def declares(backend: str, metric: str) -> bool:
    """Whether ``backend``'s episodes have ``metric`` (``BACKEND_METRICS``; unknown: SMAC-like)."""
    return metric in BACKEND_METRICS.get(backend, BACKEND_METRICS[DEFAULT_BACKEND])

PAPER_EPS = {"3m": 0.25, "3s_vs_3z": 0.25, "3s_3z": 0.25, "8m": 0.10, "merge": 0.05, "merge_safe": 0.05}
"""The paper's L∞ budget per map (docs/design.md, Defaults from the paper); 0.25 elsewhere."""


class EnvError(RobenchError):
    """An unknown backend or map, or a backend whose dependency is missing."""


def backend_module(backend: str):
    if backend not in BACKENDS:
        raise EnvError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
    return importlib.import_module(BACKENDS[backend])


MAP_BACKENDS = {"merge": "cav", "merge_safe": "cav"}
"""Maps that belong to a backend other than the default (so ``--env merge`` needs no ``--backend``)."""


def backend_of(map_name: str, backend: str | None = None) -> str:
    """``backend`` if given, else the backend that owns ``map_name`` (default: SMAX)."""
    return backend or MAP_BACKENDS.get(map_name, DEFAULT_BACKEND)


def make_env(map_name: str, batch_size: int, backend: str = DEFAULT_BACKEND,
             device: str | torch.device = "cpu", obs_layout: str | None = None) -> BatchedEnv:
    """Build ``batch_size`` lockstep copies of ``map_name`` on ``backend`` with the observation
    layout ``obs_layout`` (None = the backend's own)."""
    module = backend_module(backend)
    try:
        return module.make(map_name, batch_size, device, obs_layout)
    except KeyError as err:
        raise EnvError(err.args[0]) from None


def canonical_map(map_name: str, backend: str = DEFAULT_BACKEND) -> str:
    """Resolve aliases (``3s_3z`` → ``3s_vs_3z``); unknown maps raise :class:`EnvError`."""
    try:
        return backend_module(backend).canonical_map(map_name)
    except KeyError as err:
        raise EnvError(err.args[0]) from None


def map_names(backend: str = DEFAULT_BACKEND) -> list[str]:
    return backend_module(backend).map_names()


DEFAULT_LAYOUTS = {"smax": "unit_list", "cav": "kinematics"}
"""Each backend's own observation layout (what a manifest that predates the record used)."""
LAYOUT_ALIASES = {"smax": "unit_list"}
"""``--obs smax`` names SMAX's own layout."""


def layout_of(env: dict) -> str:
    """The observation layout of a manifest's ``env`` block (its backend's own when unrecorded)."""
    return env.get("obs_layout") or DEFAULT_LAYOUTS.get(env.get("backend", DEFAULT_BACKEND), "unit_list")


def paper_eps(map_name: str) -> float:
    return PAPER_EPS.get(map_name, 0.25)


__all__ = ["BACKENDS", "BatchedEnv", "EnvError", "EnvInfo", "Observation", "StepResult", "backend_of", "make_env",
           "canonical_map", "map_names", "paper_eps"]
