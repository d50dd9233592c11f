"""``robench pages``: docs/results/: one result page per map from a report, and the README's table."""
from __future__ import annotations

import argparse
from pathlib import Path



def add_parser(sub) -> None:
    """The ``robench pages`` parser."""
    pg = sub.add_parser("pages", help="docs/results/: one result page per map from a report, and the README's table")
    pg.add_argument("--report", type=Path, default=Path("reports/smax_protocol"), help="a robench report directory")
    pg.add_argument("--out", type=Path, default=Path("docs/results"), help="where the pages go")
    pg.add_argument("--paper", type=Path, default=Path("reports/paper_table1.csv"), help="the paper's Table 1 (CSV)")
    pg.add_argument("--readme", type=Path, default=None,
                    help="also refresh this README's results block from the report's Table 1")
    pg.add_argument("--html", type=Path, default=None, metavar="DIR",
                    help="write the leaderboard as a static site (one page per map and per checkpoint) to DIR "
                         "instead of the Markdown pages")
    pg.add_argument("--zoo", type=Path, default=Path("checkpoints"), help="the zoo the report measured (for --html)")


def run(args: argparse.Namespace) -> int:
    from robench.pages import write_pages

    if args.html is not None:
        from robench.site import write_site

        written = write_site(args.report, args.zoo, args.html)
        print(f"wrote {written[0]} and {len(written) - 1} more pages")
        return 0
    command = f"robench pages --report {args.report} --out {args.out}" + (f" --readme {args.readme}" if args.readme else "")
    for path in write_pages(args.report, args.out, args.paper, args.readme, command):
        print(path)
    return 0
