"""``robench train``: train a protagonist with a defense and write a checkpoint."""
from __future__ import annotations

import argparse
from pathlib import Path

from robench.cli.common import (
    UsageError, add_snapshot_args, add_threat_args, check_choice, defense_options, learner_config,
    positive_int, threat_from_args, unit_interval
)


def add_parser(sub) -> None:
    """The ``robench train`` parser."""
    t = sub.add_parser("train", help="train a protagonist with a defense and write a checkpoint")
    t.add_argument("--config", type=Path, default=None,
                   help="the whole run from a file: a TOML run file (--print-config writes one) or a checkpoint's "
                        "manifest.json / directory (reproduces that run); only --out, --force, --quiet and --device "
                        "may be given beside it")
    t.add_argument("--print-config", action="store_true", help="print the run's configuration as TOML and exit")
    t.add_argument("--defense", default="noadv")
    t.add_argument("--defense-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="a defense hyperparameter (repeatable), e.g. kappa=0.01; see `robench list`")
    t.add_argument("--env", default="3m", help="map name (3m, 8m, 3s_vs_3z/3s_3z, any SMAX map)")
    t.add_argument("--backend", default=None, help="environment backend (default: the map's — smax, or cav for merge)")
    t.add_argument("--learner", default="vdn", help="vdn or qmix")
    t.add_argument("--agent", default=None, help="agent network: rnn (GRU, default) or mlp")
    t.add_argument("--learner-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="a LearnerConfig setting (repeatable), e.g. optimizer=adam, lr=0.001, policy_ema=0.999")
    t.add_argument("--steps", type=positive_int, default=None, help="env steps (default: TrainConfig.steps)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--eps", type=unit_interval, default=None, help="training ε (default: the paper's for the map)")
    t.add_argument("--n-envs", type=positive_int, default=None, help="parallel environments")
    t.add_argument("--max-minutes", type=float, default=None, help="wall-clock budget; stops training early")
    t.add_argument("--stop-win-rate", type=unit_interval, default=None,
                   help="stop once a curve evaluation reaches this greedy win rate")
    t.add_argument("--init-from", type=Path, default=None,
                   help="start from this protagonist checkpoint, of this map or another of the same backend and "
                        "sizes (ROMANCE-p: default the zoo's NoAdv run of the same map, learner and seed)")
    t.add_argument("--explore-steps", type=positive_int, default=None,
                   help="env steps over which ε-greedy exploration anneals (default: TrainConfig's)")
    t.add_argument("--explore-end", type=unit_interval, default=None,
                   help="ε-greedy exploration after annealing (default: TrainConfig's 0.01; PyMARL: 0.05)")
    add_threat_args(t)
    t.add_argument("--obs", default=None, metavar="LAYOUT",
                   help="observation layout: smax (SMAX's unit list, default on SMAX maps) or smac (SMAC's "
                        "get_obs_agent layout computed from SMAX's state)")
    t.add_argument("--attack-prob", type=unit_interval, default=None,
                   help="share of training episodes (or steps) the training adversary perturbs (default: the defense's)")
    t.add_argument("--attack-unit", choices=["episode", "step"], default=None,
                   help="unit of --attack-prob's coin (default: the defense's)")
    t.add_argument("--eps-warmup", type=unit_interval, default=None,
                   help="fraction of training over which ε ramps linearly from 0 (default: the defense's)")
    t.add_argument("--replay", choices=["perturbed", "clean"], default=None,
                   help="what replay stores for the TD target (default: the defense's)")
    t.add_argument("--eps-draw", choices=["fixed", "uniform"], default=None,
                   help="each training rollout's radius: ε (fixed) or drawn from U(0, ε] (uniform); "
                        "default: the defense's")
    t.add_argument("--eval-every", type=positive_int, default=None, help="env steps between curve evaluations")
    t.add_argument("--eval-episodes", type=positive_int, default=None,
                   help="episodes per curve evaluation (default: the backend's, 500 on SMAX, 100 on CAV)")
    t.add_argument("--curve-attack", action="append", default=None, metavar="ATTACK",
                   help="also evaluate each curve point under this fixed attack (repeatable; random, fgsm, pgd, …) "
                        "at the run's ε and bounds: the curve's eval_win_rate_ATTACK column")
    t.add_argument("--final-episodes", type=positive_int, default=None, help="episodes of the final evaluation")
    t.add_argument("--out", type=Path, default=None,
                   help="checkpoint directory (default checkpoints/MAP/LEARNER[_AGENT]_DEFENSE_sSEED)")
    t.add_argument("--force", action="store_true", help="replace an existing checkpoint directory")
    t.add_argument("--device", default="cpu")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    add_snapshot_args(t)


BESIDE_CONFIG = {"config", "out", "force", "quiet", "device", "print_config", "command", "snapshots", "snapshot_every"}
"""The options that may accompany ``--config`` (they choose where and how, not what, to train)."""


def run(args: argparse.Namespace) -> int:
    from defenses import DEFENSES
    from robench.envs import outcome_text
    from robench.manifest import Manifest
    from robench.runs import checkpoint_name, pretrained_start, snapshot_policy, train_and_save

    cfg = configured(args) if args.config is not None else from_flags(args)
    if args.print_config:
        from robench.run_config import to_toml

        print(to_toml(cfg), end="")
        return 0
    if cfg.init_from is None and DEFENSES[cfg.defense].PRETRAINED:
        cfg = pretrained_start(cfg, Path("checkpoints"))
        if not (Path(cfg.init_from) / "manifest.json").is_file():
            raise UsageError(f"defense {cfg.defense} fine-tunes a trained protagonist and {cfg.init_from} does not "
                             f"exist: train it first (robench train --defense noadv --env {cfg.env} --learner "
                             f"{cfg.learner.mixer}) or pass --init-from")

    out = args.out or Path("checkpoints") / cfg.env / checkpoint_name(cfg)
    if out.exists() and not args.force:
        raise UsageError(f"{out} already exists (pass --force to replace it)")

    snapshot = snapshot_policy(cfg, out, args.snapshot_every, args.snapshots) if args.snapshot_every else None
    m = Manifest(train_and_save(cfg, out, overwrite=args.force, show_progress=not args.quiet, snapshot=snapshot))
    outcome = "clean " + outcome_text(cfg.backend, m.clean_win_rate, m.clean_return, m.clean_crash_rate)
    print(f"wrote {out}  {outcome} over {m.clean_eval_episodes} episodes, {m.steps} env steps "
          f"in {m.wall_time_s / 60:.1f} min")
    return 0


def configured(args: argparse.Namespace):
    """The ``TrainConfig`` of ``--config`` (with ``--device``); any other option given is an error."""
    from robench.run_config import load_config

    sub = argparse.ArgumentParser().add_subparsers()
    add_parser(sub)  # this command's parser alone: its defaults
    defaults = vars(sub.choices["train"].parse_args([]))
    given = ["--" + dest.replace("_", "-") for dest, value in vars(args).items()
             if dest in defaults and dest not in BESIDE_CONFIG and value != defaults[dest]]
    if given:
        raise UsageError(f"with --config the file sets the run: drop {', '.join(given)}")
    cfg = load_config(args.config)
    cfg.device = args.device
    return cfg


def from_flags(args: argparse.Namespace):
    """The ``TrainConfig`` the flags describe."""
    from defenses import DEFENSES
    from robench.envs import backend_of, canonical_map
    from robench.envs import LAYOUT_ALIASES
    from robench.train import TrainConfig, check_curve_attacks

    check_choice("defense", args.defense, DEFENSES)
    learner = learner_config(args.learner, args.agent, args.learner_opt)
    backend = backend_of(args.env, args.backend)
    map_name = canonical_map(args.env, backend)
    cfg = TrainConfig(env=map_name, backend=backend, defense=args.defense, threat=threat_from_args(args, args.eps),
                      seed=args.seed,
                      device=args.device, defense_options=defense_options(args.defense, args.defense_opt),
                      learner=learner, attack_prob=args.attack_prob,
                      attack_unit=args.attack_unit, eps_warmup=args.eps_warmup, replay=args.replay, eps_draw=args.eps_draw,
                      obs_layout=LAYOUT_ALIASES.get(args.obs, args.obs))
    for attr, val in (("steps", args.steps), ("n_envs", args.n_envs), ("stop_win_rate", args.stop_win_rate),
                      ("eval_every", args.eval_every), ("eval_episodes", args.eval_episodes),
                      ("final_eval_episodes", args.final_episodes), ("explore_anneal_steps", args.explore_steps),
                      ("explore_end", args.explore_end)):
        if val is not None:
            setattr(cfg, attr, val)
    if args.curve_attack is not None:
        check_curve_attacks(args.curve_attack)
        cfg.curve_attacks = list(args.curve_attack)
    if args.max_minutes is not None:
        cfg.max_wall_s = args.max_minutes * 60
    if args.init_from is not None:
        cfg.init_from = str(args.init_from)
    return cfg
