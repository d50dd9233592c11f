"""``robench bench``: the performance figures of the foundation.

(a) eval — E FGSM-attacked episodes on 3m evaluated as one batch vs the same model and code
    evaluated one episode at a time (``batch_size=1``; ``--single-episodes`` of them, compared
    per episode), plus the raw batched env stepping rate at the same B (uniform random available
    actions, no network): the ceiling any evaluator can reach.
(c) grid — cells per minute of the cross-evaluation grid and the projected time of the paper's
    full grid (3 maps × 2 learners × 12 defenses × 6 attacks, 500 episodes per cell).
(d) cav — the CAV merge backend, for ``merge`` and ``merge_safe`` (with the safety supervisor):
    env steps/s at B = 1 in-process and at B = 8 over 2 worker processes (IDLE actions), and the
    random policy's crash rate and mean return over ``--episodes`` episodes; the cost of one
    highway-env policy step itself (the limit).
(e) defenses — wall time of the one training loop under each registered defense at a fixed
    step budget on 3m, as a ratio to NoAdv's (NoAdv timed before and after, averaged), per learner:
    the "≤ 1.5× NoAdv" bar of the defense issues.
(f) scaling — the cores: NoAdv VDN on 3m for ``--scaling-steps`` env steps as one process with
    every core's torch thread, then as one 1-thread process per core side by side (what
    ``zoo build --jobs auto`` does); the throughput ratio and each run's training profile.
(b) train — wall-clock minutes and env steps for VDN and QMIX (default settings) on 3m to reach
    ≥ 95 % greedy win rate over 500 evaluation episodes, within ``--train-minutes``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from robench.checkpoint import load_protagonist, read_manifest
from robench.envs import make_env
from robench.evaluate import evaluate
from robench.learners.learner import LearnerConfig
from robench.manifest import Manifest
from robench.runtime import configure_torch
from robench.threat import NO_THREAT

DEFAULT_CHECKPOINT = Path("checkpoints/3m/vdn_noadv_s0")
TARGET_WIN_RATE = 0.95


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def env_step_rate(map_name: str, batch: int, steps: int = 50, seed: int = 0) -> float:
    """Env steps per second of ``batch`` lockstep copies under random available actions."""
    env = make_env(map_name, batch)
    gen = torch.Generator().manual_seed(seed)
    cur = env.reset(seed)
    env.step(torch.zeros(batch, env.info().n_agents, dtype=torch.int64) + 4)  # compile outside the timing
    cur = env.reset(seed + 1)
    start, n = time.perf_counter(), 0
    for _ in range(steps):
        scores = torch.rand(cur.avail.shape, generator=gen).masked_fill(~cur.avail, -1.0)
        cur = env.step(scores.argmax(-1))
        n += batch
    return n / (time.perf_counter() - start)


def bench_eval(checkpoint: Path, episodes: int, single: int, eps: float) -> dict[str, float]:
    configure_torch()
    agent, _, manifest = load_protagonist(checkpoint)
    record = Manifest(manifest)
    map_name, layout = record.map_name, record.obs_layout
    evaluate(agent, map_name, attack="fgsm", threat=NO_THREAT.at(eps), episodes=episodes, seed=99, obs_layout=layout)  # warm-up: B
    evaluate(agent, map_name, attack="fgsm", threat=NO_THREAT.at(eps), episodes=1, seed=99, obs_layout=layout)  # and B = 1
    t0 = time.perf_counter()
    batched, _ = evaluate(agent, map_name, attack="fgsm", threat=NO_THREAT.at(eps), episodes=episodes, seed=1, obs_layout=layout)
    t_batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    one, _ = evaluate(agent, map_name, attack="fgsm", threat=NO_THREAT.at(eps), episodes=single, seed=1, batch_size=1,
                      obs_layout=layout)
    t_single = time.perf_counter() - t0
    per_batched, per_single = t_batched / episodes, t_single / single
    figures = {
        "eval_episodes": episodes,
        "eval_seconds_batched": round(t_batched, 3),
        "eval_episodes_per_s": round(episodes / t_batched, 2),
        "eval_single_episodes": single,
        "eval_single_episodes_per_s": round(single / t_single, 3),
        "eval_speedup_ratio": round(per_single / per_batched, 1),
        "env_steps_per_s_limit": round(env_step_rate(map_name, episodes), 1),
        "eval_fgsm_win_rate": batched.win_rate,
        "eval_single_fgsm_win_rate": one.win_rate,
        "eval_mean_episode_length": batched.mean_length,
        "eval_env_steps_per_s": round(batched.mean_length * episodes / t_batched, 1),
    }
    _say(f"[eval] {episodes} FGSM(ε={eps}) episodes batched: {t_batched:.2f} s ({figures['eval_episodes_per_s']} ep/s); "
         f"one at a time: {figures['eval_single_episodes_per_s']} ep/s → per-episode speed-up "
         f"{figures['eval_speedup_ratio']}×; env-only limit at B={episodes}: {figures['env_steps_per_s_limit']} "
         f"steps/s vs {figures['eval_env_steps_per_s']} steps/s with the attacked agent")
    return figures


def bench_train(learner: LearnerConfig, minutes: float, save_dir: Path | None) -> dict[str, float]:
    """Train with default settings (but ``learner``) until a 500-episode greedy evaluation
    reaches 95 % or the budget ends; the run is kept as a checkpoint under ``save_dir`` when
    given.  Figures are keyed ``train_<learner tag>`` (``vdn``, ``vdn_mlp``; the other learner
    settings are in the saved manifest, not in the keys)."""
    import csv
    import tempfile

    from robench.train import TrainConfig
    from robench.runs import CURVE_FILE, checkpoint_name, learner_tag, train_and_save

    cfg = TrainConfig(env="3m", steps=10**9, eval_every=25_000, eval_episodes=500, stop_win_rate=TARGET_WIN_RATE,
                      max_wall_s=minutes * 60, learner=learner)
    tag = learner_tag(learner)
    with tempfile.TemporaryDirectory() as tmp:
        out = (save_dir / checkpoint_name(cfg)) if save_dir else Path(tmp) / "ck"
        manifest = train_and_save(cfg, out, overwrite=True, show_progress=True)
        curve = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(open(out / CURVE_FILE))]
    hit = next((r for r in curve if r["eval_win_rate"] >= TARGET_WIN_RATE), None)
    best = max(curve, key=lambda r: r["eval_win_rate"])
    pct = int(TARGET_WIN_RATE * 100)
    figures = {
        f"train_{tag}_reached_{pct}": hit is not None,
        f"train_{tag}_minutes_to_{pct}": round(hit["wall_s"] / 60, 2) if hit else None,
        f"train_{tag}_steps_to_{pct}": int(hit["t_env"]) if hit else None,
        f"train_{tag}_best_win_rate": best["eval_win_rate"],
        f"train_{tag}_best_at_minutes": round(best["wall_s"] / 60, 2),
        f"train_{tag}_final_clean_win_rate": Manifest(manifest).clean_win_rate,
    }
    _say(f"[train {tag}] {figures}")
    return figures


PAPER_GRID_CELLS = 3 * 2 * 12 * 6
"""The paper's Table 1: 3 maps × 2 learners × 12 defenses × 6 attacks, one ε each."""


