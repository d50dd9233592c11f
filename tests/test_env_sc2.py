"""The sc2 backend against a stand-in for StarCraft II that follows ``StarCraft2Env``'s API and
SMAC's observation formulas (tests/sc2_standin.py), plus one end-to-end run on the real game
(marked ``sc2``; it runs only where StarCraft II and SMAC are installed)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from threats import call

from robench.envs import EnvError, make_env

import sc2_standin
from sc2_standin import StandInStarCraft2Env

HERE = Path(__file__).resolve().parent
ROBENCH = str(Path(sys.executable).parent / "robench")
STANDIN = "sc2_standin:StandInStarCraft2Env"


@pytest.fixture
def standin(monkeypatch):
    monkeypatch.setenv("ROBENCH_SC2_ENV", STANDIN)
    monkeypatch.setenv("ROBENCH_SC2_WORKERS", "0")
    monkeypatch.setattr(StandInStarCraft2Env, "SCENE", None)
    monkeypatch.setattr(StandInStarCraft2Env, "ENEMY_SPEED", 2.0)
    yield StandInStarCraft2Env


def test_sizes_are_smacs_and_actions_are_smaxs(standin):
    env = make_env("3m", 4, backend="sc2")
    info = env.info()
    assert (info.obs_dim, info.state_dim, info.n_actions, info.episode_limit) == (30, 48, 8, 60)
    assert info.obs_layout == "smac" and info.backend == "sc2"
    assert env.obs_low.shape == (30,) and env.obs_low[[4 + 2, 4 + 3]].tolist() == [-1.0, -1.0]
    smax_info = make_env("3m", 1, backend="smax", obs_layout="smac").info()
    assert (smax_info.obs_dim, smax_info.n_actions) == (info.obs_dim, info.n_actions)  # one checkpoint fits both


def test_observation_on_a_fixed_scene_is_smacs_and_masks_follow_smax_order(standin):
    # ally 0 at (10, 10); ally 1 at (13, 14): distance 5; ally 2 dead; enemy 0 at (10, 16): distance 6, in range
    # (≤ 6), enemy 1 at (20, 10): distance 10 > sight 9; enemy 2 dead
    standin.SCENE = {"allies": [(10, 10, 45), (13, 14, 27), (30, 30, 0)],
                     "enemies": [(10, 16, 36), (20, 10, 45), (5, 5, 0)]}
    env = make_env("3m", 1, backend="sc2")
    cur = env.reset(0)
    o = cur.obs[0, 0].numpy()
    expected = np.zeros(30, dtype=np.float32)
    expected[:4] = 1  # north, south, east, west all stay on the map
    expected[4:9] = [1, 6 / 9, 0 / 9, 6 / 9, 36 / 45]
    expected[19:24] = [1, 5 / 9, 3 / 9, 4 / 9, 27 / 45]  # ally 1 (the first other ally); ally 2 dead: zeros
    expected[29] = 1.0
    np.testing.assert_allclose(o, expected, atol=1e-6)
    assert not cur.obs[0, 2].any()  # a dead agent sees zeros
    # SMAX order: north, east, south, west, stop, attack 0..2
    assert cur.avail[0, 0].tolist() == [True, True, True, True, True, True, False, False]
    assert cur.avail[0, 2].tolist() == [False, False, False, False, True, False, False, False]  # dead: stop only
    game = env._pool.local.envs[0]
    env.step(torch.tensor([[5, 1, 4]]))  # attack enemy 0, move east, (dead) stop
    assert game.received[-1] == [6, 4, 0]  # SMAC: attack 0 = 6, east = 4, a dead agent's no-op 0


def _play(env, seed: int, policy=None):
    cur = env.reset(seed)
    frames, results = [cur.obs.clone()], []
    for _ in range(env.info().episode_limit + 1):
        if policy is None:
            scores = torch.rand(cur.avail.shape, generator=torch.Generator().manual_seed(len(frames)))
            act = scores.masked_fill(~cur.avail, -1).argmax(-1)
        else:
            act = policy(cur)
        res = env.step(act)
        frames.append(res.obs.clone())
        results.append(res)
        cur = res
        if bool(res.done.all()):
            break
    return frames, results


def test_episodes_end_with_wins_time_outs_and_frozen_copies(standin):
    env = make_env("3m", 3, backend="sc2")

    def attack_first(cur):  # the lowest-index enemy in range, else east
        q = torch.zeros(cur.avail.shape)
        q[..., 1], q[..., 5:] = 1.0, 2.0 + torch.arange(3, 0, -1).float()
        return q.masked_fill(~cur.avail, -1e9).argmax(-1)

    _, results = _play(env, 0, attack_first)
    last = results[-1]
    assert bool(last.done.all()) and bool(last.won.all()) and bool(last.terminated.all())
    assert torch.allclose(last.episode_return, torch.stack([r.reward for r in results]).sum(0))
    stop = lambda cur: torch.full(cur.avail.shape[:2], 4)  # noqa: E731 — everyone stops
    _, results = _play(make_env("3m", 2, backend="sc2"), 1, stop)  # the enemy walks up and wins
    assert bool(results[-1].done.all() & results[-1].terminated.all()) and not results[-1].won.any()
    standin.ENEMY_SPEED = 0.0  # nobody meets: the time limit ends the episodes
    _, results = _play(make_env("3m", 2, backend="sc2"), 1, stop)
    assert len(results) == 60 and bool(results[-1].done.all())
    assert not results[-1].terminated.any() and not results[-1].won.any()  # a time-out does not terminate


def test_the_standin_reports_a_time_out_as_smac_does_for_each_flag(standin):
    """SMAC puts ``info["episode_limit"]`` only with ``continuing_episode=True``; the backend builds
    its games so, and the stand-in hides nothing the real game would not report."""
    standin.ENEMY_SPEED = 0.0
    for flag in (False, True):
        game = standin(map_name="3m", seed=0, continuing_episode=flag)
        game.reset()
        for _ in range(game.episode_limit):
            _, terminated, info = game.step([1] * game.n_agents)  # everyone stops, nobody meets
        assert terminated and ("episode_limit" in info) == flag


def test_a_game_failure_ends_the_episode_as_crashed_not_lost(standin):
    """SMAC answers a protocol error with ``(0, True, {})``: the episode ends crashed, not terminated
    (no false terminal state to learn from) and not a loss of the team's."""
    standin.FAIL_AT = 3
    try:
        _, results = _play(make_env("3m", 2, backend="sc2"), 1)
    finally:
        standin.FAIL_AT = None
    last = results[-1]
    assert len(results) == 3 and bool(last.done.all()) and bool(last.crashed.all())
    assert not last.terminated.any() and not last.won.any()


