"""``robench eval``: evaluate a checkpoint under one attack at one ε."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from robench.cli.common import (
    features_arg,
    UsageError, add_threat_args, agent_list, check_choice, positive_int, threat_from_args, unit_interval
)


def add_parser(sub) -> None:
    """The ``robench eval`` parser."""
    e = sub.add_parser("eval", help="evaluate a checkpoint under one attack at one ε")
    e.add_argument("checkpoint", type=Path)
    e.add_argument("--attack", default="none")
    e.add_argument("--adversary", type=Path, default=None, help="adversary checkpoint of a learned attack")
    e.add_argument("--eps", type=unit_interval, default=None, help="attack budget (default: the paper's for the map)")
    e.add_argument("--episodes", type=positive_int, default=500)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--device", default="cpu")
    e.add_argument("--features", type=features_arg, default=None, metavar="SPEC",
                    help="the observation coordinates an attack may touch, e.g. 0:4,10 (default: all)")
    e.add_argument("--attacked-agents", type=agent_list, default=None, metavar="I,J,…",
                   help="the attacked set M (agent indices; default: every agent)")
    add_threat_args(e)
    e.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def run(args: argparse.Namespace) -> int:
    from attacks import ATTACKS
    from robench.checkpoint import load_protagonist
    from robench.envs import paper_eps
    from robench.evaluate import evaluate
    from robench.manifest import Manifest

    check_choice("attack", args.attack, ATTACKS)
    agent, _, manifest = load_protagonist(args.checkpoint, args.device)
    m = Manifest(manifest)
    adversary = None
    if ATTACKS[args.attack].learned:
        from attacks.training import load_adversary
        from robench.checkpoint import env_info_from_manifest

        if args.adversary is None:
            raise UsageError(f"attack {args.attack!r} is learned: pass --adversary ADV_CKPT")
        adversary = load_adversary(args.adversary, env_info_from_manifest(manifest), args.device, args.seed)
        if adversary.name != args.attack:
            raise UsageError(f"{args.adversary} holds a {adversary.name!r} adversary, not {args.attack!r}")
    threat = threat_from_args(args, args.eps).resolved(paper_eps(m.map_name))
    if ATTACKS[args.attack].clean:
        threat = threat.clean()
    res, _ = evaluate(agent, m.map_name, backend=m.backend, attack=args.attack, threat=threat,
                      episodes=args.episodes, seed=args.seed, device=args.device, adversary=adversary,
                      obs_layout=m.obs_layout)
    if args.json:
        print(json.dumps(res.to_dict()))
    else:
        from robench.envs import declares

        shown = [f"mean return {res.mean_return:.3f} ± {res.std_return:.3f}"]
        if declares(m.backend, "win_rate"):
            shown.insert(0, f"win rate {res.win_rate:.3f} [95% CI {res.ci_low:.3f}, {res.ci_high:.3f}]")
        if declares(m.backend, "crash_rate"):
            shown.append(f"crash rate {res.crash_rate:.3f}")
        print(f"{args.checkpoint}: attack {res.attack} ε={res.eps:g} bounds={res.bounds}  {'  '.join(shown)}  "
              f"({res.episodes} episodes)")
    return 0
