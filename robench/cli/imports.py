"""``robench import``: bring your own model: a trained team from another code base as a checkpoint."""
from __future__ import annotations

import argparse
from pathlib import Path

from robench.cli.common import OneLineParser, positive_int


def add_parser(sub) -> None:
    """The ``robench import`` parser."""
    im = sub.add_parser("import", help="bring your own model: a trained team from another code base as a checkpoint")
    im_sub = im.add_subparsers(dest="import_format", required=True, parser_class=OneLineParser)
    ip = im_sub.add_parser("pymarl", help="a PyMARL / EPyMARL run directory (agent.th, mixer.th)")
    ip.add_argument("run_dir", type=Path, help="the directory PyMARL saved the model in (agent.th, and mixer.th for QMIX)")
    ip.add_argument("--env", required=True, help="the SMAC map it was trained on (3m, 8m, 3s_vs_3z, ...)")
    ip.add_argument("--learner", required=True, choices=["vdn", "qmix"], help="the run's learner")
    ip.add_argument("--backend", default="smax", help="the backend to evaluate it on (default smax)")
    ip.add_argument("--defense", default="noadv", help="the defense it was trained with, as robench names it")
    ip.add_argument("--out", type=Path, required=True, help="checkpoint directory to write")
    ip.add_argument("--episodes", type=positive_int, default=200,
                    help="greedy episodes of the clean evaluation recorded in the manifest")
    ip.add_argument("--force", action="store_true", help="replace an existing checkpoint directory")


def run(args: argparse.Namespace) -> int:
    from robench.pymarl_import import import_pymarl

    from robench.manifest import Manifest

    m = Manifest(import_pymarl(args.run_dir, args.env, args.learner, args.out, backend=args.backend,
                               defense=args.defense, overwrite=args.force, episodes=args.episodes))
    learner = m.learner_config
    print(f"wrote {args.out}  {args.learner} agent (hidden {learner.hidden}, last action "
          f"{'in' if learner.last_action else 'not in'} the input), mixer {m.origin['mixer']}; "
          f"clean win rate {m.clean_win_rate:.3f} over {m.clean_eval_episodes} episodes on {m.map_name}/{m.backend}")
    return 0
