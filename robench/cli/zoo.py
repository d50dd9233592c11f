"""``robench zoo``: grow the model zoo (resumable, lock-protected) or show its status."""
from __future__ import annotations

import argparse
from pathlib import Path

from robench.cli.common import OneLineParser, add_snapshot_args, check_choice, jobs_count, positive_int


def add_parser(sub) -> None:
    """The ``robench zoo`` parser."""
    z = sub.add_parser("zoo", help="grow the model zoo (resumable, lock-protected) or show its status")
    z_sub = z.add_subparsers(dest="zoo_command", required=True, parser_class=OneLineParser)
    for name, help_text in (("build", "train every planned run not yet in the zoo"),
                            ("status", "done / missing / stale runs and the projected 2-core hours left")):
        zp = z_sub.add_parser(name, help=help_text)
        zp.add_argument("--maps", nargs="+", default=["3m", "3s_vs_3z", "8m"])
        zp.add_argument("--learners", nargs="+", default=["vdn", "qmix"])
        zp.add_argument("--defenses", nargs="+", default=["all"])
        zp.add_argument("--seeds", nargs="+", type=int, default=[0])
        zp.add_argument("--steps", type=positive_int, default=None, help="env steps per run (default: TrainConfig's)")
        zp.add_argument("--zoo", type=Path, default=Path("checkpoints"))
    zb = z_sub.choices["build"]
    zb.add_argument("--backend", default="loky", help="joblib backend: loky, dask or ray")
    zb.add_argument("--jobs", type=jobs_count, default="auto",
                    help="runs trained at once: auto (one per core, one torch thread each) or a count")
    zb.add_argument("--max-hours", type=float, default=None, help="start no run after this many hours")
    zb.add_argument("--retrain-stale", action="store_true", help="replace entries trained with another configuration")
    zb.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    zb.add_argument("--quiet", action="store_true", help="no per-run progress bar")
    add_snapshot_args(zb)


def run(args: argparse.Namespace) -> int:
    from robench.parallel import JOBLIB_BACKENDS
    from robench.learners.mixers import MIXERS
    from robench.zoo import build_zoo
    from robench.zoo_plan import check_defenses, plan_runs, projected_minutes, run_status, zoo_status

    for lr in args.learners:
        check_choice("learner", lr, MIXERS)
    runs = plan_runs(args.maps, args.learners, check_defenses(args.defenses), args.seeds, args.steps)
    if args.zoo_command == "status" or args.dry_run:
        by_status = zoo_status(runs, args.zoo)
        for status in ("done", "stale", "missing"):
            print(f"{status} ({len(by_status[status])}): {', '.join(by_status[status]) or '-'}")
        left = [r for r in runs if run_status(r, args.zoo) != "done"]
        print(f"projected: {projected_minutes(left, args.zoo) / 60:.1f} 2-core hours for {len(left)} runs")
        return 0
    check_choice("joblib backend", args.backend, JOBLIB_BACKENDS)
    args.zoo.mkdir(parents=True, exist_ok=True)
    results = build_zoo(runs, args.zoo, args.backend, args.jobs, args.max_hours, args.retrain_stale, not args.quiet,
                        args.snapshot_every, args.snapshots)
    trained = sum(r["status"] == "trained" for r in results)
    print(f"zoo: {trained} runs trained, {len(runs) - trained} not trained in this build (done, stale or busy)")
    return 0
