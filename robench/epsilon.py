"""Parsing of ε grids: ``start:stop[:step]`` (default step 0.05, stop included within float
tolerance), a comma list ``0.05,0.1,0.25``, or one number.  Every ε must lie in [0, 1]."""
from __future__ import annotations

import math

DEFAULT_STEP = 0.05
TOL = 1e-9


def _number(text: str, spec: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise ValueError(f"malformed ε range {spec!r}: {text!r} is not a number") from None
    if not math.isfinite(x):
        raise ValueError(f"malformed ε range {spec!r}: {text!r} is not finite")
    return x


def parse_eps(spec: str) -> list[float]:
    """ε values of ``spec`` in ascending order, without duplicates, rounded to 10 decimals."""
    spec = spec.strip()
    if not spec:
        raise ValueError("empty ε range")
    if ":" in spec:
        parts = spec.split(":")
        if len(parts) not in (2, 3) or any(not p.strip() for p in parts):
            raise ValueError(f"malformed ε range {spec!r}: expected start:stop[:step]")
        start, stop = _number(parts[0], spec), _number(parts[1], spec)
        step = _number(parts[2], spec) if len(parts) == 3 else DEFAULT_STEP
        if step <= 0:
            raise ValueError(f"malformed ε range {spec!r}: step must be positive")
        if stop < start:
            raise ValueError(f"malformed ε range {spec!r}: stop < start")
        _check_unit(start, spec)
        _check_unit(stop, spec)
        n = math.floor((stop - start) / step + TOL * 1e3)
        values = [start + i * step for i in range(n + 1)]
    else:
        items = spec.split(",")
        if any(not item.strip() for item in items):
            raise ValueError(f"malformed ε list {spec!r}: empty item")
        values = [_check_unit(_number(item, spec), spec) for item in items]
    return sorted({round(v, 10) for v in values})


def _check_unit(x: float, spec: str) -> float:
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"ε must lie in [0, 1]; got {x:g} in {spec!r}")
    return x
