"""``checkpoints/index.json``: the model zoo's table of contents (RobustBench-style).

One entry per checkpoint directory under the zoo root, read off its manifest (never its
weights): path, kind, map, backend, learner, agent network, defense or attack, variant,
training ε, seed, steps, wall time, the recorded clean (or victim) win rate and the content
hash; a protagonist's ``protocol`` (observation layout, bounds, regime, env-step budget: the
row label of ``robench.rows.protocol_of`` as data) and ``zoo_entry``: whether it is the zoo's entry for
its (map, learner, defense, seed) — the run ``robench zoo build`` plans there, trained with
today's recipe (``zoo_plan.run_status`` "done") — rather than an experiment or a stale row; a
co-trained adversary shares its protagonist's.  The index is
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
from robench.rows import variant_of
from robench.learners.learner import LearnerConfig
from robench.manifest import Manifest

INDEX = "index.json"
FORMAT = "robench-zoo-index/1"


def protocol(manifest: Manifest) -> dict[str, Any]:
    """A protagonist's training protocol as data: layout, bounds, regime and budget."""
    return {"obs_layout": manifest.obs_layout, "bounds": manifest.bounds, "regime": manifest.regime.to_dict(),
            "steps": manifest.budget}


def zoo_entry(root: Path, directory: Path, manifest: Manifest) -> bool:
    """Whether ``directory`` is the zoo's entry for its (map, learner, defense, seed): the path of
    the run ``robench zoo build`` plans for it (an extra attacked share of ``Defense.ZOO_SHARES``
    included) and trained with today's recipe."""
    from defenses import DEFENSES
    from robench.zoo_plan import ZooRun, run_status

    if manifest.defense not in DEFENSES or manifest.learner_config.agent != LearnerConfig.agent:
        return False
    cls = DEFENSES[manifest.defense]
    share = manifest.regime.attack_prob
    default = cls.REGIME.attack_prob
    if share != default and share not in cls.ZOO_SHARES.get(manifest.map_name, ()):
        return False
    run = ZooRun(manifest.map_name, manifest.learner, manifest.defense, manifest.seed,
                 attack_prob=None if share == default else share)
    if run.path(root).resolve() != directory.resolve():
        return False
    try:
        return run_status(run, root) == "done"
    except RobenchError:
        return False


def entry(root: Path, directory: Path, manifest: Manifest) -> dict[str, Any]:
    """The index row of one checkpoint (paths relative to the zoo root, POSIX style)."""
    row = {
        "path": directory.relative_to(root).as_posix(),
        "kind": manifest.kind,
        "map": manifest.map_name,
        "backend": manifest.recorded_backend,
        "learner": manifest.learner,
        "eps": manifest.eps,
        "seed": manifest.seed,
        "steps": manifest.steps,
        "wall_time_s": manifest.wall_time_s,
        "content_hash": manifest.content_hash,
    }
    if manifest.is_protagonist:
        row.update(defense=manifest.defense, variant=variant_of(manifest), agent=manifest.learner_config.agent,
                   clean_win_rate=manifest.clean_win_rate, init_from_map=manifest.init_from_map,
                   lineage_wall_time_s=manifest.lineage_wall_time_s, protocol=protocol(manifest),
                   zoo_entry=zoo_entry(root, directory, manifest))
    else:
        row.update(attack=manifest.attack, victim=manifest.victim, final_victim_win_rate=manifest.final_victim_win_rate)
    return row


def build_index(root: Path) -> dict[str, Any]:
    """Scan ``root`` for checkpoint manifests; a corrupt manifest is a one-line error."""
    root = Path(root)
    if not root.is_dir():
        raise RobenchError(f"no checkpoint directory {root}")
    rows = [entry(root, directory, Manifest(read_manifest(directory))) for directory in checkpoint_dirs(root)]
    entries = {row["path"]: row["zoo_entry"] for row in rows if "zoo_entry" in row}
    for row in rows:  # a co-trained adversary (<run>/adv_…) is an entry where its protagonist is
        if row["kind"] == "adversary":
            row["zoo_entry"] = entries.get(row["path"].rsplit("/", 1)[0], False)
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
