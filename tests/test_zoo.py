"""``robench zoo build`` through the real entry point: resumable after SIGKILL with identical
hashes, idempotent, safe for two concurrent builds, and the same through dask as loky."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROBENCH = str(Path(sys.executable).parent / "robench")

TINY = ["--maps", "3m", "--learners", "vdn", "--defenses", "noadv", "rn", "--steps", "2000", "--quiet"]


def build(zoo: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ROBENCH_TORCH_THREADS="1")
    return subprocess.run([ROBENCH, "zoo", "build", *TINY, "--zoo", str(zoo), *extra], capture_output=True, text=True,
                          env=env, timeout=600)


def hashes(zoo: Path) -> dict[str, str]:
    return {p.parent.name: json.loads(p.read_text())["content_hash"] for p in sorted((zoo / "3m").glob("*/manifest.json"))}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, str]:
    zoo = tmp_path_factory.mktemp("ref") / "zoo"
    res = build(zoo)  # --jobs auto: one run per core
    assert res.returncode == 0, res.stderr
    assert f"2 runs to train, {min(2, os.cpu_count())} at a time × 1 torch thread each (--jobs auto)" in res.stderr
    found = hashes(zoo)
    assert set(found) == {"vdn_noadv_s0", "vdn_rn_s0"}
    again = build(zoo)  # a second build over a finished zoo trains nothing
    assert again.returncode == 0 and "zoo: 0 runs trained" in again.stdout and hashes(zoo) == found
    index = json.loads((zoo / "index.json").read_text())
    assert {row["path"] for row in index["checkpoints"]} == {"3m/vdn_noadv_s0", "3m/vdn_rn_s0"}
    return found


def test_sigkilled_build_resumes_to_the_same_hashes_without_stray_files(reference, tmp_path):
    zoo = tmp_path / "zoo"
    env = dict(os.environ, ROBENCH_TORCH_THREADS="1")
    proc = subprocess.Popen([ROBENCH, "zoo", "build", *TINY, "--jobs", "1", "--zoo", str(zoo)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    deadline = time.time() + 300
    while not (zoo / "3m" / "vdn_noadv_s0" / "manifest.json").is_file() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # into the second run
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (zoo / "3m" / "vdn_rn_s0").exists()  # killed mid-run: no partial entry
    res = build(zoo, "--jobs", "1")
    assert res.returncode == 0, res.stderr
    assert "zoo: 1 runs trained" in res.stdout
    assert hashes(zoo) == reference
    assert not [p for p in (zoo / "3m").iterdir() if ".tmp-" in p.name]


def test_two_concurrent_builds_train_each_run_once(reference, tmp_path):
    zoo = tmp_path / "zoo"
    env = dict(os.environ, ROBENCH_TORCH_THREADS="1")
    procs = [subprocess.Popen([ROBENCH, "zoo", "build", *TINY, "--jobs", "1", "--zoo", str(zoo)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    trained = sum(err.count(" trained (clean") for _, err in outs)
    assert trained == 2 and hashes(zoo) == reference


@pytest.mark.slow  # the dask backend itself is covered by default in test_grid.py's dask test
def test_dask_backend_gives_the_loky_hashes(reference, tmp_path):
    pytest.importorskip("dask.distributed")
    res = build(tmp_path / "zoo", "--backend", "dask", "--jobs", "2")
    assert res.returncode == 0, res.stderr
    assert hashes(tmp_path / "zoo") == reference


def test_zoo_status_and_bad_names(tmp_path):
    env = dict(os.environ, ROBENCH_TORCH_THREADS="1")
    res = subprocess.run([ROBENCH, "zoo", "status", "--maps", "3m", "--defenses", "atsa", "--zoo", str(tmp_path)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0 and "missing (4): 3m/vdn/atsa/s0, 3m/qmix/atsa/s0, 3m/vdn/atsa_p1/s0, 3m/qmix/atsa_p1/s0" in res.stdout
    assert "2-core hours" in res.stdout
    bad = subprocess.run([ROBENCH, "zoo", "build", "--defenses", "nope", "--zoo", str(tmp_path)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        f"robench: error: unknown defense 'nope'; known: all, {', '.join(__import__('defenses').DEFENSES)}"]


def test_a_fine_tuning_defense_starts_from_the_zoos_noadv_run_planned_before_it(tmp_path):
    from robench.zoo_plan import plan_runs

    runs = plan_runs(["3m"], ["qmix"], ["noadv", "romance-p"], [1], steps=5000)
    noadv, romance = runs
    assert noadv.config(tmp_path).init_from is None
    assert romance.config(tmp_path).init_from == str(noadv.path(tmp_path)) == str(tmp_path / "3m" / "qmix_noadv_s1")
    assert romance.config().init_from is None  # no zoo, no implicit start


def test_a_fine_tune_is_done_under_any_spelling_of_the_zoo_path_and_stale_once_its_parent_changes(tmp_path, monkeypatch):
    from robench.zoo_plan import plan_runs, run_status, runs_to_train

    env = dict(os.environ, ROBENCH_TORCH_THREADS="1")
    res = subprocess.run([ROBENCH, "zoo", "build", "--maps", "3m", "--learners", "vdn", "--defenses", "noadv", "romance-p",
                          "--steps", "1000", "--jobs", "2", "--quiet", "--zoo", "zoo"], capture_output=True, text=True, env=env,
                         timeout=600, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "blocked" not in res.stderr  # two jobs, yet ROMANCE-p waited for its NoAdv run (a later wave)
    noadv, romance = plan_runs(["3m"], ["vdn"], ["noadv", "romance-p"], [0], steps=1000)
    monkeypatch.chdir(tmp_path)
    assert run_status(romance, Path("zoo")) == run_status(romance, tmp_path / "zoo") == "done"
    parent = noadv.path(tmp_path / "zoo") / "manifest.json"
    recorded = json.loads(parent.read_text())
    parent.write_text(json.dumps({**recorded, "config": {**recorded["config"], "steps": 999}}))  # NoAdv stale
    assert [run_status(r, Path("zoo")) for r in (noadv, romance)] == ["stale", "done"]
    assert runs_to_train([noadv, romance], Path("zoo"), retrain_stale=True) == [[noadv], [romance]]  # its start changes
    assert runs_to_train([noadv, romance], Path("zoo"), retrain_stale=False) == []
    parent.write_text(json.dumps({**recorded, "content_hash": "0" * 64}))  # NoAdv retrained
    assert run_status(romance, Path("zoo")) == "stale"


def test_a_config_field_added_later_at_its_default_keeps_finished_runs_done():
    from dataclasses import asdict

    from robench.train import TrainConfig
    from robench.zoo_plan import with_defaults

    old = asdict(TrainConfig(steps=1234))
    del old["init_from"], old["learner"]["lr"]  # a manifest written before these fields existed
    assert with_defaults(old) == asdict(TrainConfig(steps=1234))
    assert with_defaults({**old, "steps": 99}) != asdict(TrainConfig(steps=1234))


def test_curve_attacks_alone_do_not_make_a_finished_run_stale():
    from dataclasses import asdict

    from robench.train import TrainConfig
    from robench.zoo_plan import _config_part

    plain = asdict(TrainConfig())
    assert _config_part({**plain, "curve_attacks": ["fgsm"]}) == _config_part(plain)
    assert _config_part({**plain, "steps": 99}) != _config_part(plain)


def test_a_defense_option_added_later_at_its_old_behaviour_keeps_finished_runs_done():
    from defenses import DEFENSES
    from robench.zoo_plan import same_options

    today = DEFENSES["pr"].config_for("vdn").to_dict()
    before = {key: value for key, value in today.items() if key != "reg_start"}  # a manifest predating reg_start
    assert same_options("pr", before, today)
    assert not same_options("pr", before, DEFENSES["pr"].config_for("vdn", {"reg_start": 0.25}).to_dict())
    assert not same_options("pr", {**before, "mu": 0.2}, today)
    # PR-REP does not declare reg_start: nothing is filled in for it
    pr_rep = DEFENSES["pr-rep"].config_for("vdn").to_dict()
    assert "reg_start" not in pr_rep and same_options("pr-rep", pr_rep, pr_rep)


def test_plan_jobs_one_job_per_core_with_one_thread(monkeypatch):
    from robench.runtime import plan_jobs

    monkeypatch.delenv("ROBENCH_TORCH_THREADS", raising=False)
    assert plan_jobs("auto", cores=2) == (2, 1)
    assert plan_jobs("auto", cores=16) == (16, 1)
    assert plan_jobs(1, cores=2) == (1, 2) and plan_jobs(3, cores=16) == (3, 5) and plan_jobs(4, cores=2) == (4, 1)
    monkeypatch.setenv("ROBENCH_TORCH_THREADS", "3")
    assert plan_jobs(1, cores=2) == (1, 3)
    with pytest.raises(ValueError):
        plan_jobs(0)


def test_the_zoo_recipe_adds_atsas_every_step_rows_on_3m_and_the_regularisers_reward_scale():
    from robench.zoo_plan import plan_runs

    runs = plan_runs(["3m", "8m"], ["vdn", "qmix"], ["pr", "atsa"], [0])
    labels = [r.label for r in runs]
    assert labels == ["3m/vdn/pr/s0", "3m/qmix/pr/s0", "3m/vdn/atsa/s0", "3m/qmix/atsa/s0", "3m/vdn/atsa_p1/s0",
                      "3m/qmix/atsa_p1/s0", "8m/vdn/pr/s0", "8m/qmix/pr/s0", "8m/vdn/atsa/s0", "8m/qmix/atsa/s0"]
    every_step = runs[4].config()
    assert every_step.attack_prob == 1.0 and runs[4].path(Path("z")) == Path("z/3m/vdn_atsa_p1_s0")
    assert runs[2].config().attack_prob is None and runs[2].path(Path("z")) == Path("z/3m/vdn_atsa_s0")
    assert runs[0].config().learner.reward_scale == 10.0 and runs[2].config().learner.reward_scale == 1.0
    from robench.zoo_plan import ZooRun

    assert ZooRun("merge_safe", "vdn", "pr", 0).config().learner.reward_scale == 1.0  # SMAX's scale only


def test_every_merge_safe_row_starts_from_the_zoos_merge_noadv_run_at_the_cav_budget(tmp_path):
    from robench.zoo_plan import map_recipe, plan_runs, runs_to_train

    runs = plan_runs(["merge_safe"], ["vdn", "qmix"], ["noadv", "atsa", "romance-p"], [0])
    assert [r.label for r in runs[:2]] == ["merge/vdn/noadv/s0", "merge/qmix/noadv/s0"]  # warm starts first
    assert len(runs) == len(set(runs)) == 8
    parent = {r.learner: r.config(tmp_path) for r in runs[:2]}
    assert all(cfg.init_from is None and cfg.steps == map_recipe("merge").steps for cfg in parent.values())
    assert all((cfg.n_envs, cfg.learner.target_update_episodes, cfg.explore_anneal_steps) == (8, 50, 30_000)
               for cfg in parent.values())  # the CAV rollout settings of the lineage that drives
    for run in runs[2:]:
        cfg = run.config(tmp_path)
        assert cfg.steps == map_recipe("merge_safe").steps < map_recipe("3m").steps
        assert (cfg.n_envs, cfg.learner.target_update_episodes, cfg.explore_anneal_steps) == (8, 50, 20_000)
        assert cfg.init_from == str(tmp_path / "merge" / f"{run.learner}_noadv_s0")  # ROMANCE-p's too
    assert plan_runs(["merge_safe", "merge"], ["vdn"], ["noadv"], [0]) == plan_runs(["merge_safe"], ["vdn"], ["noadv"], [0])
    assert runs_to_train(runs, tmp_path) == [runs[:2], runs[2:]]  # parallel jobs: the merge runs finish first
    smax = plan_runs(["3m"], ["vdn"], ["noadv"], [0])[0].config(tmp_path)  # the SMAX protocol: 2 M steps from scratch
    assert smax.steps == 2_000_000 and smax.init_from is None
    assert (smax.n_envs, smax.learner.target_update_episodes, smax.explore_anneal_steps) == (32, 200, 100_000)
