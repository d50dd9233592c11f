"""Snapshots of a training run in progress: a killed ``robench train`` resumes where it stopped.

A snapshot is the whole state of the one training loop between two iterations — the learner
(networks, targets, optimiser), the replay buffer, every random stream (the loop's generator,
torch's, numpy's and Python's global ones), the defense with its co-trained adversaries (their
networks, optimisers, replays, generators, archives, phase counters) and the loop's own counters
and curve so far.  The loop builds a fresh run from the same resolved configuration and overlays
the snapshot on it (``restore_tree``), so a resumed run takes exactly the steps the uninterrupted
one would: the same content hash on the same machine.

The state is captured by walking the live objects (``state_tree``): tensors, ``nn.Module`` and
optimiser state dicts and generator states go to one safetensors file; the structure and every
plain value to JSON.  Nothing is pickled, and reading a snapshot never runs code from it: a
snapshot only fills objects the run built itself, and a structure that does not fit them is an
error.  Callables (loss hooks, bound methods) are code, rebuilt with their objects, not state;
a class lists in ``SNAPSHOT_SKIP`` the attributes it rebuilds at every rollout's ``reset`` (a
population's stacked networks); the one kind of object a snapshot may create rather than fill is
a plain record class registered with ``@snapshot_record`` (an archive's entries, which grow).

On disk (``SnapshotPolicy.directory``): ``state-<n>.json`` + ``state-<n>.safetensors`` and a
``LATEST`` file naming ``n``, replaced atomically after both are written, so a kill at any moment
leaves the previous snapshot readable.
"""
from __future__ import annotations

import inspect
import json
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from robench.atomic import atomic_write_text
from robench.errors import RobenchError

FORMAT = 1
PRIMITIVES = (bool, int, float, str, type(None))
RECORDS: dict[str, type] = {}
"""Plain record classes a snapshot may create (``snapshot_record``), by ``class_key``."""


