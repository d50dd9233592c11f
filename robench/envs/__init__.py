"""Environment registry: backend name → module that builds a :class:`BatchedEnv`.

Adding a backend (``sc2``, ``cav``…) is one module exposing ``make(map_name, batch_size,
device, obs_layout)``, ``canonical_map`` and ``map_names()`` plus one ``Backend`` record in
``BACKENDS`` (its metrics, layouts, copy limit and maps).  Backends are imported lazily so
that a missing optional dependency only matters when that backend is asked for.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

import torch

from robench.envs.protocol import BatchedEnv, EnvInfo, Observation, StepResult
from robench.errors import RobenchError

@dataclass(frozen=True)
class Backend:
    """What robench knows of one environment backend, without importing its module (a missing
    optional dependency only matters when the backend is asked for)."""

    name: str
    module: str
    """The module exposing ``make``, ``canonical_map`` and ``map_names``."""
    metrics: tuple[str, ...]
    """The episode outcomes it declares, headline first: SMAC-like maps are won or lost (``won``),
    CAV episodes have no winner but can end in a crash (``crashed``).  Commands print, tabulate and
    plot only these."""
    own_layout: str = "unit_list"
    """Its own observation layout (what a manifest that predates the layout record used)."""
    train_layout: str | None = None
    """The layout a run trains on unless told otherwise (None: its own; docs/threat-model.md)."""
    max_copies: int | None = None
    """At most this many lockstep copies (heavyweight processes: a StarCraft II game each);
    evaluations of more episodes run in sequential batches.  None: no limit."""
    curve_episodes: int = 500
    """Episodes of each training-curve evaluation unless a run says (``TrainConfig.eval_episodes``):
    a CAV episode costs ~100 supervised env steps, so 500 of them every 50 000 training steps would
    be half of a run (docs/performance.md); the curve is only a record, nothing selects on it."""
    maps: tuple[str, ...] = ()
    """Maps it owns that are not the default backend's (so ``--env merge`` needs no ``--backend``)."""


BACKENDS: dict[str, Backend] = {b.name: b for b in (
    Backend("smax", "robench.envs.smax", ("win_rate", "mean_return"), own_layout="unit_list", train_layout="smac"),
    Backend("cav", "robench.envs.cav", ("mean_return", "crash_rate"), own_layout="kinematics",
            train_layout="kinematics", curve_episodes=100, maps=("merge", "merge_safe")),
    Backend("sc2", "robench.envs.sc2", ("win_rate", "mean_return"), max_copies=8),
)}
"""Backend name → its record."""

DEFAULT_BACKEND = "smax"


def max_copies(backend: str) -> int | None:
    """The most lockstep copies ``backend`` runs at once (None: no limit)."""
    return BACKENDS[backend].max_copies if backend in BACKENDS else None


def declares(backend: str, metric: str) -> bool:
    """Whether ``backend``'s episodes have ``metric`` (``Backend.metrics``; unknown: SMAC-like)."""
    return metric in BACKENDS.get(backend, BACKENDS[DEFAULT_BACKEND]).metrics


def outcome_text(backend: str, win_rate: float, mean_return: float, crash_rate: float) -> str:
    """An evaluation's outcome as printed: the metrics the backend declares (``Backend.metrics``)."""
    if declares(backend, "win_rate"):
        return f"win rate {win_rate:.3f}"
    return f"return {mean_return:.2f}, crash rate {crash_rate:.3f}"


def curve_episodes(backend: str) -> int:
    """Episodes of a training-curve evaluation on ``backend`` (``Backend.curve_episodes``)."""
    return BACKENDS.get(backend, BACKENDS[DEFAULT_BACKEND]).curve_episodes


def train_layout(backend: str) -> str | None:
    """The observation layout a run on ``backend`` trains on unless told otherwise."""
    return BACKENDS[backend].train_layout if backend in BACKENDS else None

PAPER_EPS = {"3m": 0.25, "3s_vs_3z": 0.25, "3s_3z": 0.25, "8m": 0.10, "merge": 0.05, "merge_safe": 0.05}
"""The paper's L∞ budget per map (docs/design.md, Defaults from the paper); 0.25 elsewhere."""


class EnvError(RobenchError):
    """An unknown backend or map, or a backend whose dependency is missing."""


def backend_module(backend: str):
    if backend not in BACKENDS:
        raise EnvError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
    return importlib.import_module(BACKENDS[backend].module)


def backend_of(map_name: str, backend: str | None = None) -> str:
    """``backend`` if given, else the backend that owns ``map_name`` (default: SMAX)."""
    return backend or next((b.name for b in BACKENDS.values() if map_name in b.maps), DEFAULT_BACKEND)


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


LAYOUT_ALIASES = {"smax": "unit_list"}
"""``--obs smax`` names SMAX's own layout."""


def layout_of(env: dict) -> str:
    """The observation layout of a manifest's ``env`` block (its backend's own when unrecorded)."""
    backend = BACKENDS.get(env.get("backend", DEFAULT_BACKEND))
    return env.get("obs_layout") or (backend.own_layout if backend else "unit_list")


def paper_eps(map_name: str) -> float:
    return PAPER_EPS.get(map_name, 0.25)


__all__ = ["BACKENDS", "Backend", "BatchedEnv", "EnvError", "EnvInfo", "Observation", "StepResult", "backend_of", "make_env",
           "canonical_map", "map_names", "outcome_text", "paper_eps"]
