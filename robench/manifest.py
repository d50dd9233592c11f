"""Typed checkpoint manifests: reading, writing and the legacy defaults, in one module.

``Manifest`` is the one reader (index, grid, figures, zoo build, loaders): the JSON as
``robench.checkpoint.read_manifest`` validated it (``check_record``), its fields as typed
properties, each fallback for an older manifest stated once (what older manifests lack is read as
the value that reproduces how they were made: ``LearnerConfig``'s defaults for learner settings
not yet recorded, ``LEGACY`` for the regime, ``features`` for the bounds).  ``protagonist_manifest``
and ``adversary_manifest`` are the writers.  Row identity (variants, protocols), which needs the
defense registry, is ``robench.rows``, above it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Protocol

from robench.envs import layout_of
from robench.envs.protocol import EnvInfo
from robench.errors import RobenchError
from robench.learners.learner import LearnerConfig
from robench.regime import LEGACY, Regime
from robench.threat import LEGACY_BOUNDS, ThreatModel, bounds_of


class CleanEvaluation(Protocol):
    """What a protagonist manifest records of its clean evaluation (``robench.evaluate.EvalResult``)."""

    win_rate: float
    mean_return: float
    crash_rate: float
    episodes: int

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
    def recorded_backend(self) -> str | None:
        """The env backend as recorded (None for manifests that predate the record)."""
        return self.raw["env"].get("backend")

    @property
    def env_record(self) -> dict[str, Any]:
        """The ``env`` block (an ``EnvInfo``'s fields) with its observation layout resolved."""
        return {**self.raw["env"], "obs_layout": self.obs_layout}

    @property
    def format(self) -> str | None:
        return self.raw.get("format")

    @property
    def weights_file(self) -> str | None:
        """The weights file's name as recorded (None: the format's default name)."""
        return (self.raw.get("weights") or {}).get("file")

    @property
    def obs_layout(self) -> str:
        """The observation layout it was made on (``robench.envs.layout_of``: the legacy default
        for manifests that predate the record)."""
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

    @property
    def profile(self) -> dict[str, float]:
        """Wall seconds of the run's parts (rollouts, learner updates, …; empty where not recorded)."""
        return dict(self.raw.get("profile") or {})

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
    def clean_crash_rate(self) -> float | None:
        return self.raw.get("clean_crash_rate")

    @property
    def clean_eval_episodes(self) -> int | None:
        return self.raw.get("clean_eval_episodes")

    @property
    def lineage_steps(self) -> int:
        """Env steps of the run and of the runs it started from (its own for older manifests)."""
        return int(self.raw.get("lineage_steps", self.steps or 0))

    @property
    def init_from_map(self) -> str | None:
        return self.raw.get("init_from_map")

    @property
    def lineage_wall_time_s(self) -> float | None:
        """Wall time of the run and of the runs it started from (its own for older manifests)."""
        return self.raw.get("lineage_wall_time_s", self.wall_time_s)

    @property
    def learner_config(self) -> LearnerConfig:
        """The protagonist's ``LearnerConfig`` as recorded (``recorded_learner_settings``), its mixer
        the manifest's ``learner``, every setting the manifest does not record at its default."""
        known = {f.name for f in fields(LearnerConfig)}
        recorded = {k: v for k, v in self.recorded_learner_settings.items() if k in known}
        return LearnerConfig(**{**recorded, "mixer": self.raw["learner"]})

    @property
    def config(self) -> dict[str, Any]:
        """The run configuration as recorded, in today's shape (``train_config_record``; empty for
        manifests that predate the record)."""
        return train_config_record(self.raw.get("config") or {})

    @property
    def budget(self) -> int:
        """The run's env-step budget (``config.steps``; the steps it ran for older manifests)."""
        return int((self.raw.get("config") or {}).get("steps", self.steps or 0))

    @property
    def regime(self) -> Regime:
        """The regime it was trained under (``LEGACY`` for manifests that predate the record)."""
        return regime_of(self.raw)

    @property
    def given_defense_options(self) -> dict[str, Any]:
        """The defense hyperparameters the run was given (``config.defense_options``; the resolved
        ones, defaults included, are ``defense_options_resolved``)."""
        return dict((self.raw.get("config") or {}).get("defense_options") or {})

    @property
    def recorded_learner_settings(self) -> dict[str, Any]:
        """The ``LearnerConfig`` settings the manifest records (``config.learner``; those it
        predates are absent)."""
        return dict((self.raw.get("config") or {}).get("learner") or {})

    @property
    def defense_options_resolved(self) -> dict[str, Any]:
        """The defense's hyperparameters as resolved for the run, defaults included (empty for
        manifests that predate the record)."""
        return dict(self.raw.get("defense_options_resolved") or {})

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

    @property
    def final_victim_return(self) -> float | None:
        return self.raw.get("final_victim_return")

    @property
    def final_victim_crash_rate(self) -> float | None:
        return self.raw.get("final_victim_crash_rate")

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


# -- writers: the manifest of a new checkpoint, every field named once ----------------------------
def protagonist_manifest(info: EnvInfo, learner: str, defense: str, threat: ThreatModel, seed: int,
                         clean: CleanEvaluation, regime: Regime, config: dict[str, Any], *, steps: int = 0,
                         episodes: int = 0, wall_s: float = 0.0, profile: dict[str, float] | None = None,
                         defense_options_resolved: dict[str, Any] | None = None,
                         co_trained_adversaries: dict[str, str] | None = None, parent: Manifest | None = None,
                         origin: dict[str, Any] | None = None) -> dict[str, Any]:
    """The manifest of a protagonist checkpoint: its env, mixer ``learner``, defense, threat model
    (ε flat beside it for older readers), regime and configuration; the run's steps, episodes,
    wall seconds and ``profile``; the clean evaluation; the adversaries co-trained with it (entry
    name → content hash); the protagonist it started from (``parent``) and the lineage totals over
    both; an imported model's ``origin``."""
    record = {
        "kind": "protagonist", "env": asdict(info), "learner": learner, "defense": defense, "eps": threat.eps,
        "seed": seed, "steps": steps, "episodes": episodes, "wall_time_s": round(wall_s, 2),
        "clean_win_rate": clean.win_rate, "clean_return": clean.mean_return, "clean_crash_rate": clean.crash_rate,
        "clean_eval_episodes": clean.episodes, "defense_options_resolved": dict(defense_options_resolved or {}),
        "threat": threat.to_dict(), "regime": regime.to_dict(),
        "co_trained_adversaries": dict(co_trained_adversaries or {}),
        "init_from_hash": None if parent is None else parent.content_hash,
        "init_from_map": None if parent is None else parent.map_name,
        "lineage_steps": steps + (0 if parent is None else parent.lineage_steps),
        "lineage_wall_time_s": round(wall_s + (0.0 if parent is None else float(parent.lineage_wall_time_s)), 2),
        "config": config,
    }
    if profile is not None:
        record["profile"] = profile
    if origin is not None:
        record["origin"] = origin
    return record


def adversary_manifest(attack: str, director_kind: str, config: dict[str, Any], info: EnvInfo, victim_hash: str,
                       victim_learner: str, eps: float, t_env: int, wall_s: float, final_victim_win_rate: float,
                       **provenance: Any) -> dict[str, Any]:
    """The manifest of an adversary checkpoint of ``attack`` (its director ``director_kind``; its
    ``AttackTrainConfig`` as ``config``), trained at ``eps`` against the protagonist whose weights
    hash to ``victim_hash`` (mixer ``victim_learner``); ``provenance``: e.g. ``co_trained_by``, the
    victim's final return and crash rate."""
    threat = ThreatModel.from_dict(config["threat"]).at(eps)
    return {"kind": "adversary", "attack": attack, "env": asdict(info), "learner": director_kind,
            "victim": victim_hash, "victim_learner": victim_learner, "eps": eps,
            "seed": config["seed"], "steps": t_env, "wall_time_s": round(wall_s, 2),
            "final_victim_win_rate": final_victim_win_rate, "config": config, "threat": threat.to_dict(), **provenance}


def regime_of(manifest: dict[str, Any]) -> Regime:
    """The regime a protagonist manifest was trained under (``LEGACY`` when it predates the record)."""
    return Regime(**manifest["regime"]) if manifest.get("regime") else LEGACY


def check_record(manifest: Any, required: tuple[str, ...], fmt: str) -> str | None:
    """Why a parsed ``manifest.json`` is not a manifest of format ``fmt`` with the ``required``
    fields (None when it is one)."""
    if not isinstance(manifest, dict) or any(k not in manifest for k in required):
        missing = [k for k in required if not isinstance(manifest, dict) or k not in manifest]
        return f"lacks {', '.join(missing)}"
    if manifest["format"] != fmt:
        return f"unsupported format {manifest['format']!r} (expected {fmt})"
    return None


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


def agent_shape(cfg: LearnerConfig) -> dict[str, Any]:
    """What fixes an agent network's weights' shapes, with the mixer: its kind, width and inputs."""
    return {"mixer": cfg.mixer, "agent": cfg.agent, "hidden": cfg.hidden, "last_action": cfg.last_action}
