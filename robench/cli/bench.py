"""``robench bench``: performance benchmarks (evaluation throughput, training time)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from robench.cli.common import check_choice, learner_config, positive_int, unit_interval


def add_parser(sub) -> None:
    """The ``robench bench`` parser."""
    b = sub.add_parser("bench", help="performance benchmarks (evaluation throughput, training time)")
    b.add_argument("--which", choices=["eval", "train", "grid", "cav", "defenses", "scaling", "all"], default="eval")
    b.add_argument("--scaling-steps", type=positive_int, default=100_000,
                   help="scaling benchmark: env steps of each training run")
    b.add_argument("--defense-steps", type=positive_int, default=60_000, help="defenses benchmark: env steps per run")
    b.add_argument("--defenses", nargs="+", default=None, help="defenses benchmark: which (default: all registered)")
    b.add_argument("--jobs", type=positive_int, default=2, help="grid benchmark: parallel workers")
    b.add_argument("--checkpoint", type=Path, default=None, help="protagonist for the eval benchmark")
    b.add_argument("--episodes", type=positive_int, default=500, help="batched episodes (eval benchmark)")
    b.add_argument("--single-episodes", type=positive_int, default=50,
                   help="episodes timed one at a time (their per-episode cost is compared)")
    b.add_argument("--eps", type=unit_interval, default=0.25)
    b.add_argument("--train-minutes", type=float, default=15.0, help="budget per training benchmark run")
    b.add_argument("--learners", nargs="+", default=["vdn", "qmix"])
    b.add_argument("--agent", default=None, help="training benchmark: agent network (rnn, default, or mlp)")
    b.add_argument("--learner-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="training benchmark: a LearnerConfig setting (repeatable), as for train")
    b.add_argument("--save", type=Path, default=None, help="keep the training-benchmark checkpoints here")
    b.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    from defenses import DEFENSES
    from robench.bench import run_bench

    for d in args.defenses or []:
        check_choice("defense", d, DEFENSES)
    figures = run_bench(args, [learner_config(mixer, args.agent, args.learner_opt) for mixer in args.learners])
    if args.json:
        print(json.dumps(figures))
    return 0
