"""Training runs that end in a checkpoint directory (the model zoo's entries).

``train_and_save`` = ``robench.train.train`` + a progress bar + a final clean evaluation
(``final_eval_episodes`` greedy episodes, one batch) + an atomic checkpoint write holding the
weights, the manifest and the training curve (``train_curve.csv``).  A defense's co-trained
adversaries become adversary checkpoints of their own, written *inside* the protagonist's
directory (``<run>/adv_<attack>/``) in the same atomic rename, each with ``co_trained_by`` and
the protagonist's hash as its victim, and listed (name → hash) in the protagonist's manifest;
each records the protagonist's final win rate under it at the training ε.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from robench.checkpoint import encode_tensors, protagonist_tensors, save_checkpoint, sha256_bytes
from robench.envs import declares, make_env
from robench.evaluate import evaluate
from robench.learners.learner import LearnerConfig
from robench.manifest import Manifest, adversary_manifest, protagonist_manifest
from robench.snapshot import SnapshotPolicy, drop_snapshot
from robench.train import TrainConfig, resolve_config, train

CURVE_FILE = "train_curve.csv"


def learner_tag(learner: LearnerConfig) -> str:
    """``vdn`` / ``qmix``, with ``_<agent>`` for a non-default agent network (``vdn_mlp``): the
    learner part of zoo directory names and of the training benchmark's figure keys."""
    return learner.mixer if learner.agent == LearnerConfig.agent else f"{learner.mixer}_{learner.agent}"


def share_tag(attack_prob: float) -> str:
    """``p<P>`` for an attacked share P, the point dropped: 1 → ``p1``, 0.25 → ``p025``."""
    return "p" + f"{attack_prob:g}".replace(".", "")


def checkpoint_name(cfg: TrainConfig) -> str:
    """The zoo directory name of a training run: ``<learner tag>_<defense>[_p<P>]_s<seed>``, with
    ``share_tag`` where the run sets an attacked share other than its defense's default."""
    from defenses import DEFENSES

    default = DEFENSES[cfg.defense].REGIME.attack_prob if cfg.defense in DEFENSES else None
    share = f"_{share_tag(cfg.attack_prob)}" if cfg.attack_prob not in (None, default) else ""
    return f"{learner_tag(cfg.learner)}_{cfg.defense}{share}_s{cfg.seed}"


SNAPSHOTS_ENV = "ROBENCH_SNAPSHOTS"
"""The environment variable naming the snapshots' root (default ``~/.cache/robench/snapshots``)."""


def snapshot_root() -> Path:
    """Where runs keep their snapshots unless told otherwise: ``$ROBENCH_SNAPSHOTS``, or
    ``~/.cache/robench/snapshots`` (local state, outside any zoo or git checkout)."""
    return Path(os.environ.get(SNAPSHOTS_ENV, "~/.cache/robench/snapshots")).expanduser()


def snapshot_policy(cfg: TrainConfig, out: Path, every: int, root: Path | None = None) -> SnapshotPolicy:
    """The snapshot of the run of ``cfg`` that writes ``out``: ``<root>/<out's name>-<digest>``, the
    digest of the resolved configuration and ``out``'s absolute path, so the same command finds its
    own snapshot again and a changed one starts afresh."""
    key = json.dumps({"config": asdict(resolve_config(cfg)), "out": str(Path(out).resolve())}, sort_keys=True,
                     default=str)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return SnapshotPolicy(Path(root or snapshot_root()) / f"{Path(out).name}-{digest}", every)


def pretrained_checkpoint(cfg: TrainConfig, root: Path, env: str | None = None) -> Path:
    """Where a fine-tuning defense (ROMANCE-p) starts from: the zoo entry under ``root`` of the NoAdv
    run of the same learner, agent network and seed on ``env`` (default: the run's own map)."""
    noadv = replace(cfg, defense="noadv", defense_options={}, attack_prob=None)
    return Path(root) / (env or cfg.env) / checkpoint_name(noadv)


def pretrained_start(cfg: TrainConfig, root: Path, warm_start: str | None = None) -> TrainConfig:
    """``cfg`` starting from ``pretrained_checkpoint`` under ``root`` when no ``init_from`` is set
    and either a ``warm_start`` map is given (every defense then starts from its NoAdv run there:
    the zoo's CAV recipe) or its defense fine-tunes a trained protagonist (``Defense.PRETRAINED``:
    the NoAdv run of its own map); else ``cfg`` as it is.  The one place that rule is applied (the
    CLI, the zoo build and the benchmarks call it)."""
    from defenses import DEFENSES

    fine_tunes = cfg.defense in DEFENSES and DEFENSES[cfg.defense].PRETRAINED
    if cfg.init_from is not None or (warm_start is None and not fine_tunes):
        return cfg
    return replace(cfg, init_from=str(pretrained_checkpoint(cfg, root, warm_start)))