def test_copies_are_seeded_and_workers_change_nothing(standin, monkeypatch):
    a, _ = _play(make_env("3m", 4, backend="sc2"), 7)
    b, _ = _play(make_env("3m", 4, backend="sc2"), 7)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    c, _ = _play(make_env("3m", 4, backend="sc2"), 8)
    assert not torch.equal(a[0], c[0])
    assert not torch.equal(a[0][0], a[0][1])  # copies differ
    monkeypatch.setenv("ROBENCH_SC2_WORKERS", "2")
    monkeypatch.setenv("PYTHONPATH", str(HERE))
    env = make_env("3m", 4, backend="sc2")
    try:
        d, _ = _play(env, 7)
    finally:
        env.close()
    assert len(d) == len(a) and all(torch.equal(x, y) for x, y in zip(a, d))


def test_every_attack_keeps_its_budget_on_the_sc2_layout(standin):
    from attacks import ATTACKS, make_attack
    from robench.learners.agent import RNNAgent
    from robench.threat import ThreatModel

    env = make_env("3m", 4, backend="sc2")
    info = env.info()
    cur = env.reset(3)
    agent = RNNAgent(info.obs_dim, info.n_agents, info.n_actions)
    eps = 0.2
    for bounds in ("none", "box", "features"):
        low, high = ThreatModel(eps=eps, bounds=bounds).limits(env.obs_low, env.obs_high)
        for name, cls in ATTACKS.items():
            if cls.hijacks:  # an action attack: no observation to bound
                continue
            if cls.learned:  # at random initialisation, sized for the sc2 env
                from attacks.training import build

                adversary = build(name, info, 0)
                adversary.reset(4)
                attack = make_attack(name, seed=0, adversary=adversary)
            else:
                attack = make_attack(name, seed=0)
            attack.reset(4)
            seen = call(attack, agent, cur.obs, agent.init_hidden(4), cur.avail, eps, low, high, cur.state)
            assert (seen - cur.obs).abs().max() <= eps + 1e-6, (name, bounds)
            assert bool(((seen >= low - 1e-6) & (seen <= high + 1e-6)).all()), (name, bounds)


