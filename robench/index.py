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
from robench.manifest import Manifest

INDEX = "index.json"
FORMAT = "robench-zoo-index/1"


def entry(root: Path, directory: Path, manifest: Manifest) -> dict[str, Any]:
    """The index row of one checkpoint (paths relative to the zoo root, POSIX style)."""
    row = {
        "path": directory.relative_to(root).as_posix(),
        "kind": manifest.kind,
        "map": manifest.map_name,
        "backend": manifest.raw["env"].get("backend"),
        "learner": manifest.learner,
        "eps": manifest.eps,
        "seed": manifest.seed,
        "steps": manifest.steps,
        "wall_time_s": manifest.wall_time_s,
        "content_hash": manifest.content_hash,
    }
    if manifest.is_protagonist:
        row.update(defense=manifest.defense, variant=variant_of(manifest.raw), agent=manifest.learner_config.agent,
                   clean_win_rate=manifest.clean_win_rate, init_from_map=manifest.init_from_map,
                   lineage_wall_time_s=manifest.lineage_wall_time_s)
    else:
        row.update(attack=manifest.attack, victim=manifest.victim, final_victim_win_rate=manifest.final_victim_win_rate)
    return row


def build_index(root: Path) -> dict[str, Any]:
    """Scan ``root`` for checkpoint manifests; a corrupt manifest is a one-line error."""
    root = Path(root)
    if not root.is_dir():
        raise RobenchError(f"no checkpoint directory {root}")
    rows = [entry(root, directory, Manifest(read_manifest(directory))) for directory in checkpoint_dirs(root)]
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
