"""``robench report --format marl-eval``: results in marl-eval's raw-data JSON.

marl-eval (instadeepai/marl-eval, Gorsane et al. 2022) reads

    {environment: {task: {algorithm: {run: {"step_k": {"step_count": int, metric: [per episode]},
                                            "absolute_metrics": {metric: [per episode]}}}}}}

robench writes environment = the backend (``smax``, ``cav``), task = the map, algorithm =
``<learner>_<defense[variant]>``, run = ``run_<training seed>``, and, in ``absolute_metrics``,
one list of per-episode outcomes per evaluation cell: ``win_rate`` (won 1 / lost 0) or
``return`` and ``crash_rate`` where the backend declares them, clean as the bare name and
attacked as ``<metric>_<attack>_eps<ε>`` — every evaluation seed's episodes of the cell
concatenated, so a list's mean is the cell's score.  Steps come from the training curves
(``step_k`` = the k-th greedy evaluation, its ``step_count`` the env steps; one value, the
curve's mean).  A file holds one threat model, like every table.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from attacks import CLEAN
from robench.envs import declares

OUTCOMES = {"win_rate": "won", "return": "return", "crash_rate": "crashed"}
"""marl-eval metric name → per-episode column of the results store."""
CURVE_METRICS = {"win_rate": "eval_win_rate", "return": "eval_return", "crash_rate": "eval_crash_rate"}


def metric_name(metric: str, attack: str, eps: float) -> str:
    return metric if attack == CLEAN else f"{metric}_{attack}_eps{eps:g}"


def _metrics(backend: str) -> list[str]:
    return ["win_rate"] if declares(backend, "win_rate") else ["return", "crash_rate"]


def marl_eval_data(cells: pd.DataFrame, episodes: pd.DataFrame,
                   curves: dict[str, pd.DataFrame] | None = None) -> dict:
    """The nested marl-eval dict of ``cells`` (one threat model) from their ``episodes``;
    ``curves`` maps a checkpoint path to its training curve."""
    data: dict = {}
    by_cell = episodes.groupby("cell_id")
    for (backend, env, learner, defense, seed), group in cells.groupby(["backend", "env", "learner", "defense", "seed"]):
        run = data.setdefault(backend, {}).setdefault(env, {}).setdefault(f"{learner}_{defense}", {}) \
                  .setdefault(f"run_{int(seed)}", {})
        absolute = run.setdefault("absolute_metrics", {})
        for (attack, eps), cell in group.groupby(["attack", "eps"]):
            outcomes = pd.concat([by_cell.get_group(c) for c in cell.cell_id if c in by_cell.groups])
            for metric in _metrics(backend):
                absolute[metric_name(metric, attack, float(eps))] = outcomes[OUTCOMES[metric]].astype(float).tolist()
        curve = None if curves is None else next((curves[c] for c in group.checkpoint.unique() if c in curves), None)
        if curve is not None:
            for k, point in enumerate(curve.itertuples(index=False)):
                step = {"step_count": int(point.t_env)}
                step.update({m: [float(getattr(point, CURVE_METRICS[m]))] for m in _metrics(backend)})
                run[f"step_{k}"] = step
    return data


def marl_eval_json(cells: pd.DataFrame, results: Path, checkpoints: Path | None = None) -> str:
    """``marl_eval_data`` as JSON text, with episodes from the store ``results`` and training curves
    from ``checkpoints`` (when given)."""
    from robench.store import load_episodes

    episodes = load_episodes(results)
    curves = {}
    if checkpoints is not None:
        for path in cells.checkpoint.dropna().unique():
            curve = Path(path) / "train_curve.csv"
            if curve.is_file():
                curves[path] = pd.read_csv(curve)
    return json.dumps(marl_eval_data(cells, episodes[episodes.cell_id.isin(cells.cell_id)], curves), indent=1) + "\n"
