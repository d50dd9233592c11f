"""``robench grid``: evaluate every checkpoint × attack × ε (resumable)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from robench.cli.common import (
    features_arg,
    UsageError, add_threat_args, agent_list, check_choice, positive_int, threat_from_args
)


def add_parser(sub) -> None:
    """The ``robench grid`` parser."""
    g = sub.add_parser("grid", help="evaluate every checkpoint × attack × ε (resumable)")
    g.add_argument("--envs", nargs="+", default=None, help="maps (default: all with checkpoints)")
    g.add_argument("--eps", default="0.05:0.25", help="start:stop[:step] (step 0.05) or a comma list")
    g.add_argument("--defenses", nargs="+", default=None)
    g.add_argument("--attacks", nargs="+", default=["none", "random", "fgsm"])
    g.add_argument("--learners", nargs="+", default=None)
    g.add_argument("--episodes", type=positive_int, default=500)
    g.add_argument("--seeds", nargs="+", type=int, default=None, help="protagonist training seeds (default all)")
    g.add_argument("--eval-seeds", nargs="+", type=int, default=[0])
    g.add_argument("--features", type=features_arg, default=None, metavar="SPEC",
                    help="the observation coordinates an attack may touch, e.g. 0:4,10 (default: all)")
    g.add_argument("--attacked-agents", type=agent_list, default=None, metavar="I,J,…",
                   help="the attacked set M for every cell (default: every agent)")
    add_threat_args(g)
    g.add_argument("--no-reference", action="store_true",
                   help="leave out the mask-only scripted reference row of each SMAX (env, learner) block")
    g.add_argument("--checkpoints", type=Path, default=Path("checkpoints"))
    g.add_argument("--adversaries", type=Path, default=None, help="adversary checkpoints for learned attacks")
    g.add_argument("--retrain-adversaries", action="store_true",
                   help="train a fresh adversary against each row's protagonist (cached in the results store)")
    g.add_argument("--retrain-steps", type=positive_int, default=100_000)
    g.add_argument("--results", type=Path, default=Path("results"))
    g.add_argument("--jobs", type=positive_int, default=1)
    g.add_argument("--backend", default="loky", help="joblib backend: loky, dask or ray")
    g.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
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
        check_choice("attack", a, ATTACKS)
    defenses = None if args.defenses in (None, ["all"]) else args.defenses
    for d in defenses or []:
        check_choice("defense", d, DEFENSES)
    for lr in args.learners or []:
        check_choice("learner", lr, MIXERS)
    check_choice("joblib backend", args.backend, JOBLIB_BACKENDS)
    envs = [canonical_map(e, backend_of(e)) for e in args.envs] if args.envs else None
    spec = GridSpec(eps=eps, envs=envs, learners=args.learners, defenses=defenses, seeds=args.seeds,
                    attacks=args.attacks, episodes=args.episodes, eval_seeds=args.eval_seeds,
                    checkpoints=args.checkpoints, adversaries=args.adversaries, results=args.results, jobs=args.jobs,
                    backend=args.backend, retrain_adversaries=args.retrain_adversaries,
                    retrain_steps=args.retrain_steps, threat=threat_from_args(args),
                    reference_rows=not args.no_reference)
    candidates = adversary_candidates(spec.adversaries)
    cells, missing = plan(spec, candidates)
    for (env, learner, attack, layout), found in candidates.items():
        if len(found) > 1 and attack in spec.attacks:
            print(f"robench: note: {len(found)} {attack} adversaries for {env}/{learner} ({layout} observations); "
                  f"using {found[0][0]} (co-trained by that defense at its default attacked share first, then path "
                  f"order) for the whole column", file=sys.stderr)
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
