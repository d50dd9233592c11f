"""Advisory locks between processes, and the sweep of what a killed holder left behind.

A grid cell, a retrained adversary, a zoo run and the zoo's index are each guarded by one
``flock`` on a lock file.  Whoever holds the lock of a name may remove the temporaries
``.<name>.*`` beside its target: their writer was killed, since no live process can be writing
them while the lock is held (``robench.atomic`` writes them)."""
from __future__ import annotations

import contextlib
import fcntl
import shutil
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def file_lock(path: Path, blocking: bool = True) -> Iterator[bool]:
    """Exclusive advisory lock on ``path`` (created with its folder).  Blocking: waits, yields True;
    non-blocking: yields False at once when another process holds it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def sweep_orphans(directory: Path, name: str) -> None:
    """Remove the temporaries ``directory/.<name>.*`` (files or folders); call with ``name``'s lock held."""
    for orphan in Path(directory).glob(f".{name}.*"):
        if orphan.is_dir():
            shutil.rmtree(orphan, ignore_errors=True)
        else:
            orphan.unlink(missing_ok=True)
