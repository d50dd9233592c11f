"""The threat model: what an observation adversary may do, as one recorded value.

An attack maps the clean observation o_i of every attacked agent i ∈ M to ô_i with

    ‖ô_i − o_i‖∞ ≤ ε          (the paper's L∞ ball, Sec. 3)
    ô_i ∈ K                    (how ô is kept in range: ``bounds``)

and leaves agents outside M alone.  ``bounds`` chooses K:

  * ``features`` — the environment's per-feature range [obs_low, obs_high] (a health or a unit-type
    bit stays in [0, 1], a relative position in [−1, 1]);
  * ``box``      — one interval [−1, 1] for every feature (widened to a feature's own range where
    that exceeds it, e.g. the CAV ego row's absolute x, so that every clean o lies inside K);
  * ``none``     — no clipping: K = ℝ^D (the convention of the ATSA authors' FGSM and PGD, which
    never clamp to observation bounds).

The ``paper`` preset is ε from the paper's Table 1 with ``bounds = none``; every zoo table is
made under one threat model, recorded with each checkpoint and cell, and never mixed with
another (``docs/threat-model.md``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

from robench.errors import RobenchError

BOUNDS = ("features", "box", "none")
"""The ways of keeping ô in range (see the module docstring)."""
BOX = (-1.0, 1.0)
"""The interval of ``bounds = box``."""
DEFAULT_BOUNDS = "none"
"""The zoo's convention: the ATSA authors' (``paper`` preset)."""
LEGACY_BOUNDS = "features"
"""What a manifest or cell written before the threat model was recorded was made under."""
PRESETS = {"paper": {"bounds": "none"}, "features": {"bounds": "features"}}
"""Named threat models (``--threat``): the ATSA authors' convention, and robench's earlier one."""


@dataclass(frozen=True)
class ThreatModel:
    """ε, the norm, the attacked set M and the range K of ô (module docstring)."""

    eps: float
    """L∞ radius of the perturbation."""
    bounds: str = DEFAULT_BOUNDS
    """``features`` | ``box`` | ``none``."""
    attacked_agents: tuple[int, ...] | None = None
    """The attacked set M (agent indices); None = every agent."""
    features: tuple[int, ...] | None = None
    """The observation coordinates an attack may touch (indices); None = every coordinate.  The
    others keep their clean values."""
    norm: str = "linf"
    """Only L∞ is implemented."""

    def __post_init__(self) -> None:
        check_bounds(self.bounds)
        if not 0.0 <= self.eps <= 1.0:
            raise RobenchError(f"eps must lie in [0, 1], got {self.eps}")

    def limits(self, obs_low: torch.Tensor, obs_high: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """K as per-feature [low, high] tensors, given the environment's feature range."""
        return limits(self.bounds, obs_low, obs_high)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["attacked_agents"] = None if self.attacked_agents is None else list(self.attacked_agents)
        out["features"] = None if self.features is None else list(self.features)
        return out

    def label(self) -> str:
        """A short caption: ``L∞ ε=0.25, bounds=none`` (``, M={0}`` for a subset)."""
        m = "" if self.attacked_agents is None else f", M={{{','.join(map(str, self.attacked_agents))}}}"
        f = "" if self.features is None else f", features={feature_spec(self.features)}"
        return f"L∞ ε={self.eps:g}, bounds={self.bounds}{m}{f}"


def check_bounds(bounds: str) -> str:
    if bounds not in BOUNDS:
        raise RobenchError(f"bounds must be one of {', '.join(BOUNDS)}, got {bounds!r}")
    return bounds


def resolve_bounds(bounds: str | None = None, threat: str | None = None) -> str:
    """``--bounds`` / ``--threat`` → a bounds mode (an explicit ``bounds`` wins; default ``none``)."""
    if bounds is not None:
        return check_bounds(bounds)
    if threat is not None:
        if threat not in PRESETS:
            raise RobenchError(f"unknown threat preset {threat!r}; known: {', '.join(PRESETS)}")
        return PRESETS[threat]["bounds"]
    return DEFAULT_BOUNDS


def limits(bounds: str, obs_low: torch.Tensor, obs_high: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[low, high] per feature for ``bounds`` (``none``: ∓∞, so Proj only enforces the ε-ball)."""
    check_bounds(bounds)
    if bounds == "features":
        return obs_low, obs_high
    if bounds == "box":
        return torch.clamp(obs_low, max=BOX[0]), torch.clamp(obs_high, min=BOX[1])
    return torch.full_like(obs_low, -torch.inf), torch.full_like(obs_high, torch.inf)


def bounds_of(record: dict[str, Any]) -> str:
    """The bounds a manifest or cell key was made under (``features`` when it predates the record)."""
    threat = record.get("threat") or {}
    return threat.get("bounds", LEGACY_BOUNDS)


def parse_features(text: str) -> tuple[int, ...]:
    """``"0:4,10,20:25"`` (Python-style half-open ranges and single indices) → sorted indices."""
    out: set[int] = set()
    try:
        for part in filter(None, (x.strip() for x in text.split(","))):
            if ":" in part:
                lo, hi = (int(v) for v in part.split(":", 1))
                if hi <= lo:
                    raise ValueError
                out.update(range(lo, hi))
            else:
                out.add(int(part))
    except ValueError:
        raise RobenchError(f"features must be indices and ranges like 0:4,10 (non-empty, increasing), got {text!r}") from None
    if not out or min(out) < 0:
        raise RobenchError(f"features must be non-negative indices, got {text!r}")
    return tuple(sorted(out))


def feature_spec(features: tuple[int, ...]) -> str:
    """The shortest ``parse_features`` text of ``features`` (runs as ``a:b``)."""
    runs, start = [], None
    for i, f in enumerate(features):
        if start is None:
            start = f
        if i + 1 == len(features) or features[i + 1] != f + 1:
            runs.append(str(start) if f == start else f"{start}:{f + 1}")
            start = None
    return ",".join(runs)


def feature_mask(features: tuple[int, ...] | None, obs_dim: int) -> torch.Tensor | None:
    """The touchable coordinates as a [D] bool mask (None = all); an index ≥ D is an error."""
    if features is None:
        return None
    if max(features) >= obs_dim:
        raise RobenchError(f"features {feature_spec(features)} reach past the observation's {obs_dim} coordinates")
    mask = torch.zeros(obs_dim, dtype=torch.bool)
    mask[list(features)] = True
    return mask