def bench_grid(checkpoint: Path, episodes: int, jobs: int) -> dict[str, float]:
    """Cells per minute of a grid of one checkpoint × {none, random, fgsm} × 2 ε × 4 evaluation
    seeds (20 distinct cells) on a fresh store, and the projected wall time of the paper's grid."""
    import tempfile

    from robench.grid import GridSpec, run_grid

    with tempfile.TemporaryDirectory() as tmp:
        spec = GridSpec(eps=[0.1, 0.25], attacks=["none", "random", "fgsm"], episodes=episodes,
                        eval_seeds=[0, 1, 2, 3], checkpoints=checkpoint, results=Path(tmp) / "res", jobs=jobs)
        start = time.perf_counter()
        metas = run_grid(spec)
        wall = time.perf_counter() - start
    per_min = len(metas) / (wall / 60)
    figures = {"grid_cells": len(metas), "grid_seconds": round(wall, 2), "grid_cells_per_minute": round(per_min, 2),
               "grid_jobs": jobs, "paper_grid_cells": PAPER_GRID_CELLS,
               "paper_grid_projected_minutes": round(PAPER_GRID_CELLS / per_min, 1)}
    _say(f"[grid] {figures}")
    return figures


def bench_cav(episodes: int) -> dict[str, float]:
    """(d): the CAV backend's stepping rates and the random policy's outcomes, for ``merge`` and for
    ``merge_safe`` (the safety supervisor's cost and effect); highway-env's own cost per step."""
    from robench.envs.cav import MAPS, CAVMergeEnv, MergeCopies

    figures: dict[str, float] = {}
    for map_name in MAPS:
        gen = torch.Generator().manual_seed(0)
        for label, batch, workers in (("b1", 1, 0), ("b8_w2", 8, 2)):
            env = CAVMergeEnv(batch, workers=workers, map_name=map_name)
            env.reset(0)
            live = torch.ones(batch, dtype=torch.bool)
            start, n = time.perf_counter(), 0
            for _ in range(40):  # IDLE (drive on): few crashes; only live copies count (a done copy is frozen)
                n += int(live.sum())
                live = ~env.step(torch.ones(batch, 3, dtype=torch.int64)).done
            figures[f"{map_name}_env_steps_per_s_{label}"] = round(n / (time.perf_counter() - start), 1)
            env.close()
        env = CAVMergeEnv(episodes, map_name=map_name)
        cur = env.reset(1)
        for _ in range(env.info().episode_limit):
            cur = env.step(torch.randint(5, (episodes, 3), generator=gen))
            if bool(cur.done.all()):
                break
        env.close()
        figures.update({f"{map_name}_random_crash_rate": round(float(cur.crashed.float().mean()), 3),
                        f"{map_name}_random_mean_return": round(float(cur.episode_return.mean()), 2)})
        _say(f"[cav] {map_name}: env steps/s B=1 {figures[f'{map_name}_env_steps_per_s_b1']}, B=8 over 2 workers "
             f"{figures[f'{map_name}_env_steps_per_s_b8_w2']}; random policy over {episodes} episodes: crash rate "
             f"{figures[f'{map_name}_random_crash_rate']}, mean return {figures[f'{map_name}_random_mean_return']}")
    figures["cav_random_episodes"] = episodes
    raw = MergeCopies("merge", [0]).envs[0]
    raw.reset(seed=0)
    start, n = time.perf_counter(), 0
    while n < 40:
        _, _, term, trunc, _ = raw.step((1, 1, 1))
        n += 1
        if term or trunc:
            raw.reset(seed=n)
    figures["cav_highway_env_ms_per_step"] = round(1000 * (time.perf_counter() - start) / n, 2)
    figures.update(_cav_observation_ms(raw))
    _say(f"[cav] highway-env itself {figures['cav_highway_env_ms_per_step']} ms per policy step (the 3 agents' "
         f"observations: stock pandas {figures['cav_obs_ms_stock']} ms, KinematicsArray {figures['cav_obs_ms_array']} ms)")
    return figures


