"""Row identity: what tells two rows of a table apart, read from typed protagonist manifests.

A row of a table is (map, learner, defense, variant) under one protocol:

  * the **variant** (``variant_of``) names the defense hyperparameters a run was given and its
    learner settings that differ from the defense's zoo recipe, so rows of one defense that differ
    in them stay apart (``settings_of`` holds the same as structured data);
  * the **protocol** (``protocol_of``) names the observation layout and budget, and for a defense
    that perturbs in training its adversary's ``bounds`` and the regime of its rollouts; rows of
    different protocols never share a table (``robench.report``).

It reads the defense registry (a defense's zoo recipe, whether it perturbs in training), so it
sits above the registries; ``robench.manifest`` below them reads and writes the manifests.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from defenses import DEFENSES
from robench.envs import train_layout
from robench.learners.learner import LearnerConfig
from robench.manifest import Manifest
from robench.regime import ADDED
from robench.train import TrainConfig


def variant_of(manifest: Manifest) -> str:
    """The row label of a protagonist's settings: the defense hyperparameters it was given and
    its non-default learner settings (``settings_of``), e.g. ``alpha=0.2,kappa=0.01`` or
    ``agent=mlp,optimizer=adam`` ("" with the defaults)."""
    given = manifest.given_defense_options
    learner = settings_of(manifest)["learner"]
    return ",".join(sorted([_setting(k, v) for k, v in given.items()] + [_setting(k, v) for k, v in learner.items()]))


def settings_of(manifest: Manifest) -> dict[str, dict[str, Any]]:
    """A protagonist's settings as structured data: ``defense`` = its resolved defense
    hyperparameters (every one, defaults included), ``learner`` = the ``LearnerConfig`` settings
    that differ from the defense's zoo recipe (the defaults with ``Defense.zoo_learner``: PR's reward
    scale on SMAX).  ``variant_of`` is their row label; reports read these."""
    defaults = asdict(LearnerConfig())
    cls = DEFENSES.get(manifest.defense or "")
    recipe = {**defaults, **(cls.zoo_learner(manifest.backend) if cls else {})}
    recorded = {**defaults, **manifest.recorded_learner_settings}
    learner = {k: v for k, v in recorded.items() if k != "mixer" and k in recipe and v != recipe[k]}
    return {"defense": {**manifest.given_defense_options, **manifest.defense_options_resolved}, "learner": learner}


def protocol_of(manifest: Manifest) -> str:
    """The training protocol of a protagonist as a row label
    (``obs=smac,steps=2000000,bounds=none,attack_prob=0.5,…``)."""
    return protocol_label(manifest.defense or "", manifest.obs_layout, manifest.budget, manifest.bounds,
                          manifest.regime.to_dict())


def protocol_label(defense: str, obs_layout: str, steps: int, bounds: str, regime: dict[str, Any]) -> str:
    """``protocol_of`` from its parts; NoAdv's rollouts are clean, so only its layout and budget count."""
    parts = [f"obs={obs_layout}", f"steps={steps}"]
    cls = DEFENSES.get(defense)
    if cls is not None and cls.perturbs_training():
        parts.append(f"bounds={bounds}")
    if cls is not None and cls.attacks_in_rollouts():
        parts += [_setting(k, v) for k, v in regime.items() if ADDED.get(k, ...) != v]
    return ",".join(parts)


def current_protocol(defense: str, backend: str = "smax") -> str:
    """The protocol a run of ``defense`` gets today (``TrainConfig`` and ``Defense.REGIME`` defaults)."""
    regime = DEFENSES[defense].REGIME.to_dict() if defense in DEFENSES else {}
    layout = TrainConfig().obs_layout or train_layout(backend) or "unit_list"
    return protocol_label(defense, layout, TrainConfig().steps, TrainConfig().threat.bounds, regime)


def _setting(key: str, value: Any) -> str:
    """``key=value`` with numbers in ``%g`` form."""
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    return f"{key}={value:g}" if numeric else f"{key}={value}"
