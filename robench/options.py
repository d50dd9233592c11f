"""``KEY=VALUE`` options typed by their defaults: the one parser of ``--defense-opt``,
``--attack-opt`` and ``--learner-opt`` (the fields of a method's ``Config``, of ``LearnerConfig``)."""
from __future__ import annotations

from robench.errors import RobenchError

Option = float | int | bool | str


def article(kind: str) -> str:
    """``a float``, ``an int``: a type's name with its article."""
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def parse_option(name: str, default: Option | None, text: str) -> Option:
    """``text`` converted to the type of ``default`` (None defaults take a float)."""
    try:
        if isinstance(default, bool):
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return text.lower() in ("true", "1")
        if isinstance(default, str):
            return text
        if isinstance(default, int):
            return int(text)
        return float(text)
    except ValueError:
        kind = "a float" if default is None else article(type(default).__name__)
        raise RobenchError(f"option {name} expects {kind}, got {text!r}") from None


def parse_pairs(pairs: list[str], flag: str, defaults: dict[str, Option | None],
                unknown: str = "error") -> dict[str, Option]:
    """``KEY=VALUE`` strings → {key: value typed like ``defaults[key]``}.  A malformed pair is an
    error naming ``flag``; an undeclared key is one too (``unknown="error"``) or is kept as its
    string for the caller to reject with its own message (``unknown="keep"``)."""
    options: dict[str, Option] = {}
    for pair in pairs:
        key, sep, value = (part.strip() for part in pair.partition("="))
        if not sep or not key or not value or (key not in defaults and unknown == "error"):
            known = f" with KEY one of {', '.join(defaults)}" if unknown == "error" else ""
            raise RobenchError(f"{flag} expects KEY=VALUE{known}, got {pair!r}")
        options[key] = parse_option(key, defaults[key], value) if key in defaults else value
    return options
