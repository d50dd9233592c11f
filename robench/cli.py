"""The ``robench`` command: train, eval, list, index, attack train, grid, report, bench.

Bad input (unknown names, ε outside [0, 1], non-positive counts, missing or corrupt
checkpoints) ends with one ``robench: error: …`` line on stderr and exit code 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports torch-backed modules lazily, inside each command
    from robench.learners.learner import LearnerConfig

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad user input: printed as one line, exit code 2."""


def _unit_interval(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= x <= 1.0:
        raise argparse.ArgumentTypeError(f"ε must lie in [0, 1], got {x}")
    return x


def _jobs(text: str) -> int | str:
    """``auto`` or a positive integer (``robench.runtime.plan_jobs``)."""
    return "auto" if text == "auto" else _positive_int(text)


def _positive_int(text: str) -> int:
    try:
        x = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if x <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {x}")
    return x


def _agent_list(text: str) -> list[int]:
    try:
        agents = sorted({int(x) for x in text.split(",")})
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma list of agent indices: {text!r}") from None
    if any(a < 0 for a in agents):
        raise argparse.ArgumentTypeError(f"agent indices must be non-negative: {text!r}")
    return agents


def _check_choice(kind: str, name: str, known) -> None:
    if name not in known:
        raise UsageError(f"unknown {kind} {name!r}; known: {', '.join(sorted(known))}")


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line (no usage dump), exit code 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_USAGE, f"robench: error: {message} (see {self.prog} --help)\n")


def _add_threat_args(p: argparse.ArgumentParser) -> None:
    """``--bounds`` / ``--threat``: how ô is kept in range (``robench.threat``)."""
    from robench.threat import BOUNDS, DEFAULT_BOUNDS, PRESETS

    p.add_argument("--bounds", choices=BOUNDS, default=None,
                   help=f"range of ô: features (per-feature), box ([-1, 1]) or none (the ATSA authors'; "
                        f"default {DEFAULT_BOUNDS})")
    p.add_argument("--threat", choices=sorted(PRESETS), default=None,
                   help="a named threat model: paper (bounds none) or features (per-feature clipping)")


def _bounds(args: argparse.Namespace) -> str:
    from robench.threat import resolve_bounds

    return resolve_bounds(args.bounds, args.threat)


