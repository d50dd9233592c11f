"""A checkpoint's saved diagnosis (``robench diagnose --save``): ``diagnosis.json`` beside its weights.

It holds ``robench.diagnose.Diagnosis``'s numbers, the episodes and seed they were measured
with, and the content hash of the weights they describe, so a diagnosis of a checkpoint since
replaced is never read as this one's.  Derived data, like the zoo's index: the weights and the
manifest are untouched.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from robench.atomic import atomic_write_text

DIAGNOSIS_FILE = "diagnosis.json"


def save_diagnosis(checkpoint: Path, content_hash: str, numbers: dict[str, Any], episodes: int, seed: int) -> Path:
    """Write the diagnosis of the checkpoint whose weights hash to ``content_hash`` (atomically)."""
    record = {"content_hash": content_hash, "episodes": episodes, "seed": seed, **numbers}
    return atomic_write_text(Path(checkpoint) / DIAGNOSIS_FILE, json.dumps(record, indent=1, sort_keys=True) + "\n")


def saved_diagnosis(checkpoint: Path, content_hash: str) -> dict[str, Any] | None:
    """The saved diagnosis of these weights, or None (none saved, unreadable, or of other weights)."""
    try:
        record = json.loads((Path(checkpoint) / DIAGNOSIS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("content_hash") == content_hash else None


def changed_shares(cells: pd.DataFrame) -> dict[tuple[str, str, str], float]:
    """(env, learner, defense) → the mean over the row's seeds of its checkpoints' saved changed
    share (``robench diagnose --save``), for the rows whose every seed has one.  ``cells``: a
    results store's rows (``checkpoint``, ``checkpoint_hash``, env, learner, defense, seed)."""
    out = {}
    protagonists = cells[cells.checkpoint_hash.notna()].drop_duplicates(["env", "learner", "defense", "seed"])
    for row, seeds in protagonists.groupby(["env", "learner", "defense"]):
        shares = [saved_diagnosis(Path(c.checkpoint), c.checkpoint_hash) for c in seeds.itertuples()]
        if all(d is not None for d in shares):
            out[row] = sum(d["changed_share"] for d in shares) / len(shares)
    return out
