"""The CAV on-ramp merge backend: Chen et al.'s reward terms, spawn rule, termination at the
first crash, determinism across worker counts, and observation bounds under every attack."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from threats import call
from highway_env.road.lane import SineLane, StraightLane
from highway_env.road.road import RoadNetwork
from hypothesis import given, settings
from hypothesis import strategies as st

from attacks import ATTACKS, make_attack
from attacks.training import LEARNED, build
from robench.envs import backend_of, curve_episodes, make_env, paper_eps
from robench.envs.cav import HIGH, LOW, CAVMergeEnv, MergeCopies
from robench.envs.cav_merge import (MAIN_SLOTS, MERGE_LANE, RAMP_SLOTS, SUPERVISOR_FRAMES, ChenMergeEnv,
                                    MergeSineLane, MergeStraightLane, agent_reward, headway_cost, merging_cost)
from robench.learners.agent import RNNAgent
from robench.train import TrainConfig, resolve_config


def test_reward_terms_against_hand_computed_values():
    assert merging_cost(420.0) == pytest.approx(-1.0)  # at the merging lane's end
    assert merging_cost(400.0) == pytest.approx(-math.exp(-400 / 1000))
    assert headway_cost(30.0, 25.0) == 0.0  # exactly 1.2 s: no cost
    assert headway_cost(15.0, 25.0) == pytest.approx(math.log(0.5))
    assert headway_cost(80.0, 25.0) == 0.0 and headway_cost(5.0, 0.0) == 0.0
    # crash, 20 m/s (speed term 0.5), off the merging lane, 60 m headway (no cost)
    assert agent_reward(True, 20.0, False, 100.0, 60.0) == pytest.approx(-200 + 0.5)
    # 30 m/s at the merging lane's end, 18 m headway: 1 − 4 + 4·log(18 / 36)
    assert agent_reward(False, 30.0, True, 420.0, 18.0) == pytest.approx(1 - 4 + 4 * math.log(0.5))
    # speed clipped to [0, 1] below 10 m/s
    assert agent_reward(False, 5.0, False, 0.0, 60.0) == pytest.approx(0.0)


def test_array_kinematics_equals_highway_envs_stock_observation():
    """``KinematicsArray`` (numpy rows) gives exactly the stock pandas ``KinematicObservation``."""
    import numpy as np
    from highway_env.envs.common.observation import KinematicObservation

    copies = MergeCopies("merge", [0, 1])
    copies.reset(5)
    rng = np.random.default_rng(0)
    compared = 0
    for _ in range(40):
        for env in copies.envs:
            config = env.config["observation"]["observation_config"]
            for k, vehicle in enumerate(env.controlled_vehicles):
                stock = KinematicObservation(env, **config)
                stock.observer_vehicle = vehicle
                ours = env.observation_type.agents_observation_types[k]
                assert type(ours).__name__ == "KinematicsArray"
                assert np.array_equal(stock.observe(), ours.observe())
                compared += 1
        if copies.done.all():
            break
        copies.step(rng.integers(0, 5, (2, 3)))
    assert compared >= 6 * 10


def test_spawn_rule():
    copies = MergeCopies("merge", list(range(12)))
    copies.reset(3)
    hdv_counts = set()
    for env in copies.envs:
        cavs = env.controlled_vehicles
        hdvs = [v for v in env.road.vehicles if v not in cavs]
        assert len(cavs) == 3 and 1 <= len(hdvs) <= 4
        hdv_counts.add(len(hdvs))
        for group in (cavs, hdvs):
            main = [v for v in group if v.lane_index[:2] == ("a", "b")]
            assert len(main) == len(group) // 2  # half of each kind on the main road, the rest on the ramp
            for v in group:
                slots = MAIN_SLOTS if v in main else RAMP_SLOTS
                assert min(abs(v.position[0] - s) for s in slots) <= 1.5 + 1e-6
                assert 25.0 <= v.speed <= 27.0
    assert len(hdv_counts) > 1


def test_episode_ends_at_the_first_crash_and_the_copy_freezes():
    env = CAVMergeEnv(3, workers=0)
    env.reset(0)
    g = torch.Generator().manual_seed(0)
    first = None
    for t in range(100):
        res = env.step(torch.randint(5, (3, 3), generator=g))
        if first is None and bool(res.done[0]):
            first, frozen_obs = t, res.obs[0].clone()
            assert bool(res.crashed[0]) == bool(res.terminated[0])
        elif first is not None:
            assert torch.equal(res.obs[0], frozen_obs) and float(res.reward[0]) == 0.0 and bool(res.done[0])
        if bool(res.done.all()):
            break
    assert first is not None and first < 99  # random driving crashes before the 100-step horizon
    assert bool(res.crashed[0]) and not bool(res.won.any())


def test_same_seed_same_episodes_in_process_and_in_workers():
    outs = []
    for workers in (0, 2):
        env = CAVMergeEnv(4, workers=workers)
        first = env.reset(7).obs
        res = env.step(torch.ones(4, 3, dtype=torch.int64) * 3)
        outs.append((first, res.obs, res.reward))
        env.close()
    assert all(torch.equal(a, b) for a, b in zip(*outs))


def test_merge_is_the_cav_backend_with_the_papers_eps():
    assert backend_of("merge") == "cav" and backend_of("3m") == "smax" and paper_eps("merge") == 0.05
    for name in ("merge", "merge_safe"):
        info = make_env(name, 1, "cav").info()
        assert (info.n_agents, info.obs_dim, info.n_actions, info.episode_limit) == (3, 25, 5, 100)
        assert info.map_name == name and backend_of(name) == "cav" and paper_eps(name) == 0.05


def _crawl_scene(supervised: bool) -> ChenMergeEnv:
    """CAV 0 at 10 m/s on the merging lane 20 m before its end (the obstacle), the main lane beside
    it empty; CAVs 1 and 2 far ahead; no HDVs."""
    env = ChenMergeEnv(config={"safety_supervisor": supervised})
    env.reset(seed=0)
    net = env.road.network
    for v, lane_index, s in zip(env.controlled_vehicles, [MERGE_LANE, ("c", "d", 0), ("c", "d", 0)], [80.0, 50.0, 90.0]):
        lane = net.get_lane(lane_index)
        v.position, v.heading = lane.position(s, 0.0), lane.heading_at(s)
        v.lane_index = v.target_lane_index = lane_index
        v.lane = lane
        v.speed = 10.0 if lane_index == MERGE_LANE else 25.0
        v.speed_index = v.speed_to_index(v.speed)
        v.target_speed = v.index_to_speed(v.speed_index)
    env.road.vehicles = list(env.controlled_vehicles)
    return env


def test_safety_supervisor_steers_a_crawling_cav_off_the_merging_lane_before_its_end():
    idle = (1, 1, 1)
    plain = _crawl_scene(supervised=False)
    crashed = [plain.step(idle)[2] for _ in range(15)]
    assert any(crashed)  # unsupervised, IDLE drives it into the obstacle
    safe = _crawl_scene(supervised=True)
    for _ in range(15):
        assert not safe.step(idle)[2]
    cav = safe.controlled_vehicles[0]
    assert cav.lane_index[2] == 0 and cav.position[0] > 420  # merged, and past the merging lane's end


def test_safety_supervisor_leaves_the_scene_untouched_and_safe_actions_as_proposed():
    env = ChenMergeEnv(config={"safety_supervisor": True})
    env.reset(seed=4)
    before = [(v.position.copy(), v.speed, v.lane_index, v.crashed) for v in env.road.vehicles]
    hits = [o.hit for o in env.road.objects]
    for proposal in [(1, 1, 1), (0, 3, 4), (2, 2, 2)]:
        executed = env.supervise(proposal)
        outcome = env._rollout(list(proposal), list(range(3)), {id(v) for v in env.road.vehicles})
        if all(frames == 15 for frames, _ in outcome.values()):
            assert executed == proposal
    after = [(v.position, v.speed, v.lane_index, v.crashed) for v in env.road.vehicles]
    assert all((p0 == p1).all() and rest0 == rest1 for (p0, *rest0), (p1, *rest1) in zip(before, after))
    assert [o.hit for o in env.road.objects] == hits


def test_supervisor_risk_gate_flags_every_cav_that_any_joint_action_can_crash():
    """The gate skips the rollouts of CAVs it calls safe, so it must be sound: in full-road rollouts
    of random joint actions from random-policy scenes, every CAV that crashes was flagged."""
    rng = np.random.default_rng(0)
    crashes = 0
    for seed in range(3):
        env = ChenMergeEnv()
        env.reset(seed=seed)
        for _ in range(100):
            flagged = set(env._at_risk())
            live = [k for k, v in enumerate(env.controlled_vehicles) if not v.crashed]
            outcome = env._rollout(list(rng.integers(0, 5, 3)), live, {id(v) for v in env.road.vehicles})
            crashed = {k for k in live if outcome[k][0] < SUPERVISOR_FRAMES}
            assert crashed <= flagged
            crashes += len(crashed)
            if any(env.step(tuple(int(a) for a in rng.integers(0, 5, 3)))[2:4]):
                break
    assert crashes > 0  # the scenes did hold crashes for the gate to miss


def test_merge_network_closest_lane_query_matches_highway_env():
    env = ChenMergeEnv()
    env.reset(seed=0)
    net, rng = env.road.network, np.random.default_rng(0)
    for position, heading in zip(rng.uniform([-20, -8], [700, 20], (2000, 2)), rng.uniform(-4, 4, 2000)):
        for h in (heading, None):
            assert net.get_closest_lane_index(position, h) == RoadNetwork.get_closest_lane_index(net, position, h)


def test_merge_lanes_coordinates_are_highway_envs_bit_for_bit():
    """The float lane frames give the stock ``np.dot`` coordinates exactly (not only closely): the
    simulation, and so every trained run, stays highway-env's to the last bit."""
    env = ChenMergeEnv()
    env.reset(seed=0)
    lanes = env.road.network.lanes_list()
    assert {type(lane) for lane in lanes} == {MergeStraightLane, MergeSineLane}
    rng = np.random.default_rng(1)
    for lane in lanes:
        for position in rng.uniform([-50, -20], [700, 30], (500, 2)):
            s, r = StraightLane.local_coordinates(lane, position)  # the stock frame (np.dot)
            if isinstance(lane, SineLane):  # SineLane's own shift of the lateral coordinate
                r = r - lane.amplitude * np.sin(lane.pulsation * s + lane.phase)
            ours, theirs = lane.local_coordinates(position), (s, r)
            assert [float(v).hex() for v in ours] == [float(v).hex() for v in theirs]


def test_a_cav_runs_curve_is_its_backends_size_unless_given():
    assert resolve_config(TrainConfig(env="merge_safe", backend="cav")).eval_episodes == curve_episodes("cav") == 100
    assert resolve_config(TrainConfig(env="3m")).eval_episodes == 500
    assert resolve_config(TrainConfig(env="merge", backend="cav", eval_episodes=7)).eval_episodes == 7


@pytest.fixture(scope="module")
def cav_observations():
    env = CAVMergeEnv(4, workers=0)
    cur = env.reset(1)
    seen = [cur.obs]
    for _ in range(15):
        cur = env.step(torch.full((4, 3), 1, dtype=torch.int64))  # IDLE: drive on
        seen.append(cur.obs)
    return torch.cat(seen), env.info()


@pytest.mark.parametrize("name", sorted(ATTACKS))
@settings(max_examples=10, deadline=None)
@given(eps=st.floats(0.0, 1.0), seed=st.integers(0, 1000))
def test_observation_bounds_hold_under_every_attack(cav_observations, name, eps, seed):
    obs, info = cav_observations
    low, high = torch.from_numpy(LOW), torch.from_numpy(HIGH)
    assert ((obs >= low) & (obs <= high)).all()
    torch.manual_seed(seed)
    agent = RNNAgent(info.obs_dim, info.n_agents, info.n_actions, hidden=16)
    adversary = build(name, info, seed) if name in LEARNED else None
    attack = make_attack(name, seed=seed, adversary=adversary)
    attack.reset(obs.shape[0])
    avail = torch.ones(obs.shape[0], 3, 5, dtype=torch.bool)
    state = torch.randn(obs.shape[0], info.state_dim, generator=torch.Generator().manual_seed(seed))
    x = call(attack, agent, obs, agent.init_hidden(obs.shape[0]), avail, eps, low, high, state)
    assert ((x >= low - 1e-6) & (x <= high + 1e-6)).all() and ((x - obs).abs() <= eps + 1e-6).all()