def build_parser() -> argparse.ArgumentParser:
    from robench import __version__

    p = OneLineParser(prog="robench", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"robench {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    t = sub.add_parser("train", help="train a protagonist with a defense and write a checkpoint")
    t.add_argument("--defense", default="noadv")
    t.add_argument("--defense-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="a defense hyperparameter (repeatable), e.g. kappa=0.01; see `robench list`")
    t.add_argument("--env", default="3m", help="map name (3m, 8m, 3s_vs_3z/3s_3z, any SMAX map)")
    t.add_argument("--backend", default=None, help="environment backend (default: the map's — smax, or cav for merge)")
    t.add_argument("--learner", default="vdn", help="vdn or qmix")
    t.add_argument("--agent", default=None, help="agent network: rnn (GRU, default) or mlp")
    t.add_argument("--learner-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="a LearnerConfig setting (repeatable), e.g. optimizer=adam, lr=0.001, policy_ema=0.999")
    t.add_argument("--steps", type=_positive_int, default=None, help="env steps (default: TrainConfig.steps)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--eps", type=_unit_interval, default=None, help="training ε (default: the paper's for the map)")
    t.add_argument("--n-envs", type=_positive_int, default=None, help="parallel environments")
    t.add_argument("--max-minutes", type=float, default=None, help="wall-clock budget; stops training early")
    t.add_argument("--stop-win-rate", type=_unit_interval, default=None,
                   help="stop once a curve evaluation reaches this greedy win rate")
    t.add_argument("--init-from", type=Path, default=None,
                   help="start from this protagonist checkpoint, of this map or another of the same backend and "
                        "sizes (ROMANCE-p: default the zoo's NoAdv run of the same map, learner and seed)")
    t.add_argument("--explore-steps", type=_positive_int, default=None,
                   help="env steps over which ε-greedy exploration anneals (default: TrainConfig's)")
    t.add_argument("--explore-end", type=_unit_interval, default=None,
                   help="ε-greedy exploration after annealing (default: TrainConfig's 0.01; PyMARL: 0.05)")
    _add_threat_args(t)
    t.add_argument("--obs", default=None, metavar="LAYOUT",
                   help="observation layout: smax (SMAX's unit list, default on SMAX maps) or smac (SMAC's "
                        "get_obs_agent layout computed from SMAX's state)")
    t.add_argument("--attack-prob", type=_unit_interval, default=None,
                   help="share of training episodes (or steps) the training adversary perturbs (default: the defense's)")
    t.add_argument("--attack-unit", choices=["episode", "step"], default=None,
                   help="unit of --attack-prob's coin (default: the defense's)")
    t.add_argument("--eps-warmup", type=_unit_interval, default=None,
                   help="fraction of training over which ε ramps linearly from 0 (default: the defense's)")
    t.add_argument("--replay", choices=["perturbed", "clean"], default=None,
                   help="what replay stores for the TD target (default: the defense's)")
    t.add_argument("--eval-every", type=_positive_int, default=None, help="env steps between curve evaluations")
    t.add_argument("--eval-episodes", type=_positive_int, default=None, help="episodes per curve evaluation")
    t.add_argument("--final-episodes", type=_positive_int, default=None, help="episodes of the final evaluation")
    t.add_argument("--out", type=Path, default=None,
                   help="checkpoint directory (default checkpoints/MAP/LEARNER[_AGENT]_DEFENSE_sSEED)")
    t.add_argument("--force", action="store_true", help="replace an existing checkpoint directory")
    t.add_argument("--device", default="cpu")
    t.add_argument("--quiet", action="store_true", help="no progress bar")

    e = sub.add_parser("eval", help="evaluate a checkpoint under one attack at one ε")
    e.add_argument("checkpoint", type=Path)
    e.add_argument("--attack", default="none")
    e.add_argument("--adversary", type=Path, default=None, help="adversary checkpoint of a learned attack")
    e.add_argument("--eps", type=_unit_interval, default=None, help="attack budget (default: the paper's for the map)")
    e.add_argument("--episodes", type=_positive_int, default=500)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--device", default="cpu")
    e.add_argument("--attacked-agents", type=_agent_list, default=None, metavar="I,J,…",
                   help="the attacked set M (agent indices; default: every agent)")
    _add_threat_args(e)
    e.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    ls = sub.add_parser("list", help="registered environments, learners, defenses and attacks; the zoo in brief")
    ls.add_argument("--zoo", type=Path, default=Path("checkpoints"), help="the zoo to summarise")
    ls.add_argument("--checkpoints", action="store_true",
                    help="one line per protagonist (map, learner, defense, seed, steps, clean score, protocol)")

    z = sub.add_parser("zoo", help="grow the model zoo (resumable, lock-protected) or show its status")
    z_sub = z.add_subparsers(dest="zoo_command", required=True, parser_class=OneLineParser)
    for name, help_text in (("build", "train every planned run not yet in the zoo"),
                            ("status", "done / missing / stale runs and the projected 2-core hours left")):
        zp = z_sub.add_parser(name, help=help_text)
        zp.add_argument("--maps", nargs="+", default=["3m", "3s_vs_3z", "8m"])
        zp.add_argument("--learners", nargs="+", default=["vdn", "qmix"])
        zp.add_argument("--defenses", nargs="+", default=["all"])
        zp.add_argument("--seeds", nargs="+", type=int, default=[0])
        zp.add_argument("--steps", type=_positive_int, default=None, help="env steps per run (default: TrainConfig's)")
        zp.add_argument("--zoo", type=Path, default=Path("checkpoints"))
    zb = z_sub.choices["build"]
    zb.add_argument("--backend", default="loky", help="joblib backend: loky, dask or ray")
    zb.add_argument("--jobs", type=_jobs, default="auto",
                    help="runs trained at once: auto (one per core, one torch thread each) or a count")
    zb.add_argument("--max-hours", type=float, default=None, help="start no run after this many hours")
    zb.add_argument("--retrain-stale", action="store_true", help="replace entries trained with another configuration")
    zb.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    zb.add_argument("--quiet", action="store_true", help="no per-run progress bar")

    im = sub.add_parser("import", help="bring your own model: a trained team from another code base as a checkpoint")
    im_sub = im.add_subparsers(dest="import_format", required=True, parser_class=OneLineParser)
    ip = im_sub.add_parser("pymarl", help="a PyMARL / EPyMARL run directory (agent.th, mixer.th)")
    ip.add_argument("run_dir", type=Path, help="the directory PyMARL saved the model in (agent.th, and mixer.th for QMIX)")
    ip.add_argument("--env", required=True, help="the SMAC map it was trained on (3m, 8m, 3s_vs_3z, ...)")
    ip.add_argument("--learner", required=True, choices=["vdn", "qmix"], help="the run's learner")
    ip.add_argument("--backend", default="smax", help="the backend to evaluate it on (default smax)")
    ip.add_argument("--defense", default="noadv", help="the defense it was trained with, as robench names it")
    ip.add_argument("--out", type=Path, required=True, help="checkpoint directory to write")
    ip.add_argument("--episodes", type=_positive_int, default=200,
                    help="greedy episodes of the clean evaluation recorded in the manifest")
    ip.add_argument("--force", action="store_true", help="replace an existing checkpoint directory")

    ix = sub.add_parser("index", help="rebuild the zoo's index.json from its manifests")
    ix.add_argument("--zoo", type=Path, default=Path("checkpoints"))
    ix.add_argument("--check", action="store_true", help="only check that index.json is up to date (exit 1 if not)")

    at = sub.add_parser("attack", help="learned adversaries")
    at_sub = at.add_subparsers(dest="attack_command", required=True, parser_class=OneLineParser)
    att = at_sub.add_parser("train", help="train a learned adversary against a fixed victim checkpoint")
    att.add_argument("--attack", default="paad")
    att.add_argument("--victim", type=Path, required=True)
    att.add_argument("--eps", type=_unit_interval, default=None)
    att.add_argument("--steps", type=_positive_int, default=None)
    att.add_argument("--seed", type=int, default=0)
    att.add_argument("--max-minutes", type=float, default=None)
    att.add_argument("--n-envs", type=_positive_int, default=None, help="parallel environments (default 32)")
    att.add_argument("--eval-every", type=_positive_int, default=None,
                     help="env steps between victim evaluations on the curve (default 20000)")
    att.add_argument("--eval-episodes", type=_positive_int, default=None,
                     help="episodes per victim evaluation (default 200)")
    _add_threat_args(att)
    att.add_argument("--kappa", type=float, default=None, help="ATSA: SDor-STor loss weight κ (default 0.005)")
    att.add_argument("--alpha", type=float, default=None, help="ATSA: fixed temperature (default FOP schedule)")
    att.add_argument("--value", default=None, help="ATSA: soft values closed_form (FOP, default) or network (Eq. 9)")
    att.add_argument("--reward-scale", type=float, default=None,
                     help="ATSA: SDor learns from −scale·r (default 10: SMAX returns ×10 = SMAC's scale)")
    att.add_argument("--squash", action="store_const", const=True, default=None,
                     help="ATLA: δ = ε·tanh(u) instead of ε·clip(u, −1, 1)")
    att.add_argument("--director", default=None,
                     help="PAAD: target (target-action Q-learner, default) or direction (original PA-AD)")
    att.add_argument("--updates", type=_positive_int, default=None,
                     help="PAAD, ATSA, ROMANCE: gradient steps of the adversary per batch of 32 episodes (default 4)")
    att.add_argument("--out", type=Path, default=None, help="default: adversaries/MAP/ATTACK_vs_VICTIMHASH8")
    att.add_argument("--force", action="store_true")
    att.add_argument("--device", default="cpu")
    att.add_argument("--quiet", action="store_true")

    g = sub.add_parser("grid", help="evaluate every checkpoint × attack × ε (resumable)")
    g.add_argument("--envs", nargs="+", default=None, help="maps (default: all with checkpoints)")
    g.add_argument("--eps", default="0.05:0.25", help="start:stop[:step] (step 0.05) or a comma list")
    g.add_argument("--defenses", nargs="+", default=None)
    g.add_argument("--attacks", nargs="+", default=["none", "random", "fgsm"])
    g.add_argument("--learners", nargs="+", default=None)
    g.add_argument("--episodes", type=_positive_int, default=500)
    g.add_argument("--seeds", nargs="+", type=int, default=None, help="protagonist training seeds (default all)")
    g.add_argument("--eval-seeds", nargs="+", type=int, default=[0])
    g.add_argument("--attacked-agents", type=_agent_list, default=None, metavar="I,J,…",
                   help="the attacked set M for every cell (default: every agent)")
    _add_threat_args(g)
    g.add_argument("--no-reference", action="store_true",
                   help="leave out the mask-only scripted reference row of each SMAX (env, learner) block")
    g.add_argument("--checkpoints", type=Path, default=Path("checkpoints"))
    g.add_argument("--adversaries", type=Path, default=None, help="adversary checkpoints for learned attacks")
    g.add_argument("--retrain-adversaries", action="store_true",
                   help="train a fresh adversary against each row's protagonist (cached in the results store)")
    g.add_argument("--retrain-steps", type=_positive_int, default=100_000)
    g.add_argument("--results", type=Path, default=Path("results"))
    g.add_argument("--jobs", type=_positive_int, default=1)
    g.add_argument("--backend", default="loky", help="joblib backend: loky, dask or ray")
    g.add_argument("--quiet", action="store_true")

    dg = sub.add_parser("diagnose", help="is a protagonist's robustness vacuous? observation dependence, "
                                         "blind play and the mask-only reference")
    dg.add_argument("checkpoint", type=Path, help="protagonist checkpoint directory")
    dg.add_argument("--episodes", type=_positive_int, default=500, help="episodes of each measurement (one batch)")
    dg.add_argument("--seed", type=int, default=0, help="seed of the episodes and of the random observations")
    dg.add_argument("--device", default="cpu", help="torch device")
    dg.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    r = sub.add_parser("report", help="LaTeX/Markdown tables and figures from stored results")
    r.add_argument("--results", type=Path, default=Path("results"))
    r.add_argument("--out", type=Path, default=Path("reports/latest"))
    r.add_argument("--checkpoints", type=Path, default=Path("checkpoints"), help="for training-curve figures")
    r.add_argument("--reference", default="atsa", help="reference defense of the significance test")
    r.add_argument("--unit", default="attack", choices=["attack", "episode", "seed"], help="significance test unit")
    r.add_argument("--from-csv", type=Path, default=None, help="typeset an external table of cell values")
    from robench.threat import BOUNDS

    r.add_argument("--bounds", choices=BOUNDS, default=None,
                   help="the threat model to report (required when the results hold several)")
    r.add_argument("--show", action="store_true", help="also print the Markdown Table 1 (and Table 2) on stdout")
    r.add_argument("--format", action="append", default=[], choices=["marl-eval"],
                   help="also export the results in this format (repeatable): marl-eval writes marl_eval.json")

    pg = sub.add_parser("pages", help="docs/results/: one result page per map from a report, and the README's table")
    pg.add_argument("--report", type=Path, default=Path("reports/smax_protocol"), help="a robench report directory")
    pg.add_argument("--out", type=Path, default=Path("docs/results"), help="where the pages go")
    pg.add_argument("--paper", type=Path, default=Path("reports/paper_table1.csv"), help="the paper's Table 1 (CSV)")
    pg.add_argument("--readme", type=Path, default=None,
                    help="also refresh this README's results block from the report's Table 1")

    b = sub.add_parser("bench", help="performance benchmarks (evaluation throughput, training time)")
    b.add_argument("--which", choices=["eval", "train", "grid", "cav", "defenses", "scaling", "all"], default="eval")
    b.add_argument("--scaling-steps", type=_positive_int, default=100_000,
                   help="scaling benchmark: env steps of each training run")
    b.add_argument("--defense-steps", type=_positive_int, default=60_000, help="defenses benchmark: env steps per run")
    b.add_argument("--defenses", nargs="+", default=None, help="defenses benchmark: which (default: all registered)")
    b.add_argument("--jobs", type=_positive_int, default=2, help="grid benchmark: parallel workers")
    b.add_argument("--checkpoint", type=Path, default=None, help="protagonist for the eval benchmark")
    b.add_argument("--episodes", type=_positive_int, default=500, help="batched episodes (eval benchmark)")
    b.add_argument("--single-episodes", type=_positive_int, default=50,
                   help="episodes timed one at a time (their per-episode cost is compared)")
    b.add_argument("--eps", type=_unit_interval, default=0.25)
    b.add_argument("--train-minutes", type=float, default=15.0, help="budget per training benchmark run")
    b.add_argument("--learners", nargs="+", default=["vdn", "qmix"])
    b.add_argument("--agent", default=None, help="training benchmark: agent network (rnn, default, or mlp)")
    b.add_argument("--learner-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="training benchmark: a LearnerConfig setting (repeatable), as for train")
    b.add_argument("--save", type=Path, default=None, help="keep the training-benchmark checkpoints here")
    b.add_argument("--json", action="store_true")
    _fill_help(p)
    return p


COMMON_HELP = {
    "defense": "defense recipe (robench list shows them): noadv, rn, fgsm, atla, paad, pr, pr-rep, ernie, rap, "
               "romance-p, romance-s, atsa",
    "seed": "seed of everything the command draws (envs, initialisation, exploration, attack noise)",
    "device": "torch device (cpu, cuda)",
    "checkpoint": "protagonist checkpoint directory",
    "attack": "attack name (robench list shows them)",
    "episodes": "episodes per evaluation cell (one batch)",
    "maps": "maps of the zoo to plan",
    "learners": "learners (vdn, qmix)",
    "defenses": "defenses (all = every registered one)",
    "seeds": "protagonist training seeds",
    "zoo": "the zoo's directory",
    "jobs": "parallel workers",
    "victim": "the fixed protagonist checkpoint the adversary trains against",
    "eps": "budget ε (default: the paper's for the map)",
    "steps": "env steps",
    "max_minutes": "wall-clock budget in minutes; stops early",
    "force": "replace an existing output directory",
    "quiet": "no progress bar",
    "attacks": "attacks (columns of the grid)",
    "eval_seeds": "evaluation seeds (each a cell of its own)",
    "checkpoints": "directory of protagonist checkpoints",
    "retrain_steps": "env steps of each retrained adversary",
    "results": "the results store",
    "out": "output directory",
    "which": "which benchmark to run",
    "json": "print one JSON object on stdout",
}
"""Help of the options that share their meaning across commands (``_fill_help``)."""


def _fill_help(parser: argparse.ArgumentParser) -> None:
    """Give every option without its own help text the common one for its name (recursively)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _fill_help(sub)
        elif not action.help and action.dest in COMMON_HELP:
            action.help = COMMON_HELP[action.dest]


def _learner_config(mixer: str, agent: str | None, pairs: list[str]) -> LearnerConfig:
    """The ``LearnerConfig`` of ``--learner``, ``--agent`` and the ``--learner-opt KEY=VALUE`` pairs,
    each value converted to its field's type (``mixer`` and ``agent`` have their own flags)."""
    from dataclasses import fields

    from robench.learners.agent import AGENTS
    from robench.learners.learner import OPTIMIZERS, LearnerConfig
    from robench.learners.mixers import MIXERS

    _check_choice("learner", mixer, MIXERS)
    if agent is not None:
        _check_choice("agent network", agent, AGENTS)

    defaults = {f.name: getattr(LearnerConfig(), f.name) for f in fields(LearnerConfig)
                if f.name not in ("mixer", "agent")}
    from robench.options import parse_pairs

    options = parse_pairs(pairs, "--learner-opt", defaults)  # typed by the field's default, as defense options
    if "optimizer" in options:
        _check_choice("optimizer", str(options["optimizer"]), OPTIMIZERS)
    if not 0.0 <= float(options.get("policy_ema", 0.0)) < 1.0:
        raise UsageError(f"--learner-opt policy_ema must lie in [0, 1), got {options['policy_ema']}")
    return LearnerConfig(mixer=mixer, agent=agent or LearnerConfig.agent, **options)


def _defense_options(defense: str, pairs: list[str]) -> dict[str, object]:
    """``KEY=VALUE`` pairs → typed options, each key declared by the defense (its default's type)."""
    from defenses import DEFENSES

    return DEFENSES[defense].parse_options(pairs)


def cmd_train(args: argparse.Namespace) -> int:
    from defenses import DEFENSES
    from robench.envs import backend_of, canonical_map
    from robench.envs import LAYOUT_ALIASES
    from robench.train import TrainConfig

    _check_choice("defense", args.defense, DEFENSES)
    learner = _learner_config(args.learner, args.agent, args.learner_opt)
    backend = backend_of(args.env, args.backend)
    map_name = canonical_map(args.env, backend)
    cfg = TrainConfig(env=map_name, backend=backend, defense=args.defense, eps=args.eps, seed=args.seed,
                      device=args.device, defense_options=_defense_options(args.defense, args.defense_opt),
                      learner=learner, bounds=_bounds(args), attack_prob=args.attack_prob,
                      attack_unit=args.attack_unit, eps_warmup=args.eps_warmup, replay=args.replay,
                      obs_layout=LAYOUT_ALIASES.get(args.obs, args.obs))
    for attr, val in (("steps", args.steps), ("n_envs", args.n_envs), ("stop_win_rate", args.stop_win_rate),
                      ("eval_every", args.eval_every), ("eval_episodes", args.eval_episodes),
                      ("final_eval_episodes", args.final_episodes), ("explore_anneal_steps", args.explore_steps),
                      ("explore_end", args.explore_end)):
        if val is not None:
            setattr(cfg, attr, val)
    if args.max_minutes is not None:
        cfg.max_wall_s = args.max_minutes * 60
    from robench.runs import checkpoint_name, pretrained_checkpoint, train_and_save

    if args.init_from is not None:
        cfg.init_from = str(args.init_from)
    elif DEFENSES[args.defense].PRETRAINED:
        noadv = pretrained_checkpoint(cfg, Path("checkpoints"))
        if not (noadv / "manifest.json").is_file():
            raise UsageError(f"defense {args.defense} fine-tunes a trained protagonist and {noadv} does not exist: "
                             f"train it first (robench train --defense noadv --env {map_name} --learner "
                             f"{args.learner}) or pass --init-from")
        cfg.init_from = str(noadv)

    out = args.out or Path("checkpoints") / map_name / checkpoint_name(cfg)
    if out.exists() and not args.force:
        raise UsageError(f"{out} already exists (pass --force to replace it)")

    manifest = train_and_save(cfg, out, overwrite=args.force, show_progress=not args.quiet)
    outcome = "clean " + _outcome(backend, manifest["clean_win_rate"], manifest["clean_return"],
                                  manifest["clean_crash_rate"])
    print(f"wrote {out}  {outcome} over {manifest['clean_eval_episodes']} episodes, {manifest['steps']} env steps "
          f"in {manifest['wall_time_s'] / 60:.1f} min")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from attacks import ATTACKS
    from robench.checkpoint import load_protagonist
    from robench.envs import layout_of, paper_eps
    from robench.evaluate import evaluate

    _check_choice("attack", args.attack, ATTACKS)
    agent, _, manifest = load_protagonist(args.checkpoint, args.device)
    env = manifest["env"]
    adversary = None
    if ATTACKS[args.attack].learned:
        from attacks.training import load_adversary
        from robench.checkpoint import env_info_from_manifest

        if args.adversary is None:
            raise UsageError(f"attack {args.attack!r} is learned: pass --adversary ADV_CKPT")
        adversary = load_adversary(args.adversary, env_info_from_manifest(manifest), args.device, args.seed)
        if adversary.name != args.attack:
            raise UsageError(f"{args.adversary} holds a {adversary.name!r} adversary, not {args.attack!r}")
    eps = paper_eps(env["map_name"]) if args.eps is None else args.eps
    if args.attack == "none":
        eps = 0.0
    res, _ = evaluate(agent, env["map_name"], backend=env["backend"], attack=args.attack, eps=eps,
                      episodes=args.episodes, seed=args.seed, device=args.device, adversary=adversary,
                      attacked_agents=args.attacked_agents, bounds=_bounds(args), obs_layout=layout_of(env))
    if args.json:
        print(json.dumps(res.to_dict()))
    else:
        from robench.envs import declares

        shown = [f"mean return {res.mean_return:.3f} ± {res.std_return:.3f}"]
        if declares(env["backend"], "win_rate"):
            shown.insert(0, f"win rate {res.win_rate:.3f} [95% CI {res.ci_low:.3f}, {res.ci_high:.3f}]")
        if declares(env["backend"], "crash_rate"):
            shown.append(f"crash rate {res.crash_rate:.3f}")
        print(f"{args.checkpoint}: attack {res.attack} ε={res.eps:g} bounds={res.bounds}  {'  '.join(shown)}  "
              f"({res.episodes} episodes)")
    return 0


def cmd_diagnose(args: argparse.Namespace) -> int:
    from robench.checkpoint import load_protagonist
    from robench.envs import layout_of
    from robench.diagnose import diagnose

    agent, _, manifest = load_protagonist(args.checkpoint, args.device)
    env = manifest["env"]
    d = diagnose(agent, env["map_name"], env["backend"], args.episodes, args.seed, args.device, layout_of(env))
    if args.json:
        print(json.dumps(d.to_dict()))
        return 0
    ref = "" if d.mask_only_win_rate is None else f"  mask-only scripted policy {d.mask_only_win_rate:.3f}"
    print(f"{args.checkpoint}: greedy action changed by a random observation at {d.changed_share:.1%} of "
          f"{d.agent_steps} agent-steps; win rate clean {d.clean_win_rate:.3f}, blind (random observations) "
          f"{d.blind_win_rate:.3f}{ref}  ({d.episodes} episodes)")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from attacks import ATTACKS
    from defenses import DEFENSES
    from robench.envs import BACKENDS, map_names
    from robench.learners.agent import AGENTS
    from robench.learners.mixers import MIXERS

    from robench.envs import EnvError

    for backend in BACKENDS:
        try:
            print(f"env backend {backend}: {', '.join(map_names(backend))}")
        except EnvError as err:
            print(f"env backend {backend}: not usable on this machine — {err}")
    print(f"learners: {', '.join(MIXERS)}; agent networks: {', '.join(AGENTS)}")
    print("defenses:")
    for name, cls in DEFENSES.items():
        options = ", ".join(f"{k}={v}" + (f" ({'|'.join(cls.CHOICES[k])})" if k in cls.CHOICES else "")
                            for k, v in cls.OPTIONS.items())
        print(f"  {name}" + (f": {options}" if options else ""))
    print(f"attacks: {', '.join(ATTACKS)}")
    print(zoo_summary(args.zoo, args.checkpoints))
    return 0


def zoo_summary(zoo: Path, each: bool) -> str:
    """The zoo in a few lines: protagonists and adversaries per map; with ``each`` a table of the
    protagonists (the clean score is the backend's headline metric)."""
    from robench.checkpoint import CheckpointError, checkpoint_dirs, read_manifest
    from robench.envs import declares, layout_of

    manifests = []
    for directory in checkpoint_dirs(zoo) if Path(zoo).is_dir() else []:
        try:
            manifests.append((directory, read_manifest(directory)))
        except CheckpointError:
            continue
    if not manifests:
        return f"zoo ({zoo}): no checkpoints"
    per_map: dict[str, list[int]] = {}
    for _, m in manifests:
        per_map.setdefault(m["env"]["map_name"], [0, 0])[m["kind"] != "protagonist"] += 1
    counts = "; ".join(f"{name} {p} protagonist{'s' * (p != 1)}, {a} adversar{'ies' if a != 1 else 'y'}"
                       for name, (p, a) in sorted(per_map.items()))
    lines = [f"zoo ({zoo}): {counts}"]
    if not each:
        lines.append(f"  (robench list --checkpoints: one line per protagonist; {zoo}/index.json: every entry)")
        return "\n".join(lines)
    lines.append(f"  {'map':<10} {'learner':<7} {'defense':<18} {'seed':>4} {'steps':>9}  {'clean':>12}  protocol")
    for directory, m in manifests:
        if m["kind"] != "protagonist":
            continue
        backend = m["env"]["backend"]
        clean = (f"win {m['clean_win_rate']:.2f}" if declares(backend, "win_rate")
                 else f"return {m.get('clean_return', float('nan')):.1f}")
        threat = m.get("threat", {}).get("bounds", "features")
        variant = directory.name.split("_", 1)[1].rsplit("_s", 1)[0] if "_" in directory.name else m["defense"]
        lines.append(f"  {m['env']['map_name']:<10} {m['learner']:<7} {variant:<18} {m.get('seed', '-')!s:>4} "
                     f"{m.get('steps', 0):>9}  {clean:>12}  {layout_of(m['env'])}, bounds {threat}")
    return "\n".join(lines)


def cmd_zoo(args: argparse.Namespace) -> int:
    from robench.parallel import JOBLIB_BACKENDS
    from robench.learners.mixers import MIXERS
    from robench.zoo import build_zoo, check_defenses, plan_runs, projected_minutes, run_status, zoo_status

    for lr in args.learners:
        _check_choice("learner", lr, MIXERS)
    runs = plan_runs(args.maps, args.learners, check_defenses(args.defenses), args.seeds, args.steps)
    if args.zoo_command == "status" or args.dry_run:
        by_status = zoo_status(runs, args.zoo)
        for status in ("done", "stale", "missing"):
            print(f"{status} ({len(by_status[status])}): {', '.join(by_status[status]) or '-'}")
        left = [r for r in runs if run_status(r, args.zoo) != "done"]
        print(f"projected: {projected_minutes(left, args.zoo) / 60:.1f} 2-core hours for {len(left)} runs")
        return 0
    _check_choice("joblib backend", args.backend, JOBLIB_BACKENDS)
    args.zoo.mkdir(parents=True, exist_ok=True)
    results = build_zoo(runs, args.zoo, args.backend, args.jobs, args.max_hours, args.retrain_stale, not args.quiet)
    trained = sum(r["status"] == "trained" for r in results)
    print(f"zoo: {trained} runs trained, {len(runs) - trained} not trained in this build (done, stale or busy)")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from robench.pymarl_import import import_pymarl

    manifest = import_pymarl(args.run_dir, args.env, args.learner, args.out, backend=args.backend,
                             defense=args.defense, overwrite=args.force, episodes=args.episodes)
    origin = manifest["origin"]
    print(f"wrote {args.out}  {args.learner} agent (hidden {manifest['config']['learner']['hidden']}, last action "
          f"{'in' if manifest['config']['learner']['last_action'] else 'not in'} the input), mixer {origin['mixer']}; "
          f"clean win rate {manifest['clean_win_rate']:.3f} over {manifest['clean_eval_episodes']} episodes on "
          f"{manifest['env']['map_name']}/{manifest['env']['backend']}")
    return 0


def cmd_pages(args: argparse.Namespace) -> int:
    from robench.pages import write_pages

    command = f"robench pages --report {args.report} --out {args.out}" + (f" --readme {args.readme}" if args.readme else "")
    for path in write_pages(args.report, args.out, args.paper, args.readme, command):
        print(path)
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    from robench.index import stale_entries, write_index

    if args.check:
        stale = stale_entries(args.zoo)
        if stale:
            print(f"robench: {args.zoo}/index.json is stale for {len(stale)} checkpoint(s): {', '.join(stale)} "
                  f"(run `robench index --zoo {args.zoo}`)", file=sys.stderr)
            return 1
        print(f"{args.zoo}/index.json is up to date")
        return 0
    path, n = write_index(args.zoo)
    print(f"wrote {path} ({n} checkpoints)")
    return 0


def _outcome(backend: str, win_rate: float, mean_return: float, crash_rate: float) -> str:
    """An evaluation's outcome as printed: the metrics the backend declares (``BACKEND_METRICS``)."""
    from robench.envs import declares

    if declares(backend, "win_rate"):
        return f"win rate {win_rate:.3f}"
    return f"return {mean_return:.2f}, crash rate {crash_rate:.3f}"


def cmd_attack(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from robench.envs import declares

    from attacks.atsa import SDOR_VALUES
    from attacks.training import LEARNED, PAAD_DIRECTORS, REPLAY_LEARNED, AttackTrainConfig, train_adversary
    from robench.checkpoint import load_protagonist

    _check_choice("learned attack", args.attack, LEARNED)
    cfg = AttackTrainConfig(attack=args.attack, eps=args.eps, seed=args.seed, device=args.device, bounds=_bounds(args),
                            max_wall_s=None if args.max_minutes is None else args.max_minutes * 60)
    owners = {"kappa": "atsa", "alpha": "atsa", "value": "atsa", "reward_scale": "atsa", "director": "paad",
              "squash": "atla"}
    for option, owner in owners.items():  # given options must belong to the attack; the rest keep defaults
        if getattr(args, option) is not None:
            if args.attack != owner:
                raise UsageError(f"--{option.replace('_', '-')} applies to --attack {owner} only")
            setattr(cfg, option, getattr(args, option))
    _check_choice("PAAD director", cfg.director, PAAD_DIRECTORS)
    _check_choice("ATSA value", cfg.value, SDOR_VALUES)
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
    outcome = _outcome(manifest["env"]["backend"], adv["final_victim_win_rate"], adv["final_victim_return"],
                       adv["final_victim_crash_rate"])
    print(f"wrote {out}  victim {outcome} under {args.attack} at ε={adv['eps']:g}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from defenses import DEFENSES
    from robench.bench import run_bench

    for d in args.defenses or []:
        _check_choice("defense", d, DEFENSES)
    figures = run_bench(args, [_learner_config(mixer, args.agent, args.learner_opt) for mixer in args.learners])
    if args.json:
        print(json.dumps(figures))
    return 0


def cmd_grid(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from attacks import ATTACKS
    from defenses import DEFENSES
    from robench.envs import backend_of, canonical_map
    from robench.epsilon import parse_eps
    from robench.grid import GridSpec, adversary_candidates, plan, run_grid
    from robench.parallel import JOBLIB_BACKENDS
    from robench.learners.mixers import MIXERS
    from robench.store import ResultStore

    try:
        eps = parse_eps(args.eps)
    except ValueError as err:
        raise UsageError(str(err)) from None
    for a in args.attacks:
        _check_choice("attack", a, ATTACKS)
    for d in args.defenses or []:
        _check_choice("defense", d, DEFENSES)
    for lr in args.learners or []:
        _check_choice("learner", lr, MIXERS)
    _check_choice("joblib backend", args.backend, JOBLIB_BACKENDS)
    envs = [canonical_map(e, backend_of(e)) for e in args.envs] if args.envs else None
    spec = GridSpec(eps=eps, envs=envs, learners=args.learners, defenses=args.defenses, seeds=args.seeds,
                    attacks=args.attacks, episodes=args.episodes, eval_seeds=args.eval_seeds,
                    checkpoints=args.checkpoints, adversaries=args.adversaries, results=args.results, jobs=args.jobs,
                    backend=args.backend, retrain_adversaries=args.retrain_adversaries,
                    retrain_steps=args.retrain_steps, attacked_agents=args.attacked_agents, bounds=_bounds(args),
                    reference_rows=not args.no_reference)
    candidates = adversary_candidates(spec.adversaries)
    cells, missing = plan(spec, candidates)
    for (env, learner, attack), found in candidates.items():
        if len(found) > 1 and attack in spec.attacks:
            print(f"robench: note: {len(found)} {attack} adversaries for {env}/{learner}; using {found[0][0]} "
                  f"(co-trained by that defense first, then path order) for the whole column", file=sys.stderr)
    for m in missing:
        print(f"robench: missing: no {m['attack']} adversary for {m['env']}/{m['learner']} "
              f"(row {m['defense']} seed {m['seed']}): pass --adversaries DIR", file=sys.stderr)
    if not cells:
        raise UsageError(f"no protagonist checkpoints under {args.checkpoints} match the filters")
    store = ResultStore(args.results)
    cached = sum(store.done(c.cid) for c in cells)
    bar = tqdm(total=len(cells), unit="cell", disable=args.quiet, file=sys.stderr, dynamic_ncols=True)
    metas = run_grid(spec, on_cell=lambda meta: bar.update(1), cells=cells)
    bar.close()
    print(f"grid: {len(metas)} cells ({cached} already stored, {len(metas) - cached} computed) in {args.results}; "
          f"{len(missing)} learned-attack cells missing an adversary")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from robench.report import write_report

    written = write_report(args.results, args.out, args.checkpoints, args.reference, args.unit, args.from_csv,
                           bounds=args.bounds, formats=tuple(args.format))
    for path in written:
        print(path)
    if args.show:
        for path in written:
            if path.name.startswith("table") and path.suffix == ".md":
                print(f"\n{path.name}:\n{path.read_text()}")
    return 0


COMMANDS = {"diagnose": cmd_diagnose, "train": cmd_train, "eval": cmd_eval, "list": cmd_list, "bench": cmd_bench, "grid": cmd_grid,
            "report": cmd_report, "attack": cmd_attack, "index": cmd_index, "zoo": cmd_zoo,
            "import": cmd_import, "pages": cmd_pages}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from robench.errors import RobenchError

    try:
        return COMMANDS[args.command](args)
    except (UsageError, RobenchError) as err:
        print(f"robench: error: {err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
