"""Checkpoints: ``model.safetensors`` + ``manifest.json`` in one directory (never pickle).

The manifest records provenance (env, learner, defense, ε, seed, steps, wall time, clean win
rate, version, resolved config) and ``content_hash`` = SHA-256 of the weights file.  Loading
checks, in order: the directory and manifest exist and parse, the format and kind match,
the weights file hashes to ``content_hash``, every tensor has the shape the manifest's
environment sizes imply.  Any failure is one :class:`CheckpointError` line.  Saving writes to
a temporary sibling directory and renames it into place, so a killed save leaves nothing.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from robench import __version__
from robench.envs import EnvInfo
from robench.errors import RobenchError
from robench.learners.agent import Agent, make_agent
from robench.learners.mixers import make_mixer
from robench.manifest import Manifest, check_record

FORMAT = "robench-checkpoint/1"
MANIFEST = "manifest.json"
WEIGHTS = "model.safetensors"
REQUIRED = ("format", "kind", "env", "learner", "content_hash", "weights")


class CheckpointError(RobenchError):
    """A missing, corrupt, truncated or mismatched checkpoint."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def encode_tensors(tensors: dict[str, torch.Tensor]) -> bytes:
    """The safetensors bytes of ``tensors`` (what ``content_hash`` hashes)."""
    return st_save({k: v.detach().cpu().contiguous() for k, v in tensors.items()})


