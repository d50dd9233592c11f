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
