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


def test_smac_layout_matches_hand_computed_smac_values_on_a_fixed_scene():
    """SMAC's get_obs_agent on a 3m scene, computed by hand (module docstring of
    robench.envs.smac_layout): map 32×32, marines' sight 9, attack range 5, health 45."""
    from types import SimpleNamespace

    import jax.numpy as jnp
    import numpy as np

    from robench.envs.smax import _kernels

    layout = _kernels("3m", 1, "smac")._smac
    assert layout.obs_dim == 30 and layout.type_bits == 0 and layout.shield_ally == 0
    pos = [(10, 10), (12, 10), (0, 31.5), (14, 10), (10, 25), (11, 11)]  # allies 0-2, enemies 0-2
    alive = [True, True, True, True, True, False]
    health = [45, 45, 45, 22.5, 45, 0]
    inner = SimpleNamespace(unit_positions=jnp.array(pos, jnp.float32), unit_alive=jnp.array(alive),
                            unit_health=jnp.array(health, jnp.float32))
    avail = np.zeros((3, 8), bool)
    avail[:, :5] = True
    avail[0, 5] = True  # agent 0 can shoot enemy 0 (distance 4 < 5)
    obs = np.asarray(layout.observe(inner, jnp.asarray(avail)))
    want0 = ([1, 1, 1, 1]  # north, south, east, west all inside the map
             + [1, 4 / 9, 4 / 9, 0, 0.5] + [0] * 5 + [0] * 5  # enemy 0 in range; 1 beyond sight; 2 dead
             + [1, 2 / 9, 2 / 9, 0, 1.0] + [0] * 5  # ally 1 visible; ally 2 beyond sight
             + [1.0])
    np.testing.assert_allclose(obs[0], want0, atol=1e-6)
    assert obs[2, :4].tolist() == [0, 1, 1, 0]  # at (0, 31.5): no step north or west
    inner.unit_alive = jnp.array([True, False, True, True, True, False])
    obs = np.asarray(layout.observe(inner, jnp.asarray(avail)))
    assert (obs[1] == 0).all() and (obs[0, 19:24] == 0).all()  # a dead ally sees nothing and is not seen


def test_smac_layout_sizes_follow_smac_on_the_papers_maps():
    from robench.envs import make_env

    # SMAC's obs_shape: 3m 30, 8m 80, 3s_vs_3z 36 (shield slots for the stalkers and zealots), 2s3z 80 (type bits)
    for name, dim in (("3m", 30), ("8m", 80), ("3s_vs_3z", 36), ("2s3z", 80)):
        env = make_env(name, 2, obs_layout="smac")
        obs = env.reset(0).obs
        assert env.info().obs_dim == dim == obs.shape[-1] and env.info().obs_layout == "smac"
        assert ((obs >= env.obs_low) & (obs <= env.obs_high)).all()


def test_smac_layout_on_3s_vs_3z_has_smacs_sight_and_separate_health_and_shield():
    """SMAC's get_obs_agent on a 3s_vs_3z scene, by hand: sight 9 for every unit (SMAX's stalker
    has 10), health hp / hp_max and shield / shield_max from SMAX's one pool H = hp + shield with
    shields lost first (stalker 80 + 80, zealot 100 + 50)."""
    from types import SimpleNamespace

    import jax.numpy as jnp
    import numpy as np

    from robench.envs.smax import _kernels

    layout = _kernels("3s_vs_3z", 1, "smac")._smac
    assert layout.obs_dim == 36 and layout.shield_ally == 1 and layout.shield_enemy == 1 and layout.type_bits == 0
    pos = [(10, 10), (19.5, 10), (10, 14), (13, 10), (10, 30), (16, 10)]  # allies 0-2 (stalkers), enemies (zealots)
    health = [120, 160, 60, 125, 150, 40]  # stalker 0: full hp, half shield; zealot 0: 100 hp, 25 shield
    inner = SimpleNamespace(unit_positions=jnp.array(pos, jnp.float32), unit_alive=jnp.ones(6, bool),
                            unit_health=jnp.array(health, jnp.float32))
    avail = np.zeros((3, 8), bool)
    avail[:, :5] = True
    avail[0, 5] = True  # enemy 0 at distance 3 is in a stalker's range 6
    obs = np.asarray(layout.observe(inner, jnp.asarray(avail)))
    want0 = ([1, 1, 1, 1]
             + [1, 3 / 9, 3 / 9, 0, 1.0, 0.5]  # zealot 0: 125 = 100 hp + 25 of 50 shield
             + [0] * 6  # zealot 1 beyond sight
             + [0, 6 / 9, 6 / 9, 0, 0.4, 0.0]  # zealot 2: 40 of 100 hp, shield gone; not in the mask
             + [0] * 6  # ally 1 at 9.5: beyond SMAC's sight 9 (SMAX's stalker sight is 10)
             + [1, 4 / 9, 0, 4 / 9, 60 / 80, 0.0]  # ally 2: 60 hp, no shield left
             + [1.0, 0.5])  # own: 80 hp, 40 of 80 shield
    np.testing.assert_allclose(obs[0], want0, atol=1e-6)


def test_smac_layout_types_enemies_by_the_games_ids_on_stalker_and_zealot_maps():
    """SMAC's one-hot: allies stalker, zealot (its stalker_id < zealot_id); enemies by the game's ids
    (zealot 73 before stalker 74)."""
    import numpy as np

    from robench.envs.smax import _kernels

    layout = _kernels("2s3z", 1, "smac")._smac
    names = ["stalker" if t == 2 else "zealot" for t in layout.types]
    want = {("ally", "stalker"): [1, 0], ("ally", "zealot"): [0, 1], ("enemy", "zealot"): [1, 0],
            ("enemy", "stalker"): [0, 1]}
    for u, name in enumerate(names):
        side = "ally" if u < layout.n_allies else "enemy"
        assert layout.type_onehot[u].tolist() == want[(side, name)], (u, side, name)
    assert set(np.asarray(layout.types).tolist()) == {2, 3}
