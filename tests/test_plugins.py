"""Adding a method is one module and one registry line: a defense and an attack advertised by a
temporary package's entry points join the registries, the help, ``robench list``, a training
run, a grid and a report, through the real entry point."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROBENCH = str(Path(sys.executable).parent / "robench")

PLUGIN = '''
import torch

from attacks.base import Attack
from defenses.base import Defense
from robench.regime import Regime


class Flip(Attack):
    """Every coordinate one step of ε against its own sign: ô = o − ε·sign(o)."""

    name = "flip"
    label = "Flip"

    def perturb(self, agent, obs, hidden, avail, eps, low, high):
        return obs - eps * torch.sign(obs)


class Jitter(Defense):
    """Uniform noise in half of the episodes (RN under another name)."""

    name = "jitter"
    label = "Jitter"
    attack_name = "random"
    REGIME = Regime(attack_prob=0.5)
'''

ENTRY_POINTS = """[robench.attacks]
flip = robench_plugin_demo:Flip

[robench.defenses]
jitter = robench_plugin_demo:Jitter
"""


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("plugin")
    (root / "robench_plugin_demo.py").write_text(PLUGIN)
    info = root / "robench_plugin_demo-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: robench-plugin-demo\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    path = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH", "")]))
    return {**os.environ, "PYTHONPATH": path, "ROBENCH_TORCH_THREADS": "1"}


def robench(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    res = subprocess.run([ROBENCH, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    return res


def test_a_plugin_defense_and_attack_reach_the_list_the_help_a_grid_and_a_report(plugin_env, tmp_path):
    listing = robench(plugin_env, "list").stdout
    assert "jitter" in listing and "flip" in listing
    assert "jitter" in robench(plugin_env, "train", "--help").stdout
    zoo = tmp_path / "zoo"
    robench(plugin_env, "train", "--defense", "jitter", "--env", "3m", "--steps", "300", "--n-envs", "8",
            "--learner-opt", "batch_size=4", "--learner-opt", "buffer_size=64", "--eval-every", "100000",
            "--eval-episodes", "8", "--final-episodes", "8", "--quiet", "--out", str(zoo / "3m" / "vdn_jitter_s0"))
    robench(plugin_env, "grid", "--envs", "3m", "--learners", "vdn", "--eps", "0.25", "--attacks", "none", "flip",
            "--episodes", "8", "--checkpoints", str(zoo), "--results", str(tmp_path / "results"), "--no-reference",
            "--quiet")
    robench(plugin_env, "report", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "report"),
            "--reference", "jitter")
    table = (tmp_path / "report" / "table1_win_rate.md").read_text()
    assert "Jitter" in table and "Flip" in table  # the classes' own labels
