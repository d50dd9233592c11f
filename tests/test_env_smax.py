import pytest
import torch

from robench.envs import EnvError, canonical_map, make_env


def _random_actions(avail, gen):
    return torch.rand(avail.shape, generator=gen).masked_fill(~avail, -1.0).argmax(-1)


def _play(env, seed):
    gen = torch.Generator().manual_seed(seed)
    cur = env.reset(seed)
    results = []
    for _ in range(env.info().episode_limit):
        res = env.step(_random_actions(cur.avail, gen))
        results.append(res)
        cur = res
        if res.done.all():
            break
    return results


def test_shapes_bounds_and_info(env3m_factory):
    env = env3m_factory(8)
    info = env.info()
    assert (info.n_agents, info.n_actions, info.map_name, info.backend) == (3, 8, "3m", "smax")
    cur = env.reset(0)
    assert cur.obs.shape == (8, 3, info.obs_dim) and cur.state.shape == (8, info.state_dim)
    assert cur.avail.dtype == torch.bool and cur.avail.shape == (8, 3, 8)
    for res in [cur] + _play(env, 0):
        assert (res.obs >= env.obs_low).all() and (res.obs <= env.obs_high).all()
        assert res.state.abs().max() <= 1.0


def test_outcomes_come_from_the_final_transition(env3m_factory):
    env = env3m_factory(64)
    results = _play(env, 3)
    last = results[-1]
    assert last.done.all()
    # the step that ended each episode
    ended_at = torch.stack([r.done for r in results]).float().argmax(0)
    final_reward = torch.stack([r.reward for r in results])[ended_at, torch.arange(64)]
    # SMAX pays a +1 bonus exactly on a won final transition
    assert torch.equal(last.won, final_reward >= 1.0)
    # frozen copies: after done, no reward and the return stays put
    rewards = torch.stack([r.reward for r in results])
    after = torch.arange(len(results)).unsqueeze(1) > ended_at.unsqueeze(0)
    assert (rewards[after] == 0).all()
    assert torch.allclose(last.episode_return, rewards.sum(0), atol=1e-5)
    assert not last.crashed.any()


def test_same_seed_same_episodes(env3m_factory):
    env = env3m_factory(8)
    a, b = _play(env, 11), _play(env, 11)
    assert len(a) == len(b)
    assert all(torch.equal(x.obs, y.obs) and torch.equal(x.reward, y.reward) for x, y in zip(a, b))


def test_three_stalkers_vs_three_zealots_is_registered():
    assert canonical_map("3s_3z") == "3s_vs_3z"
    env = make_env("3s_3z", 2)
    info = env.info()
    assert info.map_name == "3s_vs_3z" and info.n_agents == 3
    unit_types = env._k._env._env.scenario  # allies then enemies
    assert unit_types.tolist() == [2, 2, 2, 3, 3, 3]  # stalker, zealot


def test_unknown_map_and_backend():
    with pytest.raises(EnvError, match="unknown SMAX map"):
        make_env("4m_vs_nothing", 1)
    with pytest.raises(EnvError, match="unknown backend"):
        make_env("3m", 1, backend="gym")
    with pytest.raises(EnvError, match="SMAC3"):
        make_env("3m", 1, backend="sc2")
