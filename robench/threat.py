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

from dataclasses import asdict, dataclass, replace
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
    """ε, the norm, the attacked set M and the range K of ô (module docstring): the one value that
    travels from the command line to the attack (``bind``) and into every manifest and cell."""

    eps: float | None = None
    """L∞ radius of the perturbation; None = the paper's for the map, until ``resolved``.  A
    grid's threat model holds None: each cell takes its own radius (``at``)."""
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
        if self.eps is not None and not 0.0 <= self.eps <= 1.0:
            raise RobenchError(f"eps must lie in [0, 1], got {self.eps}")
        for name in ("attacked_agents", "features"):  # lists from flags and JSON become tuples
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> "ThreatModel":
        """The threat model ``to_dict`` wrote (a manifest's or a cell's ``threat``)."""
        return cls(**record)

    def at(self, eps: float) -> "ThreatModel":
        """The same threat model at radius ``eps``."""
        return replace(self, eps=float(eps))

    def resolved(self, default_eps: float) -> "ThreatModel":
        """This threat model with ``default_eps`` (the paper's for the map) where ε is not given."""
        return self if self.eps is not None else self.at(default_eps)

    def clean(self) -> "ThreatModel":
        """The threat model of a clean cell: ε = 0 on every agent and coordinate (its bounds kept)."""
        return ThreatModel(eps=0.0, bounds=self.bounds)

    def cell_key(self) -> dict[str, Any]:
        """What an attacked cell's content-addressed key holds of the threat model beside ε: M and the
        touchable features where set, ``bounds`` unless ``features`` — the convention of cells stored
        before the threat model was recorded, so their ids stay what they were (a clean cell's key
        holds none of it)."""
        key: dict[str, Any] = {}
        if self.attacked_agents is not None:
            key["attacked_agents"] = list(self.attacked_agents)
        if self.bounds != LEGACY_BOUNDS:
            key["bounds"] = self.bounds
        if self.features is not None:
            key["features"] = list(self.features)
        return key

    def limits(self, obs_low: torch.Tensor, obs_high: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """K as per-feature [low, high] tensors, given the environment's feature range."""
        return limits(self.bounds, obs_low, obs_high)

    def bind(self, obs_low: torch.Tensor, obs_high: torch.Tensor, n_agents: int) -> "BoundThreat":
        """This threat model on one environment: K from its feature range, M and the touchable
        coordinates as masks (an agent index ≥ N or a coordinate ≥ D is an error)."""
        low, high = self.limits(obs_low, obs_high)
        return BoundThreat(self, low, high, agent_mask(self.attacked_agents, n_agents),
                           feature_mask(self.features, obs_low.shape[-1]))

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


@dataclass(frozen=True)
class BoundThreat:
    """A threat model on one environment (``ThreatModel.bind``): what ``attacks.base.Attack``
    enforces at every step, ε given per call."""

    model: ThreatModel
    low: torch.Tensor
    """[D] lowest value of ô (K; −∞ with ``bounds=none``)."""
    high: torch.Tensor
    """[D] highest value of ô."""
    agents: torch.Tensor | None
    """[N] bool: the attacked set M (None = every agent)."""
    features: torch.Tensor | None
    """[D] bool: the coordinates the attack may touch (None = all)."""


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
    """The bounds a manifest or cell was made under (``features`` when it predates the record)."""
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


def agent_mask(agents: tuple[int, ...] | None, n_agents: int) -> torch.Tensor | None:
    """The attacked set M as an [N] bool mask (None = all agents); indices must lie in [0, N)."""
    if agents is None:
        return None
    bad = [i for i in agents if not 0 <= i < n_agents]
    if bad or not agents:
        raise RobenchError(f"attacked agents must be a non-empty subset of 0..{n_agents - 1}, got {list(agents)}")
    mask = torch.zeros(n_agents, dtype=torch.bool)
    mask[list(agents)] = True
    return mask


DEFAULT_THREAT = ThreatModel()
"""The zoo's threat model before a map is known: the paper's ε for the map, ``bounds = none``."""
NO_THREAT = ThreatModel(eps=0.0)
"""ε = 0 with the default bounds: a clean evaluation's threat model (``ThreatModel.at`` gives a radius)."""
