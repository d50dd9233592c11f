"""Long checks, outside the default run: ``pytest -m slow`` and ``pytest -m bench``."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROBENCH = str(Path(sys.executable).parent / "robench")
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_vdn_learns_3m_in_a_few_minutes(tmp_path):
    out = tmp_path / "ck"
    res = subprocess.run([ROBENCH, "train", "--env", "3m", "--learner", "vdn", "--steps", "300000", "--out", str(out),
                          "--quiet"], capture_output=True, text=True, timeout=1800)
    assert res.returncode == 0, res.stderr
    assert json.loads((out / "manifest.json").read_text())["clean_win_rate"] >= 0.6


@pytest.mark.bench
def test_eval_benchmark_reports_its_figures():
    res = subprocess.run([ROBENCH, "bench", "--which", "eval", "--json", "--checkpoint",
                          str(ROOT / "checkpoints/3m/vdn_noadv_s0")], capture_output=True, text=True, timeout=1800,
                         cwd=ROOT, env=dict(os.environ))
    assert res.returncode == 0, res.stderr
    figures = json.loads(res.stdout)
    assert figures["eval_speedup_ratio"] > 10 and figures["env_steps_per_s_limit"] > 0
    assert figures["eval_fgsm_win_rate"] <= 0.05  # the zoo's NoAdv VDN collapses under FGSM at ε = 0.25


@pytest.mark.slow
def test_ray_backend_gives_the_loky_numbers(tmp_path):
    """Needs ``pip install 'robench[ray]'``; ray's start-up makes it slow."""
    pytest.importorskip("ray")
    from test_grid import make_zoo

    from robench.grid import GridSpec, run_grid

    zoo = make_zoo(tmp_path / "zoo", n=1)
    common = dict(eps=[0.25], attacks=["none", "fgsm"], checkpoints=zoo, episodes=12)
    loky = run_grid(GridSpec(**common, results=tmp_path / "loky", jobs=1))
    ray_ = run_grid(GridSpec(**common, results=tmp_path / "ray", jobs=2, backend="ray"))
    strip = lambda m: {k: v for k, v in m.items() if k not in ("wall_s", "checkpoint")}  # noqa: E731
    key = lambda m: m["cell_id"]  # noqa: E731
    assert [strip(m) for m in sorted(loky, key=key)] == [strip(m) for m in sorted(ray_, key=key)]
