"""``checkpoints/index.json``: the model zoo's table of contents (RobustBench-style).

One entry per checkpoint directory under the zoo root, read off its manifest (never its
weights): path, kind, map, backend, learner, agent network, defense or attack, variant,
training ε, seed, steps, wall time, the recorded clean (or victim) win rate and the content
hash.  The index is
derived data: ``robench index`` rebuilds it atomically, ``robench index --check`` fails when
the committed one no longer matches the manifests (a test runs that check on the repository's
own zoo).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from robench.atomic import atomic_write_text
from robench.checkpoint import checkpoint_dirs, read_manifest
from robench.errors import RobenchError
from robench.grid import variant_of
from robench.manifest import learner_config

INDEX = "index.json"
FORMAT = "robench-zoo-index/1"


def entry(root: Path, directory: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """The index row of one checkpoint (paths relative to the zoo root, POSIX style)."""
    env = manifest.get("env", {})
    row = {
        "path": directory.relative_to(root).as_posix(),
        "kind": manifest["kind"],
        "map": env.get("map_name"),
        "backend": env.get("backend"),
        "learner": manifest["learner"],
        "eps": manifest.get("eps"),
        "seed": manifest.get("seed"),
        "steps": manifest.get("steps"),
        "wall_time_s": manifest.get("wall_time_s"),
        "content_hash": manifest["content_hash"],
    }
    if manifest["kind"] == "protagonist":
        row.update(defense=manifest.get("defense"), variant=variant_of(manifest),
                   agent=learner_config(manifest).agent, clean_win_rate=manifest.get("clean_win_rate"),
                   init_from_map=manifest.get("init_from_map"),
                   lineage_wall_time_s=manifest.get("lineage_wall_time_s", manifest.get("wall_time_s")))
    else:
        row.update(attack=manifest.get("attack"), victim=manifest.get("victim"),
                   final_victim_win_rate=manifest.get("final_victim_win_rate"))
    return row


def build_index(root: Path) -> dict[str, Any]:
    """Scan ``root`` for checkpoint manifests; a corrupt manifest is a one-line error."""
    root = Path(root)
    if not root.is_dir():
        raise RobenchError(f"no checkpoint directory {root}")
    rows = [entry(root, directory, read_manifest(directory)) for directory in checkpoint_dirs(root)]
    return {"format": FORMAT, "checkpoints": rows}


def write_index(root: Path) -> tuple[Path, int]:
    """Rebuild ``root/index.json`` (temporary file + rename: never half-written)."""
    index = build_index(root)
    path = Path(root) / INDEX
    atomic_write_text(path, json.dumps(index, indent=1, sort_keys=True) + "\n")
    return path, len(index["checkpoints"])


def stale_entries(root: Path) -> list[str]:
    """Paths whose index row is missing, extra or different from the manifests (empty = fresh)."""
    path = Path(root) / INDEX
    if not path.is_file():
        raise RobenchError(f"{path} does not exist (run `robench index --zoo {root}`)")
    try:
        stored = json.loads(path.read_text())
        old = {row["path"]: row for row in stored["checkpoints"]}
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise RobenchError(f"corrupt zoo index {path}: {err}") from None
    new = {row["path"]: row for row in build_index(root)["checkpoints"]}
    return sorted(p for p in old.keys() | new.keys() if old.get(p) != new.get(p))
