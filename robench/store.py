"""The results store: one content-addressed cell per (checkpoint, attack, ε, episodes, seed).

Layout under the results directory::

    cells/<cell_id>.parquet   per-episode records: episode, won, return, crashed, length
    cells/<cell_id>.json      the cell's key, provenance and summary (written last: the commit mark)
    locks/<cell_id>.lock      advisory lock held while a process computes the cell

A cell is finished iff its JSON exists.  Both files are written to a temporary name and
``os.replace``-d into place, so a killed process never leaves a half-written cell, and two
processes that race on one cell serialise on its lock (the second finds it finished).  A
temporary orphaned by a SIGKILL is removed when the cell is next written (under its lock).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from robench.atomic import atomic_write
from robench.locks import file_lock, sweep_orphans

PROTOCOL = "robench-eval/1"
"""Version of the evaluation protocol; part of every cell id."""

EPISODE_COLUMNS = ["episode", "won", "return", "crashed", "length"]


def cell_id(key: dict[str, Any]) -> str:
    """SHA-256 (first 20 hex digits) of the canonical JSON of the cell key plus the protocol."""
    blob = json.dumps({**key, "protocol": PROTOCOL}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:20]

class ResultStore:
    """A directory of finished cells."""

    def __init__(self, root: Path):
        self.root = Path(root)
        (self.root / "cells").mkdir(parents=True, exist_ok=True)
        (self.root / "locks").mkdir(parents=True, exist_ok=True)

    def _meta(self, cid: str) -> Path:
        return self.root / "cells" / f"{cid}.json"

    def _episodes(self, cid: str) -> Path:
        return self.root / "cells" / f"{cid}.parquet"

    def done(self, cid: str) -> bool:
        return self._meta(cid).is_file()

    @contextlib.contextmanager
    def lock(self, cid: str) -> Iterator[None]:
        """Exclusive advisory lock on one cell (blocks while another process holds it)."""
        with file_lock(self.root / "locks" / f"{cid}.lock"):
            yield

    def write(self, cid: str, meta: dict[str, Any], episodes: pd.DataFrame) -> None:
        """Store a finished cell: episodes first, then the JSON that marks it finished.

        Call with the cell's lock held: temporaries of this cell left by a killed writer are
        removed first (no live process can own them while we hold the lock)."""
        sweep_orphans(self.root / "cells", cid)
        atomic_write(self._episodes(cid), lambda tmp: episodes[EPISODE_COLUMNS].to_parquet(tmp, index=False))
        self._write_meta(cid, meta)

    def _write_meta(self, cid: str, meta: dict[str, Any]) -> None:
        atomic_write(self._meta(cid), lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=1, sort_keys=True)))

    def relabel(self, cid: str, labels: dict[str, Any]) -> dict[str, Any]:
        """A finished cell's metadata with ``labels`` (row labels, never results) added or
        replaced, written back whole; returns the new metadata."""
        with self.lock(cid):
            meta = {**self.read_meta(cid), **labels}
            self._write_meta(cid, meta)
        return meta

    def read_meta(self, cid: str) -> dict[str, Any]:
        return json.loads(self._meta(cid).read_text())

    def cell_ids(self) -> list[str]:
        return sorted(p.stem for p in (self.root / "cells").glob("*.json"))


def load_cells(results: Path) -> pd.DataFrame:
    """One row per finished cell: key columns (env, learner, defense, variant, seed, attack, eps,
    eval_seed, episodes, attacked_agents, checkpoint, adversary) and summary metrics (win_rate,
    mean_return, std_return, crash_rate, ...).  ``variant`` is the row label of the defense's and
    the learner's non-default settings, ``settings`` the same as structured data
    (``robench.rows.settings_of``; None for cells stored before it was recorded); ``attacked_agents`` the attacked set M (None = every agent); ``features``
    the coordinates the attack could touch (None = all); ``bounds`` how
    the cell's attack kept ô in range (``robench.threat``; ``features`` for cells stored before it
    was recorded)."""
    from robench.threat import bounds_of

    store = ResultStore(results)
    rows = []
    for cid in store.cell_ids():
        meta = {"variant": "", "settings": None, "attacked_agents": None, "features": None, **store.read_meta(cid)}
        meta["bounds"] = meta.get("bounds") or bounds_of(meta)
        rows.append(meta)
    return pd.DataFrame(rows)


def load_episodes(results: Path) -> pd.DataFrame:
    """Every per-episode record of every finished cell as one tidy DataFrame: the cell's key
    columns (as in :func:`load_cells`) repeated on each of its episodes plus ``episode, won,
    return, crashed, length``."""
    store = ResultStore(results)
    frames = []
    for cid in store.cell_ids():
        meta = store.read_meta(cid)
        df = pd.read_parquet(store._episodes(cid))
        for k in ("cell_id", "env", "learner", "defense", "variant", "seed", "attack", "eps", "eval_seed"):
            df[k] = meta.get(k, "")
        df["attacked_agents"] = pd.Series([meta.get("attacked_agents")] * len(df), dtype=object)
        df["features"] = pd.Series([meta.get("features")] * len(df), dtype=object)
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=EPISODE_COLUMNS)
