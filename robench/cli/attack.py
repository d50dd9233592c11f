"""``robench attack``: learned adversaries."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from robench.cli.common import (
    OneLineParser, UsageError, add_threat_args, check_choice, outcome_text, positive_int, threat_bounds,
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
    att.add_argument("--kappa", type=float, default=None, help="ATSA: SDor-STor loss weight κ (default 0.005)")
    att.add_argument("--alpha", type=float, default=None, help="ATSA: fixed temperature (default FOP schedule)")
    att.add_argument("--value", default=None, help="ATSA: soft values closed_form (FOP, default) or network (Eq. 9)")
    att.add_argument("--reward-scale", type=float, default=None,
                     help="ATSA: SDor learns from −scale·r (default 10: SMAX returns ×10 = SMAC's scale)")
    att.add_argument("--squash", action="store_const", const=True, default=None,
                     help="ATLA: δ = ε·tanh(u) instead of ε·clip(u, −1, 1)")
    att.add_argument("--director", default=None,
                     help="PAAD: target (target-action Q-learner, default) or direction (original PA-AD)")
    att.add_argument("--updates", type=positive_int, default=None,
                     help="PAAD, ATSA, ROMANCE: gradient steps of the adversary per batch of 32 episodes (default 4)")
    att.add_argument("--out", type=Path, default=None, help="default: adversaries/MAP/ATTACK_vs_VICTIMHASH8")
    att.add_argument("--force", action="store_true")
    att.add_argument("--device", default="cpu")
    att.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from robench.envs import declares

    from attacks.atsa import SDOR_VALUES
    from attacks.training import LEARNED, PAAD_DIRECTORS, REPLAY_LEARNED, AttackTrainConfig, train_adversary
    from robench.checkpoint import load_protagonist

    check_choice("learned attack", args.attack, LEARNED)
    cfg = AttackTrainConfig(attack=args.attack, eps=args.eps, seed=args.seed, device=args.device, bounds=threat_bounds(args),
                            max_wall_s=None if args.max_minutes is None else args.max_minutes * 60)
    owners = {"kappa": "atsa", "alpha": "atsa", "value": "atsa", "reward_scale": "atsa", "director": "paad",
              "squash": "atla"}
    for option, owner in owners.items():  # given options must belong to the attack; the rest keep defaults
        if getattr(args, option) is not None:
            if args.attack != owner:
                raise UsageError(f"--{option.replace('_', '-')} applies to --attack {owner} only")
            setattr(cfg, option, getattr(args, option))
    check_choice("PAAD director", cfg.director, PAAD_DIRECTORS)
    check_choice("ATSA value", cfg.value, SDOR_VALUES)
    if args.updates is not None:
        if args.attack not in REPLAY_LEARNED:
            raise UsageError(f"--updates applies to the replay-based adversaries ({', '.join(REPLAY_LEARNED)}), "
                             f"not {args.attack}")
        cfg.updates_per_batch = args.updates
    victim, _, manifest = load_protagonist(args.victim, args.device)
    for option in ("steps", "n_envs", "eval_every", "eval_episodes"):
        if getattr(args, option) is not None:
            setattr(cfg, option, getattr(args, option))
    out = args.out or Path("adversaries") / manifest["env"]["map_name"] / f"{args.attack}_vs_{manifest['content_hash'][:8]}"
    if out.exists() and not args.force:
        raise UsageError(f"{out} already exists (pass --force to replace it)")
    bar = tqdm(total=cfg.steps, unit="step", disable=args.quiet, file=sys.stderr, dynamic_ncols=True)

    def progress(t_env: int, row: dict | None) -> None:
        bar.update(min(t_env, cfg.steps) - bar.n)
        if row and declares(manifest["env"]["backend"], "win_rate"):
            bar.set_postfix(victim_win=f"{row['victim_win_rate']:.2f}")
        elif row:
            bar.set_postfix(victim_return=f"{row['victim_return']:.1f}", victim_crash=f"{row['victim_crash_rate']:.2f}")

    adv = train_adversary(cfg, victim, manifest, out, progress, overwrite=args.force)
    bar.close()
    outcome = outcome_text(manifest["env"]["backend"], adv["final_victim_win_rate"], adv["final_victim_return"],
                       adv["final_victim_crash_rate"])
    print(f"wrote {out}  victim {outcome} under {args.attack} at ε={adv['eps']:g}")
    return 0
