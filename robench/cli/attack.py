"""``robench attack``: learned adversaries."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from robench.cli.common import (
    OneLineParser, UsageError, add_threat_args, check_choice, positive_int, threat_from_args,
    unit_interval
)


def add_parser(sub) -> None:
    """The ``robench attack`` parser."""
    at = sub.add_parser("attack", help="learned adversaries")
    at_sub = at.add_subparsers(dest="attack_command", required=True, parser_class=OneLineParser)
    att = at_sub.add_parser("train", help="train a learned adversary against a fixed victim checkpoint")
    att.add_argument("--attack", default="paad")
    att.add_argument("--victim", type=Path, required=True)
    att.add_argument("--eps", type=unit_interval, default=None)
    att.add_argument("--steps", type=positive_int, default=None)
    att.add_argument("--seed", type=int, default=0)
    att.add_argument("--max-minutes", type=float, default=None)
    att.add_argument("--n-envs", type=positive_int, default=None, help="parallel environments (default 32)")
    att.add_argument("--eval-every", type=positive_int, default=None,
                     help="env steps between victim evaluations on the curve (default 20000)")
    att.add_argument("--eval-episodes", type=positive_int, default=None,
                     help="episodes per victim evaluation (default 200)")
    add_threat_args(att)
    att.add_argument("--attack-opt", action="append", default=[], metavar="KEY=VALUE",
                     help="a setting of the learned attack (repeatable), e.g. kappa=0.01 for atsa, "
                          "director=direction for paad; see `robench list`")
    att.add_argument("--out", type=Path, default=None, help="default: adversaries/MAP/ATTACK_vs_VICTIMHASH8")
    att.add_argument("--force", action="store_true")
    att.add_argument("--device", default="cpu")
    att.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from robench.envs import declares, outcome_text
    from robench.manifest import Manifest

    from attacks.training import LEARNED, AttackTrainConfig, train_adversary
    from robench.checkpoint import load_protagonist
    from robench.method_config import make, parse

    check_choice("learned attack", args.attack, LEARNED)
    kind, owner = LEARNED[args.attack].Config, f"attack {args.attack!r}"
    options = make(kind, parse(kind, args.attack_opt, "--attack-opt", owner), owner)
    cfg = AttackTrainConfig(attack=args.attack, threat=threat_from_args(args, args.eps), seed=args.seed, device=args.device,
                            max_wall_s=None if args.max_minutes is None else args.max_minutes * 60, options=options)
    victim, _, manifest = load_protagonist(args.victim, args.device)
    for option in ("steps", "n_envs", "eval_every", "eval_episodes"):
        if getattr(args, option) is not None:
            setattr(cfg, option, getattr(args, option))
    m = Manifest(manifest)
    out = args.out or Path("adversaries") / m.map_name / f"{args.attack}_vs_{m.content_hash[:8]}"
    if out.exists() and not args.force:
        raise UsageError(f"{out} already exists (pass --force to replace it)")
    bar = tqdm(total=cfg.steps, unit="step", disable=args.quiet, file=sys.stderr, dynamic_ncols=True)

    def progress(t_env: int, row: dict | None) -> None:
        bar.update(min(t_env, cfg.steps) - bar.n)
        if row and declares(m.backend, "win_rate"):
            bar.set_postfix(victim_win=f"{row['victim_win_rate']:.2f}")
        elif row:
            bar.set_postfix(victim_return=f"{row['victim_return']:.1f}", victim_crash=f"{row['victim_crash_rate']:.2f}")

    adv = Manifest(train_adversary(cfg, victim, manifest, out, progress, overwrite=args.force))
    bar.close()
    outcome = outcome_text(m.backend, adv.final_victim_win_rate, adv.final_victim_return, adv.final_victim_crash_rate)
    print(f"wrote {out}  victim {outcome} under {args.attack} at ε={adv.eps:g}")
    return 0