def save_checkpoint(out: Path, tensors: dict[str, torch.Tensor], manifest: dict[str, Any],
                    extra_files: dict[str, Path] | None = None, overwrite: bool = False,
                    nested: dict[str, Path] | None = None) -> dict[str, Any]:
    """Write ``tensors`` and ``manifest`` (plus ``extra_files`` copied in, and the ``nested``
    checkpoint directories copied in as sub-directories: a co-trained adversary lands with its
    protagonist in the same rename) atomically to ``out``."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise CheckpointError(f"{out} already exists (pass --force to replace it)")
    blob = encode_tensors(tensors)
    manifest = dict(manifest, format=FORMAT, robench_version=__version__, content_hash=sha256_bytes(blob),
                    weights={"file": WEIGHTS, "bytes": len(blob),
                             "shapes": {k: list(v.shape) for k, v in sorted(tensors.items())}},
                    created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        (tmp / WEIGHTS).write_bytes(blob)
        for name, src in (extra_files or {}).items():
            shutil.copyfile(src, tmp / name)
        for name, src in (nested or {}).items():
            shutil.copytree(src, tmp / name)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        old = None
        if out.exists():  # replace: move the old entry aside, rename the new one in, then delete the old
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, old / out.name)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def checkpoint_dirs(root: Path) -> list[Path]:
    """Every checkpoint directory under ``root`` (any depth), sorted; directories hidden by a
    leading dot (a writer's temporaries, ``.locks``) and their contents are skipped, so a half-
    written entry is never listed."""
    root = Path(root)
    return [mf.parent for mf in sorted(root.glob(f"**/{MANIFEST}"))
            if not any(part.startswith(".") for part in mf.relative_to(root).parts)]


def read_manifest(path: Path) -> dict[str, Any]:
    """Parse and check ``path/manifest.json``."""
    path = Path(path)
    mf = path / MANIFEST
    if not path.is_dir():
        raise CheckpointError(f"no checkpoint directory at {path}")
    if not mf.is_file():
        raise CheckpointError(f"{path} is not a checkpoint: {MANIFEST} is missing")
    try:
        manifest = json.loads(mf.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"corrupt manifest {mf}: {err}") from None
    problem = check_record(manifest, REQUIRED, FORMAT)
    if problem is not None:
        raise CheckpointError(f"manifest {mf} {problem}")
    return manifest


def read_tensors(path: Path, manifest: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Load the weights after verifying their hash against the manifest."""
    record = Manifest(manifest)
    wf = Path(path) / (record.weights_file or WEIGHTS)
    if not wf.is_file():
        raise CheckpointError(f"{path}: weights file {wf.name} is missing")
    blob = wf.read_bytes()
    if sha256_bytes(blob) != record.content_hash:
        raise CheckpointError(f"{wf}: content hash mismatch (file corrupt, truncated or modified)")
    try:
        return st_load(blob)
    except (SafetensorError, ValueError) as err:
        raise CheckpointError(f"{wf}: unreadable safetensors ({err})") from None


def env_info_from_manifest(manifest: dict[str, Any]) -> EnvInfo:
    try:
        return EnvInfo(**Manifest(manifest).env_record)
    except TypeError as err:
        raise CheckpointError(f"manifest env block malformed: {err}") from None


def load_state(module: torch.nn.Module, tensors: dict[str, torch.Tensor], prefix: str, where: Path | str) -> None:
    """Copy ``prefix.*`` tensors into ``module`` after checking names and shapes."""
    own = module.state_dict()
    got = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
    if set(got) != set(own):
        raise CheckpointError(f"{where}: {prefix} tensors do not match the model "
                              f"(missing {sorted(set(own) - set(got))}, unexpected {sorted(set(got) - set(own))})")
    for k, v in own.items():
        if got[k].shape != v.shape:
            raise CheckpointError(f"{where}: {prefix}.{k} has shape {list(got[k].shape)}, expected {list(v.shape)}")
    module.load_state_dict(got)


def module_tensors(modules: dict[str, torch.nn.Module]) -> dict[str, torch.Tensor]:
    """``{prefix: module}`` → one flat dict of ``prefix.name`` tensors (the checkpoint layout)."""
    return {f"{prefix}.{k}": v for prefix, module in modules.items() for k, v in module.state_dict().items()}


def load_modules(modules: dict[str, torch.nn.Module], tensors: dict[str, torch.Tensor], where: Path | str) -> None:
    """The inverse of :func:`module_tensors`, every module checked by :func:`load_state`."""
    for prefix, module in modules.items():
        load_state(module, tensors, prefix, where)


def protagonist_tensors(agent: Agent, mixer: torch.nn.Module) -> dict[str, torch.Tensor]:
    return module_tensors({"agent": agent, "mixer": mixer})


def load_protagonist(path: Path, device: str | torch.device = "cpu", expect_env: EnvInfo | None = None,
                     any_map: bool = False) -> tuple[Agent, torch.nn.Module | None, dict[str, Any]]:
    """Rebuild the agent and mixer of a protagonist checkpoint, validated end to end.  The mixer
    is None when the checkpoint holds no weights for a mixer that has some (an imported agent
    whose mixer could not be carried over: ``robench.pymarl_import``).

    With ``expect_env`` the checkpoint's environment must be that one; ``any_map`` accepts another
    map of the same backend with the same sizes (a warm start across maps)."""
    path = Path(path)
    manifest = read_manifest(path)
    record = Manifest(manifest)
    if not record.is_protagonist:
        raise CheckpointError(f"{path} is a {record.kind!r} checkpoint, not a protagonist")
    info = env_info_from_manifest(manifest)
    wanted = replace(expect_env, map_name=info.map_name) if expect_env is not None and any_map else expect_env
    if wanted is not None and wanted != info:
        raise CheckpointError(f"{path} was trained on {info.map_name}/{info.backend} with sizes that do not "
                              f"match the requested environment {expect_env.map_name}/{expect_env.backend}")
    tensors = read_tensors(path, manifest)
    try:
        learner_cfg = record.learner_config
        agent = make_agent(learner_cfg.agent, info.obs_dim, info.n_agents, info.n_actions, int(learner_cfg.hidden),
                           bool(learner_cfg.last_action))
        mixer = make_mixer(record.learner, info.n_agents, info.state_dim)
    except KeyError as err:
        raise CheckpointError(f"{path}: {err.args[0]}") from None
    load_state(agent, tensors, "agent", path)
    if any(True for _ in mixer.parameters()) and not any(k.startswith("mixer.") for k in tensors):
        mixer = None
    else:
        load_state(mixer, tensors, "mixer", path)
        mixer = mixer.to(device)
    agent.eval()
    return agent.to(device), mixer, manifest
