"""What the commands share: argument types, one-line errors, the threat-model flags, the learner
and defense options, and the help of options that mean the same everywhere."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports torch-backed modules lazily, inside each command
    from robench.learners.learner import LearnerConfig
    from robench.threat import ThreatModel

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad user input: printed as one line, exit code 2."""


def unit_interval(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= x <= 1.0:
        raise argparse.ArgumentTypeError(f"ε must lie in [0, 1], got {x}")
    return x


def jobs_count(text: str) -> int | str:
    """``auto`` or a positive integer (``robench.runtime.plan_jobs``)."""
    return "auto" if text == "auto" else positive_int(text)


def nonnegative_int(text: str) -> int:
    try:
        x = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if x < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {x}")
    return x


def add_snapshot_args(parser: argparse.ArgumentParser) -> None:
    """``--snapshots`` / ``--snapshot-every``: where and how often a training run keeps the snapshot
    it resumes from (``robench.snapshot``)."""
    from robench.snapshot import SnapshotPolicy

    parser.add_argument("--snapshots", type=Path, default=None, metavar="DIR",
                        help="root of the runs' snapshots (default $ROBENCH_SNAPSHOTS or ~/.cache/robench/snapshots); "
                             "a killed run started again with the same command resumes from its own")
    parser.add_argument("--snapshot-every", type=nonnegative_int, default=SnapshotPolicy.every, metavar="STEPS",
                        help=f"env steps between snapshots (default {SnapshotPolicy.every}; 0: none)")


def positive_int(text: str) -> int:
    try:
        x = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if x <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {x}")
    return x


def agent_list(text: str) -> list[int]:
    try:
        agents = sorted({int(x) for x in text.split(",")})
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma list of agent indices: {text!r}") from None
    if any(a < 0 for a in agents):
        raise argparse.ArgumentTypeError(f"agent indices must be non-negative: {text!r}")
    return agents


def features_arg(text: str) -> list[int]:
    """``--features 0:4,10`` → the indices (``robench.threat.parse_features``)."""
    from robench.errors import RobenchError
    from robench.threat import parse_features

    try:
        return list(parse_features(text))
    except RobenchError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def check_choice(kind: str, name: str, known) -> None:
    if name not in known:
        raise UsageError(f"unknown {kind} {name!r}; known: {', '.join(sorted(known))}")


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line (no usage dump), exit code 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_USAGE, f"robench: error: {message} (see {self.prog} --help)\n")


def add_threat_args(p: argparse.ArgumentParser) -> None:
    """``--bounds`` / ``--threat``: how ô is kept in range (``robench.threat``)."""
    from robench.threat import BOUNDS, DEFAULT_BOUNDS, PRESETS

    p.add_argument("--bounds", choices=BOUNDS, default=None,
                   help=f"range of ô: features (per-feature), box ([-1, 1]) or none (the ATSA authors'; "
                        f"default {DEFAULT_BOUNDS})")
    p.add_argument("--threat", choices=sorted(PRESETS), default=None,
                   help="a named threat model: paper (bounds none) or features (per-feature clipping)")


def threat_from_args(args: argparse.Namespace, eps: float | None = None) -> "ThreatModel":
    """The threat model a command's flags give: ``eps`` (a command's single ``--eps``; None = the
    paper's for the map, or a grid's per-cell radii), ``--bounds`` / ``--threat``, and where the
    command has them ``--attacked-agents`` and ``--features``."""
    from robench.errors import RobenchError
    from robench.threat import ThreatModel, resolve_bounds

    agents, features = getattr(args, "attacked_agents", None), getattr(args, "features", None)
    try:
        return ThreatModel(eps=eps, bounds=resolve_bounds(args.bounds, args.threat),
                           attacked_agents=None if agents is None else tuple(agents),
                           features=None if features is None else tuple(features))
    except RobenchError as err:
        raise UsageError(str(err)) from None


def learner_config(mixer: str, agent: str | None, pairs: list[str]) -> LearnerConfig:
    """The ``LearnerConfig`` of ``--learner``, ``--agent`` and the ``--learner-opt KEY=VALUE`` pairs,
    each value converted to its field's type (``mixer`` and ``agent`` have their own flags)."""
    from dataclasses import fields

    from robench.learners.agent import AGENTS
    from robench.learners.learner import OPTIMIZERS, LearnerConfig
    from robench.learners.mixers import MIXERS

    check_choice("learner", mixer, MIXERS)
    if agent is not None:
        check_choice("agent network", agent, AGENTS)

    defaults = {f.name: getattr(LearnerConfig(), f.name) for f in fields(LearnerConfig)
                if f.name not in ("mixer", "agent")}
    from robench.options import parse_pairs

    options = parse_pairs(pairs, "--learner-opt", defaults)  # typed by the field's default, as defense options
    if "optimizer" in options:
        check_choice("optimizer", str(options["optimizer"]), OPTIMIZERS)
    if not 0.0 <= float(options.get("policy_ema", 0.0)) < 1.0:
        raise UsageError(f"--learner-opt policy_ema must lie in [0, 1), got {options['policy_ema']}")
    return LearnerConfig(mixer=mixer, agent=agent or LearnerConfig.agent, **options)


def defense_options(defense: str, pairs: list[str]) -> dict[str, object]:
    """``KEY=VALUE`` pairs → typed options, each key declared by the defense (its default's type)."""
    from defenses import DEFENSES

    return DEFENSES[defense].parse_options(pairs)


COMMON_HELP = {
    "defense": "defense recipe (robench list shows them): {defenses}",
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
"""Help of the options that share their meaning across commands (``fill_help``)."""


def registered_defenses() -> str:
    """The registry's defense names, comma-separated (read when the help is built)."""
    from defenses import DEFENSES

    return ", ".join(DEFENSES)


def fill_help(parser: argparse.ArgumentParser) -> None:
    """Give every option without its own help text the common one for its name (recursively)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                fill_help(sub)
        elif not action.help and action.dest in COMMON_HELP:
            action.help = COMMON_HELP[action.dest].replace("{defenses}", registered_defenses())