def _cav_observation_ms(env) -> dict[str, float]:
    """Milliseconds for the 3 agents' observations of one scene: highway-env's stock pandas
    ``KinematicObservation`` against our ``KinematicsArray`` (equal outputs, see the tests)."""
    from highway_env.envs.common.observation import KinematicObservation

    config = env.config["observation"]["observation_config"]
    ours = env.observation_type.agents_observation_types
    stock = [KinematicObservation(env, **config) for _ in ours]
    for obs_type, mine in zip(stock, ours):
        obs_type.observer_vehicle = mine.observer_vehicle
    figures = {}
    for label, types in (("stock", stock), ("array", ours)):
        start = time.perf_counter()
        for _ in range(50):
            for obs_type in types:
                obs_type.observe()
        figures[f"cav_obs_ms_{label}"] = round(1000 * (time.perf_counter() - start) / 50, 3)
    return figures


def bench_defenses(learners: list[LearnerConfig], steps: int, defenses: list[str]) -> dict[str, float]:
    """(e): seconds of ``train`` per defense and its ratio to NoAdv's, same steps and seed.  A defense
    that fine-tunes (ROMANCE-p) starts from the shipped 3m NoAdv run of its learner; the ratio is
    then that of its own steps (the pretraining is the NoAdv run's cost)."""
    from robench.train import TrainConfig, train
    from robench.runs import pretrained_start

    def seconds(defense: str, learner: LearnerConfig) -> float:
        cfg = TrainConfig(env="3m", defense=defense, steps=steps, eval_every=10 * steps, eval_episodes=32,
                          learner=learner)
        return train(pretrained_start(cfg, DEFAULT_CHECKPOINT.parents[1])).wall_s

    figures: dict[str, float] = {}
    for learner in learners:
        seconds("noadv", learner)  # warm-up (compilation, caches)
        first = seconds("noadv", learner)
        times = {d: seconds(d, learner) for d in defenses if d != "noadv"}
        base = (first + seconds("noadv", learner)) / 2
        figures[f"defense_noadv_{learner.mixer}_s"] = round(base, 1)
        for d, t in times.items():
            figures[f"defense_{d}_{learner.mixer}_s"] = round(t, 1)
            figures[f"defense_{d}_{learner.mixer}_ratio"] = round(t / base, 2)
            _say(f"[defenses] {learner.mixer} {d}: {t:.1f} s vs NoAdv {base:.1f} s → {t / base:.2f}× ({steps} steps)")
    return figures


