"""``robench diagnose``: is a protagonist's robustness vacuous? observation dependence, blind
play, the mask-only reference and FGSM's footprint."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from robench.cli.common import positive_int, unit_interval
from robench.diagnose_file import DIAGNOSIS_FILE


def add_parser(sub) -> None:
    """The ``robench diagnose`` parser."""
    dg = sub.add_parser("diagnose", help="is a protagonist's robustness vacuous? observation dependence, "
                                         "blind play, the mask-only reference and FGSM's footprint")
    dg.add_argument("checkpoint", type=Path, help="protagonist checkpoint directory")
    dg.add_argument("--episodes", type=positive_int, default=500, help="episodes of each measurement (one batch)")
    dg.add_argument("--seed", type=int, default=0, help="seed of the episodes and of the random observations")
    dg.add_argument("--eps", type=unit_interval, default=None,
                    help="ε of the footprint check, fgsm against fgsm-support, bounds none (default: the paper's for the map)")
    dg.add_argument("--no-footprint", action="store_true", help="skip the footprint check (two attacked evaluations)")
    dg.add_argument("--device", default="cpu", help="torch device")
    dg.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    dg.add_argument("--save", action="store_true",
                    help=f"also write the numbers beside the weights ({DIAGNOSIS_FILE}, with the checkpoint's content "
                         f"hash): the leaderboard's changed-%% column")


def run(args: argparse.Namespace) -> int:
    from robench.checkpoint import load_protagonist
    from robench.envs import paper_eps
    from robench.manifest import Manifest
    from robench.diagnose import diagnose

    agent, _, raw = load_protagonist(args.checkpoint, args.device)
    m = Manifest(raw)
    eps = None if args.no_footprint else paper_eps(m.map_name) if args.eps is None else args.eps
    d = diagnose(agent, m.map_name, m.backend, args.episodes, args.seed, args.device, m.obs_layout, eps)
    if args.save:
        from robench.diagnose_file import save_diagnosis

        save_diagnosis(args.checkpoint, m.content_hash, d.to_dict(), args.episodes, args.seed)
    if args.json:
        print(json.dumps(d.to_dict()))
        return 0
    ref = "" if d.mask_only_win_rate is None else f"  mask-only scripted policy {d.mask_only_win_rate:.3f}"
    print(f"{args.checkpoint}: greedy action changed by a random observation at {d.changed_share:.1%} of "
          f"{d.agent_steps} agent-steps; win rate clean {d.clean_win_rate:.3f}, blind (random observations) "
          f"{d.blind_win_rate:.3f}{ref}  ({d.episodes} episodes)")
    if d.fgsm_win_rate is not None:
        print(f"  footprint at ε={d.footprint_eps:g}, bounds none: win rate under fgsm {d.fgsm_win_rate:.3f}, "
              f"under fgsm-support (fgsm's step off the zero coordinates) {d.fgsm_support_win_rate:.3f}")
    return 0
