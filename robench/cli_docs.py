"""``docs/cli.md``, generated from the argparse parser: every command, every flag, its help.

Regenerate with ``python -m robench.cli_docs > docs/cli.md`` (a test fails when it is stale)."""
from __future__ import annotations

import argparse

from robench.cli import build_parser


def _rows(parser: argparse.ArgumentParser) -> list[str]:
    rows = ["| option | default | help |", "|---|---|---|"]
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        name = ", ".join(action.option_strings) or action.dest
        if action.choices and not isinstance(action.choices, dict):
            name += " {" + ",".join(map(str, action.choices)) + "}"
        default = "" if action.default in (None, False, argparse.SUPPRESS) or action.option_strings == [] \
            else f"`{action.default}`"
        text = (action.help or "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{name}` | {default} | {text} |")
    return rows


def _commands(parser: argparse.ArgumentParser, prefix: str) -> list[tuple[str, argparse.ArgumentParser, str]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                found.append((f"{prefix} {name}", sub, helps.get(name, "")))
                found += _commands(sub, f"{prefix} {name}")
    return found


def cli_markdown() -> str:
    """The whole command reference as Markdown."""
    out = ["# Command reference", "", "Generated from the parser by `python -m robench.cli_docs > docs/cli.md`; "
           "`robench COMMAND --help` prints the same.", ""]
    for name, sub, text in _commands(build_parser(), "robench"):
        out += [f"## `{name}`", "", text, ""] if text else [f"## `{name}`", ""]
        rows = _rows(sub)
        if len(rows) > 2:
            out += rows + [""]
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(cli_markdown(), end="")
