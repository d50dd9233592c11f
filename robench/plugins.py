"""Third-party methods: classes advertised under the ``robench.attacks`` / ``robench.defenses``
entry-point groups join the registries (a plugin package adds ``[project.entry-points."robench.attacks"]
mything = "pkg.module:MyAttack"``)."""
from __future__ import annotations

from importlib.metadata import entry_points


def load_entry_points(group: str) -> dict[str, type]:
    """name → class for every entry point of ``group``."""
    return {ep.name: ep.load() for ep in entry_points(group=group)}
