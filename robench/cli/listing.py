"""``robench list``: registered environments, learners, defenses and attacks; the zoo in brief."""
from __future__ import annotations

import argparse
from pathlib import Path



def add_parser(sub) -> None:
    """The ``robench list`` parser."""
    ls = sub.add_parser("list", help="registered environments, learners, defenses and attacks; the zoo in brief")
    ls.add_argument("--zoo", type=Path, default=Path("checkpoints"), help="the zoo to summarise")
    ls.add_argument("--checkpoints", action="store_true",
                    help="one line per protagonist (map, learner, defense, seed, steps, clean score, protocol)")


def run(args: argparse.Namespace) -> int:
    from attacks import ATTACKS
    from defenses import DEFENSES
    from robench.envs import BACKENDS, map_names
    from robench.learners.agent import AGENTS
    from robench.learners.mixers import MIXERS
    from robench.method_config import describe

    from robench.envs import EnvError

    for backend in BACKENDS:
        try:
            print(f"env backend {backend}: {', '.join(map_names(backend))}")
        except EnvError as err:
            print(f"env backend {backend}: not usable on this machine — {err}")
    print(f"learners: {', '.join(MIXERS)}; agent networks: {', '.join(AGENTS)}")
    print("defenses:")
    for name, cls in DEFENSES.items():
        options = describe(cls.Config)
        print(f"  {name}" + (f": {options}" if options else ""))
    print(f"attacks: {', '.join(ATTACKS)}")
    print("learned attacks (robench attack train --attack-opt KEY=VALUE):")
    for name, cls in ATTACKS.items():
        if cls.learned:
            print(f"  {name}{' (learns from replay)' if cls.replay else ''}: {describe(cls.Config) or 'no options'}")
    print(zoo_summary(args.zoo, args.checkpoints))
    return 0


def zoo_summary(zoo: Path, each: bool) -> str:
    """The zoo in a few lines: protagonists and adversaries per map; with ``each`` a table of the
    protagonists (the clean score is the backend's headline metric)."""
    from robench.checkpoint import CheckpointError, checkpoint_dirs, read_manifest
    from robench.envs import declares
    from robench.manifest import Manifest

    manifests = []
    for directory in checkpoint_dirs(zoo) if Path(zoo).is_dir() else []:
        try:
            manifests.append((directory, Manifest(read_manifest(directory))))
        except CheckpointError:
            continue
    if not manifests:
        return f"zoo ({zoo}): no checkpoints"
    per_map: dict[str, list[int]] = {}
    for _, m in manifests:
        per_map.setdefault(m.map_name, [0, 0])[not m.is_protagonist] += 1
    counts = "; ".join(f"{name} {p} protagonist{'s' * (p != 1)}, {a} adversar{'ies' if a != 1 else 'y'}"
                       for name, (p, a) in sorted(per_map.items()))
    lines = [f"zoo ({zoo}): {counts}"]
    if not each:
        lines.append(f"  (robench list --checkpoints: one line per protagonist; {zoo}/index.json: every entry)")
        return "\n".join(lines)
    lines.append(f"  {'map':<10} {'learner':<7} {'defense':<18} {'seed':>4} {'steps':>9}  {'clean':>12}  protocol")
    for directory, m in manifests:
        if not m.is_protagonist:
            continue
        clean = (f"win {m.clean_win_rate:.2f}" if declares(m.backend, "win_rate")
                 else f"return {m.clean_return if m.clean_return is not None else float('nan'):.1f}")
        variant = directory.name.split("_", 1)[1].rsplit("_s", 1)[0] if "_" in directory.name else m.defense
        seed = "-" if m.seed is None else m.seed
        lines.append(f"  {m.map_name:<10} {m.learner:<7} {variant:<18} {seed!s:>4} "
                     f"{m.steps or 0:>9}  {clean:>12}  {m.obs_layout}, bounds {m.bounds}")
    return "\n".join(lines)
