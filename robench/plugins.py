"""Third-party methods: classes advertised under the ``robench.attacks`` / ``robench.defenses``
entry-point groups join the registries (a plugin package adds ``[project.entry-points."robench.attacks"]
mything = "pkg.module:MyAttack"``)."""
from __future__ import annotations

from importlib.metadata import entry_points


def load_entry_points(group: str) -> dict[str, type]:
    """name → class for every entry point of ``group``; an entry point's name must be its class's
    ``name`` (the registry key)."""
    found = {}
    for ep in entry_points(group=group):
        cls = ep.load()
        if getattr(cls, "name", None) != ep.name:
            raise ValueError(f"entry point {ep.name!r} of {group} names a class whose name is {getattr(cls, 'name', None)!r}")
        found[ep.name] = cls
    return found


def registry(classes: list[type]) -> dict[str, type]:
    """A registry of built-in classes, each under its own ``name`` (in the given order)."""
    found: dict[str, type] = {}
    for cls in classes:
        if cls.name in found:
            raise ValueError(f"two classes register as {cls.name!r}")
        found[cls.name] = cls
    return found


def add_plugins(found: dict[str, type], group: str) -> None:
    """Add the plugins of ``group`` to the registry ``found``, once its package has defined
    everything a plugin module may import from it (a plugin may import the package back); a
    plugin that takes a built-in name is an error."""
    for name, cls in load_entry_points(group).items():
        if name in found:
            raise ValueError(f"plugin {name!r} of {group} takes a built-in name")
        found[name] = cls
