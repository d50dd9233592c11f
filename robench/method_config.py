"""Typed method settings: each attack and defense declares its hyperparameters as one frozen
dataclass with field docs (CleanRL's ``Args``, BenchMARL's ``QmixConfig``), and this module is
the one place that builds such a config from given values (``KEY=VALUE`` text, a TOML run file,
a manifest) and checks it.

A field's constraints ride on its metadata, declared with :func:`setting`:
  * ``choices`` — the allowed values of a string setting;
  * ``low`` / ``high`` — inclusive bounds of a numeric one (every float must also be finite);
  * ``added`` — for a setting declared after zoo runs were trained, the value that reproduces
    the behaviour before it existed: a manifest without the key reads as having that value;
  * ``from_victim`` — a setting ``for_victim`` takes from the victim (recorded in manifests,
    never given on the command line).

A default that depends on the protagonist's learner (ATSA's κ on QMIX) is the config's
``for_learner`` classmethod; one that depends on the victim (PAAD's director architecture) its
``for_victim`` method.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import MISSING, Field, asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, TypeVar

from robench.errors import RobenchError
from robench.options import Option, article, parse_pairs

if TYPE_CHECKING:
    from robench.learners.learner import LearnerConfig

C = TypeVar("C", bound="MethodConfig")
_NOT_ADDED = object()


def setting(default: Option | None, *, choices: tuple[str, ...] | None = None, low: float | None = None,
            high: float | None = None, added: Any = _NOT_ADDED, from_victim: bool = False) -> Any:
    """A config field with ``default`` and its constraints (module docstring)."""
    return field(default=default, metadata={"choices": choices, "low": low, "high": high, "added": added,
                                            "from_victim": from_victim})


@dataclass(frozen=True)
class MethodConfig:
    """Base of every method's settings; a method without settings uses it as is."""

    @classmethod
    def for_learner(cls: type[C], learner: str) -> C:
        """The defaults for a protagonist of ``learner`` (``vdn`` / ``qmix``); the same for both here."""
        return cls()

    def for_victim(self: C, learner: "LearnerConfig") -> C:
        """These settings for an adversary of a victim trained with ``learner``; the same here."""
        return self

    @classmethod
    def defaults(cls) -> dict[str, Option | None]:
        """Setting → its default (the types ``KEY=VALUE`` text is parsed to)."""
        return {f.name: f.default for f in fields(cls) if f.default is not MISSING}

    @classmethod
    def added(cls) -> dict[str, Any]:
        """Settings declared after zoo runs were trained → their behaviour-preserving value."""
        return {f.name: f.metadata["added"] for f in fields(cls) if f.metadata.get("added", _NOT_ADDED) is not _NOT_ADDED}

    @classmethod
    def from_victim(cls) -> tuple[str, ...]:
        """Settings taken from the victim (``for_victim``), never given."""
        return tuple(f.name for f in fields(cls) if f.metadata.get("from_victim"))

    @classmethod
    def choices(cls) -> dict[str, tuple[str, ...]]:
        """String settings → their allowed values."""
        return {f.name: f.metadata["choices"] for f in fields(cls) if f.metadata.get("choices")}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def expected_type(f: Field) -> type:
    """The type a setting takes: its default's (a ``None`` default takes a float)."""
    return float if f.default is None else type(f.default)


def describe(cls: type[MethodConfig]) -> str:
    """``key=default (a|b), …``: the settings of ``cls`` one can give, for a listing."""
    choices, derived = cls.choices(), cls.from_victim()
    return ", ".join(f"{k}={v}" + (f" ({'|'.join(choices[k])})" if k in choices else "")
                     for k, v in cls.defaults().items() if k not in derived)


def check(cfg: MethodConfig, owner: str) -> None:
    """Every setting of ``cfg`` within its choices and bounds, every float finite; else one error
    naming ``owner`` (e.g. ``defense 'atsa'``)."""
    for f in fields(cfg):
        value, meta = getattr(cfg, f.name), f.metadata
        if value is None:
            continue
        kind = expected_type(f)
        numeric = kind is float and isinstance(value, int)
        if (not isinstance(value, kind) and not numeric) or (isinstance(value, bool) and kind is not bool):
            raise RobenchError(f"{owner} option {f.name} expects {article(kind.__name__)}, got {value!r}")
        if meta.get("choices") and value not in meta["choices"]:
            raise RobenchError(f"{owner} option {f.name} must be one of {', '.join(meta['choices'])}, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise RobenchError(f"{owner} option {f.name} must be finite, got {value}")
        low, high = meta.get("low"), meta.get("high")
        if (low is not None and value < low) or (high is not None and value > high):
            span = f"[{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}]"
            raise RobenchError(f"{owner} option {f.name} must lie in {span}, got {value}")


def make(cls: type[C], given: Mapping[str, Any], owner: str, base: C | None = None) -> C:
    """``base`` (default ``cls()``) with the ``given`` settings, checked; an undeclared key is one
    error listing the settings ``owner`` has."""
    known = cls.defaults()
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise RobenchError(f"{owner} has no option {', '.join(unknown)}; its options: {', '.join(known) or 'none'}")
    floats = {f.name for f in fields(cls) if expected_type(f) is float}
    given = {k: float(v) if k in floats and type(v) is int else v for k, v in given.items()}  # TOML's 0 is 0.0
    cfg = replace(base if base is not None else cls(), **given)
    check(cfg, owner)
    return cfg


def parse(cls: type[MethodConfig], pairs: list[str], flag: str, owner: str) -> dict[str, Option]:
    """``KEY=VALUE`` strings → the given settings typed like ``cls``'s defaults and checked
    (the dict, not a config: what was given is what a manifest records).  A ``from_victim``
    setting is refused: the victim's checkpoint decides it."""
    given = parse_pairs(pairs, flag, cls.defaults(), unknown="keep")
    derived = sorted(set(given) & set(cls.from_victim()))
    if derived:
        raise RobenchError(f"{owner} option {', '.join(derived)} is taken from the victim's checkpoint, not given")
    make(cls, given, owner)
    return given