def train_and_save(cfg: TrainConfig, out: Path, overwrite: bool = False, show_progress: bool = True,
                   snapshot: SnapshotPolicy | None = None) -> dict[str, Any]:
    """Train with ``cfg`` and write the checkpoint to ``out``; return its manifest.  With
    ``snapshot`` the run resumes from and keeps a snapshot (``robench.train.train``), removed once
    the checkpoint is written."""
    bar = tqdm(total=cfg.steps, unit="step", disable=not show_progress, file=sys.stderr, dynamic_ncols=True,
               smoothing=0.05)
    last_eval: dict[str, str] = {}

    wins = declares(cfg.backend, "win_rate")

    def progress(t_env: int, episodes: int, recent_win: float, row: dict | None) -> None:
        if row is not None and not wins:
            last_eval.update(eval_return=f"{row['eval_return']:.1f}", eval_crash=f"{row['eval_crash_rate']:.2f}")
        elif row is not None:
            last_eval["eval_win"] = f"{row['eval_win_rate']:.2f}"
        bar.update(min(t_env, cfg.steps) - bar.n)
        won = {"train_win": f"{recent_win:.2f}"} if wins else {}
        bar.set_postfix(episodes=episodes, **won, **last_eval, refresh=False)

    with tempfile.TemporaryDirectory(prefix="robench-train-") as tmp:
        curve_path = Path(tmp) / CURVE_FILE
        try:
            result = train(cfg, curve_path=curve_path, progress=progress, snapshot=snapshot)
        finally:
            bar.close()
        learner, parent, cfg = result.learner, result.parent, result.config
        clean, _ = evaluate(learner.policy_agent, cfg.env, backend=cfg.backend, obs_layout=cfg.obs_layout,
                            episodes=cfg.final_eval_episodes,
                            seed=cfg.seed + 424_242, device=cfg.device)
        info = make_env(cfg.env, 1, cfg.backend, obs_layout=cfg.obs_layout).info()
        tensors = protagonist_tensors(learner.policy_agent, learner.policy_mixer)
        victim_hash = sha256_bytes(encode_tensors(tensors))
        nested, linked = {}, {}
        for name, (adversary, adv_cfg) in result.adversaries.items():
            under, _ = evaluate(learner.policy_agent, cfg.env, backend=cfg.backend, attack=adv_cfg.attack, threat=cfg.threat,
                                obs_layout=cfg.obs_layout, episodes=cfg.final_eval_episodes,
                                seed=cfg.seed + 515_151, device=cfg.device, adversary=adversary)
            adv_manifest = adversary_manifest(adv_cfg.attack, adversary.director_kind, asdict(adv_cfg), info, victim_hash,
                                              cfg.learner.mixer, cfg.threat.eps, result.t_env, result.wall_s,
                                              under.win_rate, final_victim_return=under.mean_return,
                                              final_victim_crash_rate=under.crash_rate, co_trained_by=cfg.defense,
                                              co_trained_variant=cfg.defense_options)
            nested[name] = Path(tmp) / name
            linked[name] = Manifest(save_checkpoint(nested[name], adversary.state_dict(), adv_manifest)).content_hash
        manifest = protagonist_manifest(info, cfg.learner.mixer, cfg.defense, cfg.threat, cfg.seed, clean, result.regime,
                                        asdict(cfg), steps=result.t_env, episodes=result.episodes,
                                        wall_s=result.wall_s, profile=result.profile,
                                        defense_options_resolved=result.resolved_options,
                                        co_trained_adversaries=linked, parent=parent)
        events = tensorboard_events(result.curve, Path(tmp) / TENSORBOARD_DIR)
        if events is not None:
            nested[TENSORBOARD_DIR] = events
        saved = save_checkpoint(out, tensors, manifest, extra_files={CURVE_FILE: curve_path}, overwrite=overwrite,
                                nested=nested)
    if snapshot is not None:
        drop_snapshot(snapshot.directory)
    return saved


TENSORBOARD_DIR = "tensorboard"
"""Where a checkpoint keeps its training curve as TensorBoard events (with the ``tensorboard`` extra)."""


def tensorboard_events(curve: list[dict[str, float]], out: Path) -> Path | None:
    """The training curve's rows (``TrainResult.curve``, as written to ``train_curve.csv``) as
    TensorBoard scalars under ``out`` (``curve/<column>`` against env steps), or None when
    TensorBoard is not installed (``pip install 'robench[tensorboard]'``)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    import math

    writer = SummaryWriter(log_dir=str(out))
    for row in curve:
        for key, value in row.items():
            if key != "t_env" and math.isfinite(float(value)):
                writer.add_scalar(f"curve/{key}", float(value), int(row["t_env"]))
    writer.close()
    return out
