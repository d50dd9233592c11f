"""A training run's whole configuration as one file: ``robench train --print-config`` writes it as
TOML, ``robench train --config FILE`` reads it back — a TOML run file, or a checkpoint's
``manifest.json``, whose ``config`` is the ``TrainConfig`` it was trained with (so a zoo entry is
reproducible from its manifest alone).  Unset (None) settings are left out of the TOML and read
back as None; an unknown key is one error line."""
from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from robench.errors import RobenchError
from robench.learners.learner import LearnerConfig
from robench.manifest import Manifest, train_config_record
from robench.threat import DEFAULT_BOUNDS, LEGACY_BOUNDS, ThreatModel
from robench.train import TrainConfig, check_curve_attacks


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a TOML basic string


def to_toml(cfg: TrainConfig) -> str:
    """``cfg`` as TOML: the scalars, then ``[threat]``, ``[learner]`` and ``[defense_options]``."""
    data = asdict(cfg)
    learner, options, threat = data.pop("learner"), data.pop("defense_options"), data.pop("threat")
    lines = [f"{k} = {_toml_value(v)}" for k, v in data.items() if v is not None]
    for table, values in (("threat", threat), ("learner", learner), ("defense_options", options)):
        lines += ["", f"[{table}]"] + [f"{k} = {_toml_value(v)}" for k, v in values.items() if v is not None]
    return "\n".join(lines) + "\n"


def from_dict(data: dict[str, Any], where: str, absent_default: bool = False) -> TrainConfig:
    """A ``TrainConfig`` from its dict form (``asdict``; a flat ``eps`` and ``bounds`` as written
    before the threat model was a field: ``robench.manifest.train_config_record``), every key checked."""
    data = train_config_record(data, absent_bounds=DEFAULT_BOUNDS if absent_default else LEGACY_BOUNDS)
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(data) - known)
    learner = dict(data.get("learner", {}))
    unknown += sorted(f"learner.{k}" for k in set(learner) - {f.name for f in fields(LearnerConfig)})
    threat = dict(data.get("threat", {}))
    unknown += sorted(f"threat.{k}" for k in set(threat) - {f.name for f in fields(ThreatModel)})
    if unknown:
        raise RobenchError(f"{where}: unknown setting {', '.join(unknown)}")
    from defenses import DEFENSES

    attacks = data.get("curve_attacks", [])
    if not isinstance(attacks, list) or not all(isinstance(a, str) for a in attacks):
        raise RobenchError(f"{where}: curve_attacks must be a list of attack names, got {attacks!r}")
    check_curve_attacks(attacks)
    cfg = TrainConfig(**{**data, "learner": LearnerConfig(**learner), "threat": ThreatModel.from_dict(threat),
                         "defense_options": dict(data.get("defense_options", {}))})
    if cfg.defense not in DEFENSES:
        raise RobenchError(f"{where}: unknown defense {cfg.defense!r}; known: {', '.join(DEFENSES)}")
    DEFENSES[cfg.defense].config_for(cfg.learner.mixer, cfg.defense_options)
    return cfg


def load_config(path: Path) -> TrainConfig:
    """The run configuration in ``path``: TOML, or a checkpoint manifest (JSON) with its ``config``."""
    path = Path(path)
    try:
        if path.suffix == ".json" or path.is_dir():
            manifest = Manifest(json.loads((path / "manifest.json" if path.is_dir() else path).read_text()))
            if not manifest.config:
                raise RobenchError(f"{path} records no training configuration")
            return from_dict(manifest.config, str(path))
        return from_dict(tomllib.loads(path.read_text()), str(path), absent_default=True)
    except (OSError, tomllib.TOMLDecodeError, json.JSONDecodeError, TypeError) as err:
        raise RobenchError(f"cannot read a run configuration from {path}: {err}") from None
