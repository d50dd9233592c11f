"""Snapshots: the state walker (``robench.snapshot``), a killed run resumed to the uninterrupted
run's content hash (in process for the defenses whose state is the most varied, every defense
under ``-m slow``, and through the real entry point with SIGKILL), and bad snapshots refused."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

import robench.runs as runs
from defenses import DEFENSES
from robench.runs import train_and_save
from robench.snapshot import SnapshotError, SnapshotPolicy, read_snapshot, write_snapshot
from test_cli import ROBENCH
from test_defenses import tiny


@dataclass(frozen=True)
class Settings:
    rate: float = 0.5


class Holder:
    def __init__(self, n: int):
        self.net = torch.nn.Linear(3, n)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=0.1)
        self.params = list(self.net.parameters())  # shares the module's tensors
        self.gen = torch.Generator().manual_seed(n)
        self.settings = Settings()
        self.counts = {0: 1, "a": [1.5, None]}
        self.hook = self.step  # code, not state


    def step(self) -> None:
        loss = self.net(torch.randn(4, 3, generator=self.gen)).pow(2).sum()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.counts[0] += 1


def test_a_snapshot_restores_modules_optimisers_generators_and_plain_state(tmp_path):
    a = Holder(2)
    for _ in range(3):
        a.step()
    write_snapshot(tmp_path, {"run": 1}, {"h": a, "again": a})  # a shared object is written once
    b = Holder(2)
    state = {"h": b, "again": b}
    read_snapshot(tmp_path, {"run": 1}, state)
    assert state["again"] is b and b.params[0] is b.net.weight  # references kept
    assert b.counts == {0: 4, "a": [1.5, None]}
    a.step(), b.step()  # the same next step: optimiser moments and the generator came back
    assert torch.equal(a.net.weight, b.net.weight) and b.hook.__self__ is b


class Shapes:
    def __init__(self):
        self.a = self.b = torch.zeros(3)  # shared at construction
        self.size = torch.Size([2, 3])
        self.scale = np.float32(0.5)


def test_tensors_shared_or_not_come_back_as_they_were_and_odd_values_keep_their_type(tmp_path):
    live = Shapes()
    live.b = torch.ones(3)  # no longer shared: each must come back with its own values
    live.c = live.a  # shared anew
    live.scale = np.float32(0.25)
    write_snapshot(tmp_path, {}, {"s": live})
    fresh = Shapes()
    read_snapshot(tmp_path, {}, {"s": fresh})
    assert fresh.a.tolist() == [0, 0, 0] and fresh.b.tolist() == [1, 1, 1] and fresh.c is fresh.a
    assert isinstance(fresh.size, torch.Size) and fresh.size == torch.Size([2, 3])
    assert isinstance(fresh.scale, np.float32) and fresh.scale == np.float32(0.25)


def test_a_state_that_cannot_be_written_fails_before_training():
    from robench.snapshot import check_snapshot

    holder = Holder(2)
    holder.odd = {1.5: "a float key"}
    with pytest.raises(SnapshotError, match="dict keyed by"):
        check_snapshot({"h": holder})


def test_a_snapshot_of_another_configuration_or_shape_is_refused(tmp_path):
    write_snapshot(tmp_path, {"steps": 10}, {"h": Holder(2)})
    with pytest.raises(SnapshotError, match="another configuration .*steps"):
        read_snapshot(tmp_path, {"steps": 20}, {"h": Holder(2)})
    with pytest.raises(RuntimeError, match="size mismatch"):
        read_snapshot(tmp_path, {"steps": 10}, {"h": Holder(5)})
    with pytest.raises(SnapshotError, match="does not fit the run"):
        read_snapshot(tmp_path, {"steps": 10}, {"h": Settings()})


def test_a_truncated_snapshot_is_one_clear_error(tmp_path):
    write_snapshot(tmp_path, {}, {"h": Holder(2)})
    data = tmp_path / "state-0.safetensors"
    data.write_bytes(data.read_bytes()[:40])
    with pytest.raises(SnapshotError, match="cannot be read"):
        read_snapshot(tmp_path, {}, {"h": Holder(2)})


def test_only_the_newest_snapshot_is_kept(tmp_path):
    for _ in range(3):
        write_snapshot(tmp_path, {}, {"h": Holder(2)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["LATEST", "state-2.json", "state-2.safetensors"]


class Killed(Exception):
    pass


def killed_then_resumed(defense: str, tmp_path: Path, monkeypatch) -> tuple[dict, dict]:
    """(uninterrupted manifest, manifest of the same run stopped after its first snapshot and
    started again)."""
    cfg = tiny(defense, "qmix")
    cfg.steps = 600
    whole = train_and_save(cfg, tmp_path / "whole", show_progress=False)
    policy = SnapshotPolicy(tmp_path / "snap", every=150)
    plain = runs.train

    def stopping(*args, **kw):
        report = kw["progress"]

        def progress(t_env, *rest):
            report(t_env, *rest)
            if t_env >= 400:
                raise Killed

        return plain(*args, **{**kw, "progress": progress})

    monkeypatch.setattr(runs, "train", stopping)
    with pytest.raises(Killed):
        train_and_save(cfg, tmp_path / "resumed", show_progress=False, snapshot=policy)
    assert (policy.directory / "LATEST").is_file() and not (tmp_path / "resumed").exists()
    monkeypatch.setattr(runs, "train", plain)
    resumed = train_and_save(cfg, tmp_path / "resumed", show_progress=False, snapshot=policy)
    assert not policy.directory.exists()  # dropped once the checkpoint is written
    return whole, resumed


def assert_same_run(whole: dict, resumed: dict) -> None:
    assert resumed["content_hash"] == whole["content_hash"]
    assert resumed["co_trained_adversaries"] == whole["co_trained_adversaries"]
    assert (resumed["steps"], resumed["episodes"]) == (whole["steps"], whole["episodes"])


@pytest.mark.parametrize("defense", ["romance-s", "rap"])
def test_a_stopped_run_resumes_to_the_uninterrupted_runs_hash(defense, tmp_path, monkeypatch):
    """ROMANCE-s (an evolving archive, a hijack trace, soft-Q attackers) and RAP (a population of
    directors with their replays and round-robin counter): the most varied state."""
    assert_same_run(*killed_then_resumed(defense, tmp_path, monkeypatch))


@pytest.mark.slow
@pytest.mark.parametrize("defense", list(DEFENSES))
def test_every_defense_resumes_to_the_uninterrupted_runs_hash(defense, tmp_path, monkeypatch):
    assert_same_run(*killed_then_resumed(defense, tmp_path, monkeypatch))


def test_robench_train_killed_with_sigkill_resumes_to_the_uninterrupted_runs_hash(tmp_path):
    """The real entry point, killed with SIGKILL right after its first snapshot, then the same command
    again: the checkpoint of a run never stopped."""
    base = [ROBENCH, "train", "--defense", "fgsm", "--env", "3m", "--steps", "3000",
            "--n-envs", "8", "--learner-opt", "batch_size=4", "--learner-opt", "buffer_size=64", "--eval-every",
            "100000", "--eval-episodes", "8", "--final-episodes", "8", "--quiet", "--snapshots", str(tmp_path / "snaps")]
    env = {**os.environ, "ROBENCH_TORCH_THREADS": "1"}
    subprocess.run([*base, "--out", str(tmp_path / "whole"), "--snapshot-every", "0"], check=True, env=env,
                   capture_output=True)
    killed = [*base, "--out", str(tmp_path / "run"), "--snapshot-every", "500"]
    proc = subprocess.Popen(killed, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list((tmp_path / "snaps").glob("*/LATEST")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before its first snapshot: nothing to kill"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "run").exists()
    data = next((tmp_path / "snaps").glob("*/state-*.safetensors"))
    whole_bytes = data.read_bytes()
    data.write_bytes(whole_bytes[:100])  # a damaged snapshot: one line, exit 2, nothing written
    bad = subprocess.run(killed, env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "cannot be read" in bad.stderr
    assert not (tmp_path / "run").exists()
    data.write_bytes(whole_bytes)
    subprocess.run(killed, check=True, env=env, capture_output=True)
    digest = [json.loads((tmp_path / d / "manifest.json").read_text())["content_hash"] for d in ("whole", "run")]
    assert digest[0] == digest[1]
    assert not list((tmp_path / "snaps").iterdir())  # the finished run's snapshot is gone


def test_a_co_trained_defense_refuses_a_per_step_coin_in_one_line(tmp_path):
    res = subprocess.run([ROBENCH, "train", "--defense", "atsa", "--env", "3m", "--steps", "100", "--attack-unit", "step",
                          "--out", str(tmp_path / "x"), "--quiet"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and "attack_unit must be episode" in res.stderr
    assert not (tmp_path / "x").exists()
