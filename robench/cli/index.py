"""``robench index``: rebuild the zoo's index.json from its manifests."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path



def add_parser(sub) -> None:
    """The ``robench index`` parser."""
    ix = sub.add_parser("index", help="rebuild the zoo's index.json from its manifests")
    ix.add_argument("--zoo", type=Path, default=Path("checkpoints"))
    ix.add_argument("--check", action="store_true", help="only check that index.json is up to date (exit 1 if not)")


def run(args: argparse.Namespace) -> int:
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
