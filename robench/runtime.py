"""Process-wide runtime settings: thread counts, JAX compilation cache, seeding.

JAX (the SMAX backend) and torch (the learners) run one after the other inside the same
process.  Left alone, each starts a thread pool as wide as the machine and they fight over
the cores; we give both a fixed, small pool instead.  JAX must be configured *before* it is
imported, so every module that imports JAX calls :func:`configure_jax` first.
"""
from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

_JAX_CONFIGURED = False


def cache_dir() -> Path:
    """Directory for robench's on-disk caches (``$ROBENCH_CACHE`` or ``~/.cache/robench``)."""
    return Path(os.environ.get("ROBENCH_CACHE", Path.home() / ".cache" / "robench"))


def torch_threads() -> int:
    """Threads torch may use: ``$ROBENCH_TORCH_THREADS`` or all cores (min 1)."""
    return int(os.environ.get("ROBENCH_TORCH_THREADS", max(1, (os.cpu_count() or 1))))


def cav_workers() -> int:
    """Worker processes that step the CAV copies: ``$ROBENCH_CAV_WORKERS`` or 2 (0 = in-process)."""
    return int(os.environ.get("ROBENCH_CAV_WORKERS", 2))


def configure_torch() -> None:
    """Pin torch's intra-op pool (inter-op pool is left at one thread)."""
    torch.set_num_threads(torch_threads())


def set_torch_threads(threads: int) -> None:
    """Give this process (and every later ``configure_torch`` in it) ``threads`` torch threads."""
    os.environ["ROBENCH_TORCH_THREADS"] = str(int(threads))
    torch.set_num_threads(int(threads))


def plan_jobs(jobs: int | str, cores: int | None = None) -> tuple[int, int]:
    """(parallel jobs, torch threads per job) for ``jobs`` = a count or ``auto``.

    ``auto`` = one job per core with one thread each: on the 2-core reference machine two
    1-thread training processes side by side finish 1.4–1.9× the work of one 2-thread process
    (docs/performance.md, ``robench bench --which scaling``).  A count J gets ⌊cores / J⌋
    threads per job (at least one).  ``$ROBENCH_TORCH_THREADS``, when set, fixes the threads."""
    cores = max(1, cores or os.cpu_count() or 1)
    if jobs == "auto":
        n = cores
    elif int(jobs) >= 1:
        n = int(jobs)
    else:
        raise ValueError(f"jobs must be a positive integer or 'auto', got {jobs!r}")
    pinned = os.environ.get("ROBENCH_TORCH_THREADS")
    return n, int(pinned) if pinned else max(1, cores // n)


def configure_jax() -> None:
    """Force JAX onto the CPU with one compute thread and a persistent compilation cache.

    The cache makes a second process that builds the same (map, batch size) skip XLA
    compilation.  Idempotent; must run before ``import jax`` anywhere in the process.
    """
    global _JAX_CONFIGURED
    if _JAX_CONFIGURED:
        return
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_multi_thread_eigen" not in flags:
        flags += " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    os.environ["XLA_FLAGS"] = flags.strip()
    import jax

    jax.config.update("jax_compilation_cache_dir", str(cache_dir() / "jax"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    _JAX_CONFIGURED = True


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch from one integer; return a torch generator for sampling."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen
