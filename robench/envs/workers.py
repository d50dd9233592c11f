"""Environment copies stepped in worker processes, for backends whose simulator is a Python
object per episode (CAV's highway-env, StarCraft II through SMAC).

A backend supplies a *copies* class: built as ``copies_cls(*args, indices)`` for some of the B
copies, with ``reset(seed)`` and ``step(actions)`` returning dicts of NumPy arrays whose first
dimension runs over those copies.  :class:`CopyPool` splits the B copies into contiguous
shards, one per worker (spawned, so no worker inherits JAX's or torch's thread pools), sends
every call to all shards and concatenates the replies in copy order; ``workers = 0`` keeps one
shard in this process.  A failure inside a worker comes back as one ``EnvError`` line.
"""
from __future__ import annotations

import multiprocessing as mp
from typing import Any

import numpy as np


def _serve(conn, copies_cls, args: tuple, indices: list[int]) -> None:
    """Serve ``reset`` / ``step`` for some copies; an exception goes back as one message."""
    try:
        copies = copies_cls(*args, indices)
    except Exception as err:  # e.g. the simulator is missing: reported at the first call
        copies, failure = None, f"{type(err).__name__}: {err}"
    while True:
        cmd, arg = conn.recv()
        if cmd == "close":
            if copies is not None and hasattr(copies, "close"):
                copies.close()
            conn.close()
            return
        try:
            if copies is None:
                raise RuntimeError(failure)
            conn.send(("ok", getattr(copies, cmd)(arg)))
        except Exception as err:
            conn.send(("error", f"{type(err).__name__}: {err}"))


class CopyPool:
    """B copies of ``copies_cls(*args, indices)`` over ``workers`` processes (0 = in-process)."""

    def __init__(self, copies_cls, args: tuple, batch_size: int, workers: int, name: str):
        self.copies_cls, self.args, self.name = copies_cls, args, name
        self.batch_size, self.workers = batch_size, min(workers, batch_size)
        self.local = None
        self._pipes: list[Any] = []
        self._procs: list[Any] = []

    def _start(self) -> None:
        shards = [[int(k) for k in part] for part in np.array_split(np.arange(self.batch_size), max(1, self.workers))]
        if self.workers == 0:
            self.local = self.copies_cls(*self.args, shards[0])
            return
        ctx = mp.get_context("spawn")
        for part in shards:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_serve, args=(child, self.copies_cls, self.args, part), daemon=True)
            proc.start()
            self._pipes.append(parent)
            self._procs.append(proc)

    def call(self, cmd: str, arg: Any, per_copy: bool = False) -> dict[str, np.ndarray]:
        """``cmd(arg)`` on every copy; ``per_copy``: ``arg`` is an array over the B copies, split by shard."""
        from robench.envs import EnvError

        if self.local is None and not self._pipes:
            self._start()
        if self.local is not None:
            return getattr(self.local, cmd)(arg)
        parts = np.array_split(arg, len(self._pipes)) if per_copy else [arg] * len(self._pipes)
        for pipe, part in zip(self._pipes, parts):
            pipe.send((cmd, part))
        replies = [pipe.recv() for pipe in self._pipes]
        errors = [body for status, body in replies if status == "error"]
        if errors:
            raise EnvError(f"{self.name} worker failed: {errors[0]}")
        bodies = [body for _, body in replies]
        return {k: np.concatenate([b[k] for b in bodies]) for k in bodies[0]}

    def close(self) -> None:
        """Stop the workers (terminated if they do not exit within a second); close local copies."""
        for pipe in self._pipes:
            try:
                pipe.send(("close", None))
            except (OSError, BrokenPipeError):
                pass
        for proc in self._procs:
            proc.join(timeout=1)
            if proc.is_alive():
                proc.terminate()
        self._pipes, self._procs = [], []
        if self.local is not None and hasattr(self.local, "close"):
            self.local.close()


class PooledEnv:
    """Base of the batched envs that step their copies through a ``CopyPool`` (``self._pool``)."""

    _pool: CopyPool

    def close(self) -> None:
        """Stop the workers (terminated if they do not exit within a second)."""
        self._pool.close()

    def __del__(self) -> None:
        try:
            self.close()
        except (OSError, AttributeError):
            pass
