"""``robench report``: LaTeX/Markdown tables and figures from stored results."""
from __future__ import annotations

import argparse
from pathlib import Path



def add_parser(sub) -> None:
    """The ``robench report`` parser."""
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


def run(args: argparse.Namespace) -> int:
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
