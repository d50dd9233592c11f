"""Files that are whole or absent: written to a temporary file beside the target, then
``os.replace``-d into place (atomic on POSIX), so a killed process never leaves half a file and a
reader never sees one.  (Checkpoints are directories: ``checkpoint.save_checkpoint`` renames a
whole temporary directory the same way.)"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Callable


def atomic_write(path: Path, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` on a fresh temporary file next to ``path``, then rename it onto ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    """``path`` holds ``text`` (UTF-8), written atomically."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
