"""Golden hashes of a tiny run of every defense, kept per numerics platform.

A tiny run's weights are bit-exact on one machine (one torch thread, seeded streams) but not
across CPUs: torch's kernels and XLA's compiled SMAX dynamics round differently on different
instruction sets (an AVX-512/AMX Xeon and an AVX2 one give different hashes from the same
code).  So ``tests/golden/defense_hashes.json`` maps a *platform signature* — a digest of the
bits that this machine's torch and jax produce on a fixed computation of the kinds a tiny run
uses (GRU cell, linear layer, RMSprop step; a jitted jax expression), with their versions — to
that platform's hashes.

On a platform with recorded hashes a change to any method's weights fails the test; on one
without, the exact check skips with the line that records them (``ROBENCH_RECORD_GOLDEN=1``),
which a developer runs on the code the hashes should pin.

A second check holds on every machine: the same tiny run's *fingerprint* — its final TD loss and
the L1 norm of the protagonist's weights — recorded under ``PORTABLE`` with the hashes, must
agree within a relative ``TOLERANCE`` of 1e-3.  Rounding differences between CPUs move these by
about 1e-6; a change to a method's update moves them by far more than 1e-3 (a changed loss, step
or random stream changes the weights outright).
"""
from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

FILE = Path(__file__).parent / "golden" / "defense_hashes.json"
RECORD = "ROBENCH_RECORD_GOLDEN"
PORTABLE = "any platform"
"""The key of the fingerprints every platform checks (beside the platform signatures)."""
TOLERANCE = 1e-3


@lru_cache(maxsize=1)
def platform_signature() -> str:
    """``torch <v>, jax <v>, <cpu>, <16 hex digits>``: the versions, the processor, and a digest of the bits of a fixed
    one-thread torch forward/backward/optimizer step and a fixed jitted jax computation."""
    import torch

    from robench.runtime import configure_jax

    configure_jax()  # SMAX's XLA flags (one eigen thread), before jax is imported
    import jax
    import jax.numpy as jnp

    digest = hashlib.sha256()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        gru, head = torch.nn.GRUCell(37, 64), torch.nn.Linear(64, 9)
        params = [*gru.parameters(), *head.parameters()]
        opt = torch.optim.RMSprop(params, lr=5e-4, alpha=0.99, eps=1e-5)
        x, h = torch.randn(96, 37), torch.randn(96, 64)
        for _ in range(3):
            out = head(gru(x, h))
            opt.zero_grad()
            torch.nn.functional.smooth_l1_loss(out, torch.tanh(out.detach() * 3)).backward()
            opt.step()
        for t in (out, *params):
            digest.update(t.detach().numpy().tobytes())
    finally:
        torch.set_num_threads(threads)
    a = jnp.arange(2048, dtype=jnp.float32).reshape(32, 64) * 0.37
    y = jax.jit(lambda m: jnp.tanh(jnp.sin(m) @ jnp.cos(m).T) / (1.0 + jnp.exp(-m[:, :32])))(a)
    digest.update(bytes(memoryview(jax.device_get(y))))
    return f"torch {torch.__version__}, jax {jax.__version__}, {_cpu()}, {digest.hexdigest()[:16]}"


def _cpu() -> str:
    """The processor's model name and torch's kernel level: two machines whose fixed computation
    above agrees can still differ in other kernels (PR's tiny run did, between two x86 machines)."""
    import platform

    import torch

    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            name = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), name)
    except OSError:
        pass
    return f"{name} {torch.backends.cpu.get_cpu_capability()}"


def _load() -> dict:
    return json.loads(FILE.read_text()) if FILE.exists() else {}


def recorded(defense: str) -> dict | None:
    """This platform's recorded hashes of ``defense``'s tiny run, or None."""
    return _load().get(platform_signature(), {}).get(defense)


def fingerprint(td_loss: float, weights: dict) -> dict[str, float]:
    """The platform-independent summary of a tiny run: final TD loss, L1 norm of the weights."""
    return {"td_loss": float(td_loss), "weights_l1": float(sum(w.abs().sum().item() for w in weights.values()))}


def check(defense: str, protagonist: str, adversaries: dict[str, str], summary: dict[str, float]) -> None:
    """Fail if ``summary`` (``fingerprint``) is off the recorded one by more than ``TOLERANCE``
    (on every machine), or if the hashes differ from this platform's record; record both under
    ``ROBENCH_RECORD_GOLDEN=1``; skip the exact check where this platform has no hashes."""
    import pytest

    got = {"protagonist": protagonist, "adversaries": adversaries}
    if os.environ.get(RECORD) == "1":
        table = _load()
        table.setdefault(platform_signature(), {})[defense] = got
        table.setdefault(PORTABLE, {})[defense] = summary
        FILE.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
        return
    portable = _load().get(PORTABLE, {}).get(defense)
    assert portable is not None, f"{defense}: no fingerprint recorded (run with {RECORD}=1)"
    for key, value in portable.items():
        assert abs(summary[key] - value) <= TOLERANCE * max(1.0, abs(value)), \
            f"{defense}: the tiny run's {key} is {summary[key]:.6g}, recorded {value:.6g} (a change to the method?)"
    want = recorded(defense)
    if want is None:
        pytest.skip(f"no golden hashes for this platform ({platform_signature()}): record them with "
                    f"{RECORD}=1 python -m pytest tests/test_defenses.py -k end_to_end")
    assert got == want, f"{defense}: the tiny run's weights changed (a change to the method or its random stream)"