def class_key(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def snapshot_record(cls: type) -> type:
    """Register a plain record class (attributes only, no state of its own beyond them) whose
    instances a snapshot may create where the fresh run has none yet (a grown list)."""
    RECORDS[class_key(cls)] = cls
    return cls


class SnapshotError(RobenchError):
    """A snapshot that cannot be read, or that does not fit the run it should resume."""


@dataclass(frozen=True)
class SnapshotPolicy:
    """Where a run keeps its snapshot and how often it writes one."""

    directory: Path
    """The run's snapshot directory (outside the zoo: it is local, temporary state)."""
    every: int = 200_000
    """Env steps between snapshots (the first once this many have been taken)."""

    def __post_init__(self) -> None:
        if self.every < 1:
            raise RobenchError(f"snapshot interval must be at least 1 env step, got {self.every}")


class _Writer:
    """Walks live objects into (JSON structure, named tensors); a shared object (a tensor
    included) is written once and referred to after."""

    def __init__(self, dry: bool = False) -> None:
        self.tensors: dict[str, torch.Tensor] = {}
        self.seen: dict[int, int] = {}
        self.alive: list[Any] = []  # every object given an id stays alive, so no id() is reused
        self.dry = dry
        """Walk without copying a tensor (``check_snapshot``: does the state walk at all?)."""

    def tensor(self, t: torch.Tensor) -> str:
        key = str(len(self.tensors))
        self.tensors[key] = t if self.dry else t.detach().cpu().contiguous().clone()
        return key

    def node(self, value: Any) -> dict[str, Any]:
        if isinstance(value, PRIMITIVES):
            return {"t": "v", "v": value}
        if isinstance(value, np.generic):
            return {"t": "npscalar", "dtype": value.dtype.str, "v": value.item()}
        if isinstance(value, (torch.device, torch.dtype, type)) or inspect.isroutine(value):
            return {"t": "code"}  # rebuilt with the run, not state
        if id(value) in self.seen:  # a shared object (a tensor too) is written once, then referred to
            return {"t": "ref", "i": self.seen[id(value)]}
        self.seen[id(value)] = ident = len(self.seen)
        self.alive.append(value)
        if isinstance(value, torch.Tensor):
            return {"t": "tensor", "k": self.tensor(value), "d": str(value.device), "id": ident}
        if isinstance(value, np.ndarray):
            return {"t": "ndarray", "k": self.tensor(torch.from_numpy(np.ascontiguousarray(value))), "id": ident}
        return {**self.contents(value), "id": ident}

    def contents(self, value: Any) -> dict[str, Any]:
        if isinstance(value, torch.Generator):
            return {"t": "gen", "k": self.tensor(value.get_state())}
        if isinstance(value, torch.nn.Module):
            return {"t": "module", "state": self.plain(value.state_dict())}
        if isinstance(value, torch.optim.Optimizer):
            return {"t": "optim", "state": self.plain(value.state_dict())}
        if isinstance(value, (list, tuple)):  # a tuple subclass (torch.Size) as a tuple
            return {"t": "list" if isinstance(value, list) else "tuple", "items": [self.node(v) for v in value]}
        if isinstance(value, dict):
            if not all(isinstance(k, (str, int)) for k in value):
                raise SnapshotError(f"cannot snapshot a dict keyed by {sorted({type(k).__name__ for k in value})}")
            return {"t": "dict", "items": [[k, self.node(v)] for k, v in value.items()]}
        if hasattr(value, "__dict__"):
            skip = getattr(type(value), "SNAPSHOT_SKIP", ())
            return {"t": "obj", "cls": class_key(type(value)),
                    "attrs": [[k, self.node(v)] for k, v in vars(value).items() if k not in skip]}
        raise SnapshotError(f"cannot snapshot a {type(value).__qualname__}")

    def plain(self, value: Any) -> dict[str, Any]:
        """A state dict (tensors, plain values and containers of them) as a node without ids."""
        if isinstance(value, torch.Tensor):
            return {"t": "tensor", "k": self.tensor(value)}
        if isinstance(value, (list, tuple)):
            return {"t": type(value).__name__, "items": [self.plain(v) for v in value]}
        if isinstance(value, dict):
            return {"t": "dict", "items": [[k, self.plain(v)] for k, v in value.items()]}
        if isinstance(value, PRIMITIVES):
            return {"t": "v", "v": value}
        raise SnapshotError(f"cannot snapshot a {type(value).__qualname__} inside a state dict")


class _Reader:
    """Overlays a structure written by ``_Writer`` on live objects built the same way."""

    def __init__(self, tensors: dict[str, torch.Tensor]) -> None:
        self.tensors = tensors
        self.seen: dict[int, Any] = {}
        self.filled: set[int] = set()
        """ids of the run's tensors already filled: one the run shares where the snapshot's did not is rebound."""

    def value(self, node: dict[str, Any]) -> Any:
        """A structure node as plain values (for state dicts: tensors, primitives, containers)."""
        kind = node["t"]
        if kind == "v":
            return node["v"]
        if kind == "npscalar":
            return np.dtype(node["dtype"]).type(node["v"])
        if kind == "tensor":
            out = self.tensors[node["k"]].to(node.get("d", "cpu"))
            if "id" in node:
                self.seen[node["id"]] = out
            return out
        if kind == "ndarray":
            out = self.tensors[node["k"]].numpy().copy()
            if "id" in node:
                self.seen[node["id"]] = out
            return out
        if kind == "ref":
            return self.seen[node["i"]]
        if kind in ("list", "tuple"):
            items = [self.value(n) for n in node["items"]]
            out: Any = items if kind == "list" else tuple(items)
        elif kind == "dict":
            out = {k: self.value(n) for k, n in node["items"]}
        elif kind == "obj" and node["cls"] in RECORDS:
            cls = RECORDS[node["cls"]]
            out = cls.__new__(cls)
            for name, child in node["attrs"]:
                object.__setattr__(out, name, self.value(child))
        else:
            raise SnapshotError(f"snapshot holds a {kind} where the run has no object to fill")
        if "id" in node:
            self.seen[node["id"]] = out
        return out

    def fill(self, current: Any, node: dict[str, Any], where: str) -> Any:
        """``current`` with the snapshot's state: the same object filled in place where it holds
        state of its own (modules, optimisers, generators, objects, containers of them), else the
        snapshot's value."""
        kind = node["t"]
        if kind == "code":
            return current
        if kind in ("v", "npscalar", "ndarray", "ref"):
            return self.value(node)
        if kind == "tensor":
            saved = self.tensors[node["k"]]
            fits = (isinstance(current, torch.Tensor) and current.shape == saved.shape and current.dtype == saved.dtype
                    and id(current) not in self.filled)
            if not fits:  # grown, reshaped, or shared in the fresh run where it was not in the snapshot's
                return self.value(node)
            with torch.no_grad():  # in place: what shares it in the run (a module's parameter) sees it
                current.copy_(saved)
            self.filled.add(id(current))
            self.seen[node["id"]] = current
            return current
        self.seen[node["id"]] = current
        if kind == "gen":
            self._expect(current, torch.Generator, where)
            current.set_state(self.tensors[node["k"]])
        elif kind == "module":
            self._expect(current, torch.nn.Module, where)
            current.load_state_dict(self.value(node["state"]))
        elif kind == "optim":
            self._expect(current, torch.optim.Optimizer, where)
            current.load_state_dict(self.value(node["state"]))
        elif kind in ("list", "tuple"):
            items = node["items"]
            if isinstance(current, (list, tuple)) and len(current) == len(items):
                filled = [self.fill(c, n, f"{where}[{i}]") for i, (c, n) in enumerate(zip(current, items))]
            else:  # grown or shrunk since the run was built: plain values only
                filled = [self.value(n) for n in items]
            if isinstance(current, list):
                current[:] = filled
                return current
            out = tuple(filled) if kind == "tuple" else filled
            if isinstance(current, tuple) and current == out:
                out = current  # the same values (a torch.Size stays one)
            self.seen[node["id"]] = out
            return out
        elif kind == "dict":
            if not isinstance(current, dict):
                raise SnapshotError(f"snapshot does not fit the run at {where}: a dict where it has "
                                    f"{type(current).__name__}")
            filled = {k: self.fill(current[k], n, f"{where}[{k!r}]") if k in current else self.value(n)
                      for k, n in node["items"]}
            current.clear()
            current.update(filled)
        elif kind == "obj":
            if class_key(type(current)) != node["cls"]:
                raise SnapshotError(f"snapshot does not fit the run at {where}: {node['cls']} where it has "
                                    f"{class_key(type(current))}")
            for name, child in node["attrs"]:
                old = getattr(current, name, None)
                new = self.fill(old, child, f"{where}.{name}")
                if new is not old and not (child["t"] == "v" and new == old):
                    object.__setattr__(current, name, new)
        else:
            raise SnapshotError(f"unknown snapshot node {kind!r} at {where}")
        return current

    @staticmethod
    def _expect(current: Any, kind: type, where: str) -> None:
        if not isinstance(current, kind):
            raise SnapshotError(f"snapshot does not fit the run at {where}: a {kind.__name__} where it has "
                                f"{type(current).__name__}")


def global_streams() -> dict[str, Any]:
    """The process-wide random streams a run may draw from (torch's, numpy's, Python's)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    streams = {"torch": torch.get_rng_state(), "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss,
                                                         cached],
               "python": json.dumps(random.getstate())}
    if torch.cuda.is_available():
        streams["cuda"] = torch.cuda.get_rng_state_all()
    return streams


def set_global_streams(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = json.loads(state["python"])
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(state["cuda"]))


def write_snapshot(directory: Path, config: dict[str, Any], state: dict[str, Any]) -> Path:
    """Write ``state`` (live objects, walked) for a run of ``config`` as the directory's newest
    snapshot; the previous one stays readable until ``LATEST`` names the new one."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    writer = _Writer()
    structure = writer.node({**state, "streams": global_streams()})
    latest = _latest(directory)
    n = 0 if latest is None else latest + 1
    save_file(writer.tensors, str(directory / f"state-{n}.safetensors"))
    atomic_write_text(directory / f"state-{n}.json",
                      json.dumps({"format": FORMAT, "config": config, "state": structure}))
    for name in (f"state-{n}.safetensors", f"state-{n}.json"):
        _sync(directory / name)
    _sync(directory)
    atomic_write_text(directory / "LATEST", f"{n}\n")  # only now does the new snapshot count
    _sync(directory)
    for old in [*directory.glob("state-*"), *directory.glob(".state-*"), *directory.glob(".LATEST.*")]:
        if old.name.split(".")[0] != f"state-{n}":
            old.unlink(missing_ok=True)
    return directory


def _sync(path: Path) -> None:
    """Flush a file (or a directory's entries) to disk: LATEST never names data still in a cache."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_snapshot(state: dict[str, Any]) -> None:
    """Walk ``state`` as ``write_snapshot`` would, copying nothing: a state that cannot be written
    is an error at the start of a run, not at its first snapshot hours later."""
    _Writer(dry=True).node(state)


def _latest(directory: Path) -> int | None:
    try:
        return int((Path(directory) / "LATEST").read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def has_snapshot(directory: Path) -> bool:
    return _latest(directory) is not None


def read_snapshot(directory: Path, config: dict[str, Any], state: dict[str, Any]) -> None:
    """Overlay the directory's newest snapshot on ``state`` (the live objects of a fresh run of
    ``config``, the same keys as written); one clear error when it belongs to another run or
    cannot be read."""
    n = _latest(directory)
    if n is None:
        raise SnapshotError(f"{directory} holds no snapshot")
    try:
        meta = json.loads((Path(directory) / f"state-{n}.json").read_text())
        tensors = load_file(str(Path(directory) / f"state-{n}.safetensors"))
    except (OSError, ValueError, SafetensorError) as err:
        raise SnapshotError(f"snapshot {directory} cannot be read ({err}); remove it to start afresh") from err
    if meta.get("format") != FORMAT:
        raise SnapshotError(f"snapshot {directory} has format {meta.get('format')!r}, this robench reads {FORMAT}")
    if json.dumps(meta["config"], sort_keys=True) != json.dumps(config, sort_keys=True):
        changed = sorted(k for k in set(config) | set(meta["config"]) if config.get(k) != meta["config"].get(k))
        raise SnapshotError(f"snapshot {directory} belongs to another configuration (differs in "
                            f"{', '.join(changed)}); remove it or train with the snapshot's settings")
    reader = _Reader(tensors)
    streams: dict[str, Any] = {}
    reader.fill({**state, "streams": streams}, meta["state"], "run")
    set_global_streams(streams)


def drop_snapshot(directory: Path) -> None:
    """Remove a finished run's snapshot directory."""
    shutil.rmtree(directory, ignore_errors=True)
