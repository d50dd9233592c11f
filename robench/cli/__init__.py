"""The ``robench`` command: train, eval, list, zoo, import, index, attack train, grid, diagnose,
report, pages, bench — one module per command in this package (``add_parser``, ``run``).

Bad input (unknown names, ε outside [0, 1], non-positive counts, missing or corrupt
checkpoints) ends with one ``robench: error: …`` line on stderr and exit code 2.
"""
from __future__ import annotations

import argparse
import sys

from robench.cli import train, evaluate, listing, zoo, imports, index, attack, grid, diagnose, report, pages, bench
from robench.cli.common import EXIT_USAGE, OneLineParser, UsageError, fill_help

COMMANDS = {"train": train, "eval": evaluate, "list": listing, "zoo": zoo, "import": imports, "index": index,
            "attack": attack, "grid": grid, "diagnose": diagnose, "report": report, "pages": pages, "bench": bench}
"""Command name → its module (``add_parser(sub)``, ``run(args)``), in the order ``--help`` lists them."""


def build_parser() -> argparse.ArgumentParser:
    from robench import __version__

    p = OneLineParser(prog="robench", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"robench {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for module in COMMANDS.values():
        module.add_parser(sub)
    fill_help(p)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from robench.errors import RobenchError

    try:
        return COMMANDS[args.command].run(args)
    except (UsageError, RobenchError) as err:
        print(f"robench: error: {err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
