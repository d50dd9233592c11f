"""CLI through the real ``robench`` entry point (a subprocess per call; bad input mostly in-process)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROBENCH = shutil.which("robench") or str(Path(sys.executable).parent / "robench")


def run(*args, cwd=None, **env_vars):
    env = dict(os.environ, ROBENCH_TORCH_THREADS="1", **env_vars)
    return subprocess.run([ROBENCH, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


@pytest.mark.parametrize("args, needle", [
    (["train", "--defense", "nope"], "unknown defense 'nope'"),
    (["train", "--learner", "coma"], "unknown learner 'coma'"),
    (["train", "--agent", "lstm"], "unknown agent network 'lstm'"),
    (["train", "--learner-opt", "nope=1"], "KEY one of"),
    (["train", "--learner-opt", "lr=fast"], "lr expects a float"),
    (["train", "--learner-opt", "double_q=maybe"], "double_q expects a bool"),
    (["train", "--learner-opt", "optimizer=sgd"], "unknown optimizer 'sgd'"),
    (["train", "--learner-opt", "policy_ema=1"], "policy_ema must lie in [0, 1)"),
    (["train", "--env", "99z"], "unknown SMAX map '99z'"),
    (["train", "--backend", "sc2"], "SMAC3"),
    (["train", "--eps", "1.5"], "ε must lie in [0, 1]"),
    (["train", "--steps", "0"], "must be positive"),
    (["train", "--explore-end", "2"], "must lie in [0, 1]"),
    (["eval", "no/such/ckpt"], "no checkpoint directory"),
    (["eval", "x", "--episodes", "-3"], "must be positive"),
    (["eval", "x", "--eps", "abc"], "not a number"),
    (["eval", "x", "--attack", "nope"], "unknown attack 'nope'"),
    (["attack", "train", "--attack", "fgsm", "--victim", "x"], "unknown learned attack 'fgsm'"),
    (["attack", "train", "--attack", "atla", "--attack-opt", "kappa=0.1", "--victim", "x"],
     "attack 'atla' has no option kappa; its options: squash"),
    (["attack", "train", "--attack", "paad", "--attack-opt", "director=nope", "--victim", "x"],
     "attack 'paad' option director must be one of target, direction, got 'nope'"),
    (["attack", "train", "--attack", "atsa", "--attack-opt", "updates_per_batch=0", "--victim", "x"],
     "attack 'atsa' option updates_per_batch must lie in [1, inf], got 0"),
    (["attack", "train", "--attack", "atsa", "--attack-opt", "kappa=abc", "--victim", "x"],
     "option kappa expects a float, got 'abc'"),
    (["attack", "train", "--attack", "paad", "--attack-opt", "director_mixer=qmix", "--victim", "x"],
     "attack 'paad' option director_mixer is taken from the victim's checkpoint, not given"),
    (["train", "--defense-opt", "kappa", "--steps", "10"], "expects KEY=VALUE"),
    (["train", "--defense", "atsa", "--defense-opt", "kappa=big"], "option kappa expects a float, got 'big'"),
    (["train", "--defense", "atsa", "--defense-opt", "value=nope"], "option value must be one of closed_form, network"),
    (["train", "--defense", "atla", "--defense-opt", "phase_steps=1.5"], "option phase_steps expects an int"),
    (["train", "--defense", "atla", "--defense-opt", "squash=maybe"], "option squash expects a bool"),
    (["train", "--defense", "paad", "--defense-opt", "director=up"], "option director must be one of target, direction"),
    (["train", "--defense", "rap", "--defense-opt", "kappa=0.1"], "defense 'rap' has no option kappa; its options: adversary_updates, k"),
    (["train", "--defense", "rap", "--defense-opt", "k=0"], "option k must lie in [1, inf], got 0"),
    (["train", "--defense", "pr-rep", "--defense-opt", "teeth=-1"], "option teeth must lie in [1, inf]"),
    (["train", "--defense", "ernie", "--defense-opt", "lam=nan"], "option lam must be finite"),
    (["train", "--defense", "pr", "--defense-opt", "mu=-0.1"], "option mu must lie in [0, inf]"),
    (["eval", "x", "--attacked-agents", "0,b"], "not a comma list of agent indices"),
    (["train", "--defense", "romance-p"], "fine-tunes a trained protagonist"),
    (["train", "--defense", "romance-p", "--defense-opt", "finetune_from=2"], "option finetune_from must lie in [0, 1]"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle, tmp_path, monkeypatch, capsys):
    """In-process through ``robench.cli.main`` (the entry point itself: the test below)."""
    from robench.cli import main

    monkeypatch.chdir(tmp_path)
    try:
        code = main(list(args))
    except SystemExit as stop:  # argparse's own errors
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("robench: error: ") and needle in lines[0], err
    assert not list(tmp_path.iterdir())  # nothing half-written


@pytest.mark.parametrize("args, needle", [
    (["train", "--defense", "nope"], "unknown defense 'nope'"),
    (["eval", "no/such/ckpt"], "no checkpoint directory"),
    (["attack", "train", "--attack", "paad", "--attack-opt", "director=nope", "--victim", "x"], "must be one of"),
])
def test_bad_input_through_the_entry_point(args, needle, tmp_path):
    res = run(*args, cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("robench: error: ") and needle in lines[0], res.stderr
    assert "Traceback" not in res.stderr
    assert not list(tmp_path.iterdir())


def test_list_names_the_registries():
    res = run("list")
    assert res.returncode == 0
    for word in ("3m", "8m", "3s_vs_3z", "vdn", "qmix", "noadv", "fgsm", "random"):
        assert word in res.stdout
    assert "atsa (learns from replay): kappa=0.005" in res.stdout and "atla: squash=False" in res.stdout
    assert "paad (learns from replay): director=target (target|direction)" in res.stdout
    assert "director_mixer" not in res.stdout  # taken from the victim, never given
    assert "zoo (checkpoints): 3m " in res.stdout and "checkpoints/3m/" not in res.stdout  # counts, not 70 paths
    table = run("list", "--checkpoints").stdout.splitlines()
    assert any(line.split()[:4] == ["3m", "vdn", "noadv", "0"] and "win " in line for line in table)
    assert "zoo (nowhere): no checkpoints" in run("list", "--zoo", "nowhere").stdout


def test_train_then_eval_is_reproducible(tmp_path):
    out = tmp_path / "ck"
    res = run("train", "--defense", "noadv", "--env", "3m", "--learner", "qmix", "--steps", "1500", "--n-envs", "4",
              "--eval-every", "1000", "--eval-episodes", "4", "--final-episodes", "8", "--out", str(out), "--quiet")
    assert res.returncode == 0, res.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["learner"] == "qmix" and manifest["steps"] >= 1500 and manifest["kind"] == "protagonist"
    curve = (out / "train_curve.csv").read_text().splitlines()
    assert curve[0].startswith("t_env,") and len(curve) >= 2
    evals = [run("eval", str(out), "--attack", "fgsm", "--eps", "0.25", "--episodes", "16", "--seed", "3", "--json")
             for _ in range(2)]
    assert all(r.returncode == 0 for r in evals), evals[0].stderr
    a, b = (json.loads(r.stdout) for r in evals)
    assert a == b
    assert {"win_rate", "ci_low", "ci_high", "mean_return", "crash_rate", "episodes", "attack", "eps"} <= a.keys()
    assert a["episodes"] == 16 and a["attack"] == "fgsm" and a["ci_low"] <= a["win_rate"] <= a["ci_high"]
    # two processes with one seed train the same weights: test_snapshot.py's SIGKILL test (a fresh
    # run and a killed-and-resumed one through this entry point end with one content hash)
    # an existing output is refused, a corrupted checkpoint is refused, both as one line
    again = run("train", "--steps", "100", "--out", str(out), "--quiet")
    assert again.returncode == 2 and "already exists" in again.stderr
    blob = bytearray((out / "model.safetensors").read_bytes())
    blob[-5] ^= 1
    (out / "model.safetensors").write_bytes(bytes(blob))
    bad = run("eval", str(out), "--episodes", "4")
    assert bad.returncode == 2 and "content hash mismatch" in bad.stderr


def test_eval_prints_the_metrics_the_env_declares():
    res = run("eval", "checkpoints/3m/vdn_noadv_s0", "--episodes", "8")
    assert res.returncode == 0, res.stderr
    assert "win rate" in res.stdout and "mean return" in res.stdout and "crash rate" not in res.stdout  # SMAC: no crashes


def test_diagnose_reports_the_footprint_at_the_given_eps(capsys):
    from robench.cli import main

    ckpt = "checkpoints/3m/vdn_noadv_s0"
    for extra, eps in (([], 0.25), (["--eps", "0.1"], 0.1)):  # default: the paper's ε for 3m
        assert main(["diagnose", ckpt, "--episodes", "4", "--json", *extra]) == 0
        d = json.loads(capsys.readouterr().out)
        assert d["footprint_eps"] == eps and 0.0 <= d["fgsm_support_win_rate"] <= 1.0 and 0.0 <= d["fgsm_win_rate"] <= 1.0
    assert main(["diagnose", ckpt, "--episodes", "4", "--json", "--no-footprint"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["footprint_eps"] is None and d["fgsm_win_rate"] is None


def test_train_mlp_agent_with_learner_options_then_eval(tmp_path):
    res = run("train", "--env", "3m", "--agent", "mlp", "--learner-opt", "optimizer=adam", "--learner-opt",
              "policy_ema=0.9", "--steps", "600", "--n-envs", "4", "--eval-every", "1000", "--eval-episodes", "4",
              "--final-episodes", "4", "--explore-end", "0.2", "--quiet", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    out = tmp_path / "checkpoints" / "3m" / "vdn_mlp_noadv_s0"  # the default path names the agent network
    config = json.loads((out / "manifest.json").read_text())["config"]
    learner = config["learner"]
    assert (learner["agent"], learner["optimizer"], learner["policy_ema"]) == ("mlp", "adam", 0.9)
    assert config["explore_end"] == 0.2
    ev = run("eval", str(out), "--attack", "fgsm", "--eps", "0.1", "--episodes", "4", "--json")
    assert ev.returncode == 0 and json.loads(ev.stdout)["episodes"] == 4, ev.stderr


def test_romance_p_fine_tunes_the_shipped_noadv_run_and_its_archive_attacks(tmp_path):
    """ROMANCE-p from a pretrained protagonist (its hash in the manifest), a learner mismatch refused
    in one line, and the saved archive usable as the ``romance`` attack column."""
    noadv = Path(__file__).resolve().parents[1] / "checkpoints" / "3m" / "vdn_noadv_s0"
    out = tmp_path / "rp"
    res = run("train", "--defense", "romance-p", "--env", "3m", "--steps", "600", "--n-envs", "8", "--eval-every",
              "10000", "--eval-episodes", "4", "--final-episodes", "8", "--init-from", str(noadv), "--out", str(out),
              "--quiet")
    assert res.returncode == 0, res.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    parent = json.loads((noadv / "manifest.json").read_text())
    assert manifest["init_from_hash"] == parent["content_hash"] and manifest["init_from_map"] == "3m"
    assert manifest["lineage_steps"] == manifest["steps"] + parent["steps"]  # the run and the one it started from
    assert manifest["lineage_wall_time_s"] == pytest.approx(manifest["wall_time_s"] + parent["wall_time_s"], abs=0.02)
    assert set(manifest["co_trained_adversaries"]) == {"adv_romance"}
    adv = json.loads((out / "adv_romance" / "manifest.json").read_text())
    assert adv["attack"] == "romance" and adv["co_trained_by"] == "romance-p" and adv["config"]["options"]["members"] >= 4
    ev = run("eval", str(noadv), "--attack", "romance", "--adversary", str(out / "adv_romance"), "--episodes", "8",
             "--json")
    assert ev.returncode == 0 and json.loads(ev.stdout)["attack"] == "romance", ev.stderr
    wrong = run("train", "--defense", "romance-p", "--learner", "qmix", "--steps", "100", "--init-from", str(noadv),
                "--out", str(tmp_path / "x"), "--quiet")
    assert wrong.returncode == 2 and len(wrong.stderr.strip().splitlines()) == 1 and "mixer=vdn" in wrong.stderr
    assert not (tmp_path / "x").exists()


def test_attack_train_then_eval_with_adversary(tmp_path):
    ck, adv = tmp_path / "ck", tmp_path / "adv"
    res = run("train", "--steps", "600", "--n-envs", "4", "--eval-every", "600", "--eval-episodes", "4",
              "--final-episodes", "4", "--out", str(ck), "--quiet")
    assert res.returncode == 0, res.stderr
    res = run("attack", "train", "--attack", "paad", "--victim", str(ck), "--steps", "600", "--out", str(adv), "--quiet")
    assert res.returncode == 0, res.stderr
    manifest = json.loads((adv / "manifest.json").read_text())
    assert manifest["kind"] == "adversary" and manifest["attack"] == "paad" and manifest["eps"] == 0.25
    assert (adv / "train_curve.csv").read_text().startswith("t_env,wall_s,victim_win_rate")
    # usable at another ε, and refused without its checkpoint or as a protagonist
    ok = run("eval", str(ck), "--attack", "paad", "--adversary", str(adv), "--eps", "0.05", "--episodes", "8", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["attack"] == "paad"
    missing = run("eval", str(ck), "--attack", "paad", "--episodes", "8")
    assert missing.returncode == 2 and "--adversary" in missing.stderr
    wrong = run("eval", str(adv), "--episodes", "8")
    assert wrong.returncode == 2 and "not a protagonist" in wrong.stderr


def test_merge_through_every_command(tmp_path):
    """train → attack train → eval → grid → report on ``merge`` (the CAV backend): the curves carry
    return and crash rate, and the report is the paper's Table 2 layout."""
    import csv

    def ok(*args):
        res = run(*args, ROBENCH_CAV_WORKERS="0")  # the copies in-process: no worker spawns
        assert res.returncode == 0, res.stderr[-2000:]
        return res.stdout

    zoo = tmp_path / "zoo"
    ck = zoo / "merge" / "vdn_noadv_s0"
    out = ok("train", "--env", "merge", "--steps", "150", "--n-envs", "2", "--eval-every", "150",
             "--eval-episodes", "2", "--final-episodes", "2", "--out", str(ck), "--quiet")
    assert "crash rate" in out
    with open(ck / "train_curve.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and {"eval_return", "eval_crash_rate"} <= set(rows[0])
    adv = zoo / "merge" / "adv_atsa_vs_vdn"
    out = ok("attack", "train", "--attack", "atsa", "--victim", str(ck), "--steps", "150", "--n-envs", "2",
             "--eval-every", "150", "--eval-episodes", "2", "--out", str(adv), "--quiet")
    assert "crash rate" in out
    with open(adv / "train_curve.csv") as fh:
        assert {"victim_return", "victim_crash_rate"} <= set(next(csv.DictReader(fh)))
    ok("eval", str(ck), "--attack", "fgsm", "--episodes", "2")
    ok("grid", "--envs", "merge", "--eps", "0.05", "--attacks", "none", "fgsm", "atsa", "--episodes", "2",
       "--checkpoints", str(zoo), "--adversaries", str(zoo), "--results", str(tmp_path / "res"), "--quiet")
    ok("report", "--results", str(tmp_path / "res"), "--out", str(tmp_path / "rep"), "--checkpoints", str(zoo))
    table = (tmp_path / "rep" / "table2_reward_cr.md").read_text()
    assert "CR" in table and "ATSA" in table and "FGSM" in table
    assert (tmp_path / "rep" / "figures" / "training_curves_cav.png").exists()
    assert (tmp_path / "rep" / "figures" / "adversary_curves_cav.png").exists()


def test_a_run_file_and_a_manifest_reproduce_the_run(tmp_path, capsys):
    from robench.cli import main

    flags = ["train", "--defense", "rn", "--steps", "600", "--n-envs", "4", "--eval-every", "1000", "--eval-episodes",
             "4", "--final-episodes", "4", "--learner-opt", "batch_size=4", "--quiet"]
    assert main(flags + ["--print-config"]) == 0
    run_file = tmp_path / "run.toml"
    run_file.write_text(capsys.readouterr().out)
    assert 'defense = "rn"' in run_file.read_text() and "batch_size = 4" in run_file.read_text()
    assert main(["train", "--config", str(run_file), "--print-config"]) == 0
    assert capsys.readouterr().out == run_file.read_text()  # the file round-trips
    res = run(*flags, "--out", str(tmp_path / "a"))
    assert res.returncode == 0, res.stderr
    res = run("train", "--config", str(run_file), "--out", str(tmp_path / "b"), "--quiet")
    assert res.returncode == 0, res.stderr
    res = run("train", "--config", str(tmp_path / "a" / "manifest.json"), "--out", str(tmp_path / "c"), "--quiet")
    assert res.returncode == 0, res.stderr
    hashes = {json.loads((tmp_path / d / "manifest.json").read_text())["content_hash"] for d in "abc"}
    assert len(hashes) == 1  # flags, the run file and the manifest train the same weights
    bad = run("train", "--config", str(run_file), "--seed", "3")
    assert bad.returncode == 2 and "with --config the file sets the run: drop --seed" in bad.stderr
    text = run_file.read_text()
    run_file.write_text("warp = 9\n" + text)
    bad = run("train", "--config", str(run_file))
    assert bad.returncode == 2 and "unknown setting warp" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    run_file.write_text(text + "sigma = 2.0\n")  # in [defense_options]: RN has none
    bad = run("train", "--config", str(run_file))
    assert bad.returncode == 2 and "defense 'rn' has no option sigma" in bad.stderr
