"""Typed views of a checkpoint manifest: what older manifests lack is read as the value that
reproduces how they were made (``LearnerConfig``'s defaults for learner settings not yet recorded).

``Manifest`` is the one reader the zoo's consumers use (index, grid, figures, zoo build): the
JSON as ``robench.checkpoint.read_manifest`` validated it, its fields as typed properties, each
fallback for an older manifest stated once.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from robench.errors import RobenchError
from robench.learners.learner import LearnerConfig
from robench.threat import LEGACY_BOUNDS, ThreatModel, bounds_of

KINDS = ("protagonist", "adversary")
REQUIRED = ("kind", "content_hash", "env", "learner")


@dataclass(frozen=True)
class Manifest:
    """A checkpoint's manifest, typed (``raw``: the JSON as written)."""

    raw: dict[str, Any]

    def __post_init__(self) -> None:
        missing = [key for key in REQUIRED if key not in self.raw]
        if missing:
            raise RobenchError(f"manifest lacks {', '.join(missing)}")
        if self.raw["kind"] not in KINDS:
            raise RobenchError(f"manifest of unknown kind {self.raw['kind']!r}; kinds: {', '.join(KINDS)}")
        if "map_name" not in self.raw["env"]:
            raise RobenchError("manifest env lacks map_name")

    # -- every checkpoint ---------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return self.raw["kind"]

    @property
    def is_protagonist(self) -> bool:
        return self.kind == "protagonist"

    @property
    def content_hash(self) -> str:
        return self.raw["content_hash"]

    @property
    def map_name(self) -> str:
        return self.raw["env"]["map_name"]

    @property
    def backend(self) -> str:
        """The env backend (``smax`` for manifests that predate the record)."""
        return self.raw["env"].get("backend", "smax")

    @property
    def obs_layout(self) -> str:
        """The observation layout it was made on (``robench.envs.layout_of``: the legacy default
        for manifests that predate the record)."""
        from robench.envs import layout_of

        return layout_of(self.raw["env"])

    @property
    def threat(self) -> ThreatModel | None:
        """The threat model it was trained under (None for manifests that predate the record)."""
        record = self.raw.get("threat")
        return None if record is None else ThreatModel.from_dict(record)

    @property
    def bounds(self) -> str:
        """The bounds of its threat model (``features`` for manifests that predate the record)."""
        return bounds_of(self.raw)

    @property
    def learner(self) -> str:
        """A protagonist's mixer; an adversary's director kind."""
        return self.raw["learner"]

    @property
    def seed(self) -> int | None:
        return self.raw.get("seed")

    @property
    def steps(self) -> int | None:
        return self.raw.get("steps")

    @property
    def eps(self) -> float | None:
        return self.raw.get("eps")

    @property
    def wall_time_s(self) -> float | None:
        return self.raw.get("wall_time_s")

    # -- protagonists -------------------------------------------------------------------------
    @property
    def defense(self) -> str | None:
        return self.raw.get("defense")

    @property
    def clean_win_rate(self) -> float | None:
        return self.raw.get("clean_win_rate")

    @property
    def clean_return(self) -> float | None:
        return self.raw.get("clean_return")

    @property
    def init_from_map(self) -> str | None:
        return self.raw.get("init_from_map")

    @property
    def lineage_wall_time_s(self) -> float | None:
        """Wall time of the run and of the runs it started from (its own for older manifests)."""
        return self.raw.get("lineage_wall_time_s", self.wall_time_s)

    @property
    def learner_config(self) -> LearnerConfig:
        return learner_config(self.raw)

    # -- adversaries --------------------------------------------------------------------------
    @property
    def attack(self) -> str | None:
        return self.raw.get("attack")

    @property
    def victim(self) -> str | None:
        """The content hash of the protagonist the adversary was trained against."""
        return self.raw.get("victim")

    @property
    def victim_learner(self) -> str:
        """The victim's mixer (older adversary manifests: the ``learner`` field held it)."""
        return self.raw.get("victim_learner", self.learner)

    @property
    def co_trained_by(self) -> str | None:
        return self.raw.get("co_trained_by")

    @property
    def co_trained_variant(self) -> dict[str, Any]:
        return dict(self.raw.get("co_trained_variant") or {})

    @property
    def final_victim_win_rate(self) -> float | None:
        return self.raw.get("final_victim_win_rate")

    # -- provenance ---------------------------------------------------------------------------
    @property
    def robench_version(self) -> str | None:
        return self.raw.get("robench_version")

    @property
    def created(self) -> str | None:
        return self.raw.get("created")

    @property
    def origin(self) -> dict[str, Any]:
        """An imported model's origin (format, files and their SHA-256); empty for a trained one."""
        return dict(self.raw.get("origin") or {})

    @property
    def init_from_hash(self) -> str | None:
        return self.raw.get("init_from_hash")

    @property
    def co_trained_adversaries(self) -> dict[str, str]:
        """Entry name → content hash of the adversaries co-trained with this protagonist."""
        return dict(self.raw.get("co_trained_adversaries") or {})


def train_config_record(config: dict[str, Any], absent_bounds: str = LEGACY_BOUNDS) -> dict[str, Any]:
    """A recorded run configuration (a ``TrainConfig`` or ``AttackTrainConfig`` as ``asdict`` wrote
    it) in today's shape: configurations written before the threat model was a field hold its ε
    and ``bounds`` flat beside the run's settings; they move into ``threat``.  A configuration with a
    flat ε but no ``bounds`` predates the record too: ``absent_bounds`` (``features``, how such runs
    were made; a hand-written run file passes the default)."""
    config = dict(config)
    if "threat" in config or not {"eps", "bounds"} & set(config):
        return config
    threat = ThreatModel.from_dict({"eps": config.pop("eps", None), "bounds": config.pop("bounds", absent_bounds)})
    return {**config, "threat": threat.to_dict()}


def learner_config(manifest: dict[str, Any]) -> LearnerConfig:
    """The protagonist's ``LearnerConfig`` as recorded (``config.learner``), its mixer the manifest's
    ``learner``, every setting the manifest does not record at its default."""
    recorded = manifest.get("config", {}).get("learner", {})
    known = {f.name for f in fields(LearnerConfig)}
    return LearnerConfig(**{**{k: v for k, v in recorded.items() if k in known}, "mixer": manifest["learner"]})


def given_defense_options(manifest: dict[str, Any]) -> dict[str, Any]:
    """The defense hyperparameters a protagonist's run was given (``config.defense_options``;
    the resolved ones, defaults included, are ``defense_options_resolved``)."""
    return dict(manifest.get("config", {}).get("defense_options") or {})


def agent_shape(cfg: LearnerConfig) -> dict[str, Any]:
    """What fixes an agent network's weights' shapes, with the mixer: its kind, width and inputs."""
    return {"mixer": cfg.mixer, "agent": cfg.agent, "hidden": cfg.hidden, "last_action": cfg.last_action}
