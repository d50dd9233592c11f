"""``robench zoo build``: grow the model zoo run by run, never half-written.

The runs are ``robench.zoo_plan``'s.  Each run is a task on the grid's joblib backends (loky
locally, an existing dask or ray cluster), holds an advisory lock
``<zoo>/.locks/<map>__<name>.lock`` while it trains (a second build skips a run another build
holds and never trains it twice), writes its checkpoint with one atomic rename
(``checkpoint.save_checkpoint``), removes temporaries a killed build left, resumes a run a killed
build left half-trained from its snapshot (``robench.snapshot``), and regenerates
``<zoo>/index.json`` under the index lock.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from robench.envs import outcome_text
from robench.index import write_index
from robench.locks import file_lock, sweep_orphans
from robench.manifest import Manifest
from robench.parallel import dispatch
from robench.snapshot import SnapshotPolicy
from robench.zoo_plan import ZooRun, projected_minutes, run_status, runs_to_train

LOCKS = ".locks"


def refresh_index(zoo: Path) -> None:
    """Rebuild ``index.json`` under the zoo's index lock (builds finishing together serialise)."""
    with file_lock(Path(zoo) / LOCKS / "index.lock"):
        write_index(zoo)


def build_run(run: ZooRun, zoo: str, retrain_stale: bool = False, show_progress: bool = True,
              threads: int | None = None, snapshot_every: int = SnapshotPolicy.every,
              snapshots: Path | None = None) -> dict[str, Any]:
    """Train ``run`` into the zoo unless it is done or another build holds it, with ``threads``
    torch threads (None = the process's setting), resuming a killed build's run from its snapshot
    (every ``snapshot_every`` env steps under ``snapshots``, ``robench.runs.snapshot_policy``; 0:
    none); returns a summary."""
    from robench.runtime import set_torch_threads
    from robench.runs import snapshot_policy, train_and_save

    if threads is not None:
        set_torch_threads(threads)

    zoo_path = Path(zoo)
    out = run.path(zoo_path)
    with file_lock(zoo_path / LOCKS / f"{run.map}__{out.name}.lock", blocking=False) as mine:
        if not mine:
            return {"run": run.label, "status": "busy"}
        status = run_status(run, zoo_path)
        if status == "done" or (status == "stale" and not retrain_stale):
            return {"run": run.label, "status": status}
        sweep_orphans(out.parent, out.name)  # left by a killed build (we hold the lock)
        cfg = run.config(zoo_path)
        if cfg.init_from is not None and not (Path(cfg.init_from) / "manifest.json").is_file():
            return {"run": run.label, "status": f"blocked (needs {cfg.init_from}: build its noadv run first)"}
        snapshot = snapshot_policy(cfg, out, snapshot_every, snapshots) if snapshot_every else None
        m = Manifest(train_and_save(cfg, out, overwrite=True, show_progress=show_progress, snapshot=snapshot))
        refresh_index(zoo_path)
        return {"run": run.label, "status": "trained", "wall_time_s": m.wall_time_s,
                "clean": outcome_text(m.backend, m.clean_win_rate, m.clean_return, m.clean_crash_rate)}


def build_zoo(runs: list[ZooRun], zoo: Path, backend: str = "loky", jobs: int | str = "auto",
              max_hours: float | None = None, retrain_stale: bool = False, show_progress: bool = True,
              snapshot_every: int = SnapshotPolicy.every, snapshots: Path | None = None) -> list[dict[str, Any]]:
    """Train every run that is not done (stale ones with ``retrain_stale``), wave after wave
    (``runs_to_train``: a run starting from another run of the build comes after it), on the
    joblib ``backend`` with ``jobs`` parallel runs (``auto``: one per core, one torch thread
    each — ``robench.runtime.plan_jobs``); no run starts after ``max_hours``.  Prints overall
    progress and the jobs × threads it chose."""
    from robench.runtime import plan_jobs

    zoo = Path(zoo)
    waves = runs_to_train(runs, zoo, retrain_stale)
    todo = [run for wave in waves for run in wave]
    start = time.perf_counter()
    deadline = None if max_hours is None else time.time() + max_hours * 3600
    results: list[dict[str, Any]] = []

    def report(summary: dict[str, Any]) -> None:
        results.append(summary)
        elapsed = (time.perf_counter() - start) / 60
        left = [r for r in todo if run_status(r, zoo) != "done"]
        print(f"zoo: {summary['run']} {summary['status']}"
              + (f" (clean {summary['clean']}, {summary['wall_time_s'] / 60:.1f} min)"
                 if summary["status"] == "trained" else "")
              + f" | {len(todo) - len(left)}/{len(todo)} done, {elapsed:.1f} min elapsed, "
              f"≈{projected_minutes(left, zoo):.0f} min projected left", file=sys.stderr, flush=True)

    if not todo:
        return results
    n_jobs, threads = plan_jobs(jobs)
    n_jobs = min(n_jobs, len(todo))
    print(f"zoo: {len(todo)} runs to train, {n_jobs} at a time × {threads} torch thread{'s' * (threads > 1)} "
          f"each (--jobs {jobs})", file=sys.stderr, flush=True)
    def task(run: ZooRun) -> dict[str, Any]:
        if deadline is not None and time.time() >= deadline:
            return {"run": run.label, "status": "skipped (max hours)"}
        return build_run(run, str(zoo), retrain_stale, show_progress and n_jobs == 1, threads, snapshot_every, snapshots)

    for wave in waves:  # a run that starts from another run of the build waits for it
        for summary in dispatch(task, wave, backend, min(n_jobs, len(wave))):
            report(summary)
    return results