def _timed_runs(threads: int, copies: int, steps: int, tmp: Path) -> tuple[list[Manifest], float]:
    """``copies`` ``robench train`` processes side by side with ``threads`` torch threads each:
    (their manifests, the wall seconds of them all)."""
    import os
    import subprocess

    exe = str(Path(sys.executable).parent / "robench")
    env = dict(os.environ, ROBENCH_TORCH_THREADS=str(threads))
    start = time.perf_counter()
    procs = [subprocess.Popen([exe, "train", "--defense", "noadv", "--env", "3m", "--learner", "vdn",
                                "--steps", str(steps), "--seed", str(i), "--eval-every", str(10 * steps),
                                "--eval-episodes", "32", "--final-episodes", "32", "--quiet", "--force",
                                "--out", str(tmp / f"t{threads}_{i}")], env=env, stdout=subprocess.DEVNULL)
             for i in range(copies)]
    out = []
    for i, proc in enumerate(procs):
        if proc.wait() != 0:
            raise RuntimeError(f"benchmark training run failed (exit {proc.returncode})")
        out.append(Manifest(read_manifest(tmp / f"t{threads}_{i}")))
    return out, time.perf_counter() - start


def bench_scaling(steps: int) -> dict[str, float]:
    """(f): the same training work as one process with all cores' threads and as one 1-thread
    process per core side by side; throughput = env steps per wall second of all processes."""
    import os
    import tempfile

    cores = os.cpu_count() or 1
    figures: dict[str, float] = {"scaling_cores": cores, "scaling_steps": steps}
    with tempfile.TemporaryDirectory() as tmp:
        _timed_runs(1, 1, 2000, Path(tmp))  # warm-up: compilation cache, imports
        for label, threads, copies in (("one", cores, 1), ("per_core", 1, cores)):
            runs, total = _timed_runs(threads, copies, steps, Path(tmp))
            figures[f"scaling_{label}_wall_s"] = round(total, 1)
            figures[f"scaling_{label}_steps_per_s"] = round(sum(m.steps for m in runs) / total, 1)
            for part, seconds in runs[0].profile.items():
                figures[f"scaling_{label}_profile_{part}_s"] = seconds
    figures["scaling_throughput_ratio"] = round(figures["scaling_per_core_steps_per_s"]
                                                / figures["scaling_one_steps_per_s"], 2)
    _say(f"[scaling] {steps} steps of NoAdv VDN on 3m: one {cores}-thread process "
         f"{figures['scaling_one_steps_per_s']} steps/s; {cores} 1-thread processes side by side "
         f"{figures['scaling_per_core_steps_per_s']} steps/s in all → {figures['scaling_throughput_ratio']}×")
    return figures


def run_bench(args: argparse.Namespace, learners: list[LearnerConfig]) -> dict[str, float]:
    """The figures ``args.which`` asks for; ``learners`` are the training benchmark's runs."""
    figures: dict[str, float] = {}
    if args.which in ("eval", "all"):
        figures.update(bench_eval(args.checkpoint or DEFAULT_CHECKPOINT, args.episodes, args.single_episodes, args.eps))
    if args.which in ("grid", "all"):
        figures.update(bench_grid(args.checkpoint or DEFAULT_CHECKPOINT, args.episodes, args.jobs))
    if args.which in ("cav", "all"):
        figures.update(bench_cav(args.episodes if args.which == "cav" else 200))
    if args.which in ("defenses", "all"):
        from defenses import DEFENSES

        figures.update(bench_defenses(learners, args.defense_steps, args.defenses or list(DEFENSES)))
    if args.which in ("scaling", "all"):
        figures.update(bench_scaling(args.scaling_steps))
    if args.which in ("train", "all"):
        for learner in learners:
            figures.update(bench_train(learner, args.train_minutes, args.save))
    return figures
