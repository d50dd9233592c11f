"""Training runs that end in a checkpoint directory (the model zoo's entries).

``train_and_save`` = ``robench.train.train`` + a progress bar + a final clean evaluation
(``final_eval_episodes`` greedy episodes, one batch) + an atomic checkpoint write holding the
weights, the manifest and the training curve (``train_curve.csv``).
"""
from __future__ import annotations

import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tqdm import tqdm

from robench.checkpoint import protagonist_tensors, save_checkpoint
from robench.envs import make_env
from robench.evaluate import evaluate
from robench.learners.learner import LearnerConfig
from robench.train import TrainConfig, train

CURVE_FILE = "train_curve.csv"


def learner_tag(learner: LearnerConfig) -> str:
    """``vdn`` / ``qmix``, with ``_<agent>`` for a non-default agent network (``vdn_mlp``): the
    learner part of zoo directory names and of the training benchmark's figure keys."""
    return learner.mixer if learner.agent == LearnerConfig.agent else f"{learner.mixer}_{learner.agent}"


def checkpoint_name(cfg: TrainConfig) -> str:
    """The zoo directory name of a training run: ``<learner tag>_<defense>_s<seed>``."""
    return f"{learner_tag(cfg.learner)}_{cfg.defense}_s{cfg.seed}"


def train_and_save(cfg: TrainConfig, out: Path, overwrite: bool = False, show_progress: bool = True) -> dict[str, Any]:
    """Train with ``cfg`` and write the checkpoint to ``out``; return its manifest."""
    bar = tqdm(total=cfg.steps, unit="step", disable=not show_progress, file=sys.stderr, dynamic_ncols=True,
               smoothing=0.05)
    last_eval: dict[str, str] = {}

    def progress(t_env: int, episodes: int, recent_win: float, row: dict | None) -> None:
        if row is not None:
            last_eval["eval_win"] = f"{row['eval_win_rate']:.2f}"
        bar.update(min(t_env, cfg.steps) - bar.n)
        bar.set_postfix(episodes=episodes, train_win=f"{recent_win:.2f}", **last_eval, refresh=False)

    with tempfile.TemporaryDirectory(prefix="robench-train-") as tmp:
        curve_path = Path(tmp) / CURVE_FILE
        try:
            result = train(cfg, curve_path=curve_path, progress=progress)
        finally:
            bar.close()
        learner = result.learner
        clean, _ = evaluate(learner.policy_agent, cfg.env, backend=cfg.backend, episodes=cfg.final_eval_episodes,
                            seed=cfg.seed + 424_242, device=cfg.device)
        info = make_env(cfg.env, 1, cfg.backend).info()
        manifest = {
            "kind": "protagonist",
            "env": asdict(info),
            "learner": cfg.learner.mixer,
            "defense": cfg.defense,
            "eps": cfg.eps,
            "seed": cfg.seed,
            "steps": result.t_env,
            "episodes": result.episodes,
            "wall_time_s": round(result.wall_s, 2),
            "clean_win_rate": clean.win_rate,
            "clean_return": clean.mean_return,
            "clean_eval_episodes": clean.episodes,
            "config": asdict(cfg),
        }
        tensors = protagonist_tensors(learner.policy_agent, learner.policy_mixer)
        tensors.update({f"defense.{k}": v for k, v in result.defense_state.items()})
        return save_checkpoint(out, tensors, manifest, extra_files={CURVE_FILE: curve_path}, overwrite=overwrite)
