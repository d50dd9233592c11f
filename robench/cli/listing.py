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