def test_without_the_game_one_line_names_what_is_missing(monkeypatch, tmp_path):
    import importlib.util

    from robench.envs import sc2

    monkeypatch.delenv("ROBENCH_SC2_ENV", raising=False)
    with pytest.raises(EnvError) as err:
        make_env("3m", 1, backend="sc2")
    assert "pip install git+https://github.com/oxwhirl/smac" in str(err.value) and "\n" not in str(err.value)
    real = importlib.util.find_spec
    # PyPI's smac (SMAC3): a package "smac" without "smac.env"
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object() if name == "smac" else
                        (None if name == "smac.env" else real(name)))
    assert sc2.missing().startswith("the installed 'smac' package is SMAC3")
    # StarCraft's SMAC present, the game absent
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object() if name.startswith("smac") else real(name))
    monkeypatch.setenv("SC2PATH", str(tmp_path / "no-game"))
    assert sc2.missing().startswith(f"StarCraft II is not at {tmp_path / 'no-game'} (SC2PATH)")
    (tmp_path / "no-game").mkdir()
    assert sc2.missing() is None


def test_train_eval_grid_report_end_to_end_on_the_standin(tmp_path):
    env = dict(os.environ, ROBENCH_SC2_ENV=STANDIN, ROBENCH_SC2_WORKERS="2", PYTHONPATH=str(HERE),
               ROBENCH_TORCH_THREADS="1")
    run = lambda *a: subprocess.run([ROBENCH, *a], capture_output=True, text=True, env=env, timeout=600)  # noqa: E731
    zoo = tmp_path / "zoo"
    res = run("train", "--backend", "sc2", "--env", "3m", "--steps", "2000", "--eval-every", "1000",
              "--eval-episodes", "4", "--final-episodes", "8", "--out", str(zoo / "3m" / "vdn_noadv_s0"), "--quiet")
    assert res.returncode == 0, res.stderr
    res = run("eval", str(zoo / "3m" / "vdn_noadv_s0"), "--attack", "fgsm", "--eps", "0.25", "--episodes", "8")
    assert res.returncode == 0 and "win rate" in res.stdout, res.stderr
    res = run("grid", "--envs", "3m", "--checkpoints", str(zoo), "--eps", "0.25", "--attacks", "none", "fgsm",
              "--episodes", "8", "--results", str(tmp_path / "res"), "--quiet")
    assert res.returncode == 0, res.stderr
    res = run("report", "--results", str(tmp_path / "res"), "--out", str(tmp_path / "rep"), "--reference", "noadv")
    assert res.returncode == 0, res.stderr
    table = (tmp_path / "rep" / "table1_win_rate.md").read_text()
    assert "NoAdv" in table and "Mask-only" in table
    listed = run("list")
    assert "env backend sc2: 3m, 2m" in listed.stdout


@pytest.mark.sc2
@pytest.mark.skipif(not Path(os.environ.get("SC2PATH", Path.home() / "StarCraftII")).is_dir(),
                    reason="StarCraft II is not installed (SC2PATH)")
def test_real_starcraft_one_batch_of_episodes(monkeypatch):
    pytest.importorskip("smac.env")
    monkeypatch.delenv("ROBENCH_SC2_ENV", raising=False)
    env = make_env("3m", 2, backend="sc2")
    try:
        assert env.info().obs_dim == 30
        _, results = _play(env, 0)
        assert bool(results[-1].done.all())
    finally:
        env.close()


def test_the_standin_is_what_the_backend_loads(standin):
    from robench.envs.sc2 import env_class

    assert env_class() is sc2_standin.StandInStarCraft2Env


def test_training_keeps_its_games_across_curve_evaluations(standin, monkeypatch):
    """Launches = the training copies + the curve's copies, however many curve points: the curve
    is evaluated on games kept for the run, not relaunched at every point."""
    from robench.learners.learner import LearnerConfig
    from robench.train import TrainConfig, train

    monkeypatch.setattr(standin, "launches", 0)
    cfg = TrainConfig(env="3m", backend="sc2", steps=400, n_envs=3, eval_every=50, eval_episodes=2,
                      updates_per_rollout=1, learner=LearnerConfig(batch_size=2, buffer_size=8, hidden=8))
    result = train(cfg)
    assert len(result.curve) >= 3
    assert standin.launches == 3 + 2
