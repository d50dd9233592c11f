"""Typed views of a checkpoint manifest: what older manifests lack is read as the value that
reproduces how they were made (``LearnerConfig``'s defaults for learner settings not yet recorded)."""
from __future__ import annotations

from dataclasses import fields
from typing import Any

from robench.learners.learner import LearnerConfig


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
