"""The threat model (bounds modes) and the training regime (share, warm-up, replay)."""
import json
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attacks import ATTACKS, make_attack
from robench.errors import RobenchError
from robench.learners.agent import RNNAgent
from robench.manifest import regime_of
from robench.regime import Regime, attack_coins, stored
from robench.rollout import run_episodes
from robench.threat import BOUNDS, ThreatModel, bounds_of, limits, resolve_bounds
from threats import call, on
from test_attacks import INFO, _attack  # any registered attack, learned ones at random initialisation



def _inputs(seed, b=4, n=3, d=6, a=5):
    """Observations on the edges of a per-feature range whose low end is 0 for half the
    features (as SMAX's health and type bits): clipping to it would cut noise off."""
    g = torch.Generator().manual_seed(seed)
    low = -torch.rand(d, generator=g) * (torch.arange(d) % 2 == 0)
    high = torch.clamp(low + 0.2 + torch.rand(d, generator=g), max=1.0)  # inside the box [-1, 1], as every env's
    edge = torch.rand(b, n, d, generator=g) > 0.5
    obs = torch.where(edge, low, high).expand(b, n, d).clone()
    avail = torch.rand(b, n, a, generator=g) > 0.3
    avail[..., 0] = True
    return obs, avail, low, high


@pytest.mark.parametrize("bounds", BOUNDS)
@pytest.mark.parametrize("name", sorted(ATTACKS))
@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 100_000), eps=st.floats(0.01, 1.0))
def test_every_attack_keeps_each_bounds_modes_invariant(name, bounds, seed, eps):
    """‖ô − o‖∞ ≤ ε always, and ô ∈ K: the feature range, the box [−1, 1], or ℝ^D."""
    torch.manual_seed(seed)
    agent = RNNAgent(6, 3, 5, hidden=8)
    obs, avail, feat_low, feat_high = _inputs(seed)
    low, high = limits(bounds, feat_low, feat_high)
    x = call(_attack(name, seed), agent, obs, torch.randn(4, 3, 8), avail, eps, low, high, torch.randn(4, INFO.state_dim))
    assert ((x - obs).abs() <= eps + 1e-6).all()
    assert (x >= low - 1e-6).all() and (x <= high + 1e-6).all()
    if bounds == "box":
        assert (x.abs() <= 1 + 1e-6).all()


@pytest.mark.parametrize("name", sorted(ATTACKS))
@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 100_000), touched=st.sets(st.integers(0, 5), min_size=1, max_size=5))
def test_every_attack_leaves_the_coordinates_it_may_not_touch_clean(name, seed, touched):
    """With ``features`` (the threat model's touchable coordinates) the others of ô equal o."""
    torch.manual_seed(seed)
    agent = RNNAgent(6, 3, 5, hidden=8)
    obs, avail, _, _ = _inputs(seed)
    attack = _attack(name, seed)
    low, high = limits("none", obs[0, 0] * 0 - 1, obs[0, 0] * 0 + 1)
    x = call(attack, agent, obs, torch.randn(4, 3, 8), avail, 0.3, low, high, torch.randn(4, INFO.state_dim),
             features=tuple(sorted(touched)))
    frozen = [i for i in range(6) if i not in touched]
    assert torch.equal(x[..., frozen], obs[..., frozen])
    assert ((x - obs).abs() <= 0.3 + 1e-6).all()


def test_feature_specs_parse_print_and_check_their_range():
    from robench.threat import feature_mask, feature_spec, parse_features

    assert parse_features("0:4,10, 12:14") == (0, 1, 2, 3, 10, 12, 13)
    assert feature_spec((0, 1, 2, 3, 10, 12, 13)) == "0:4,10,12:14"
    for bad in ("4:3", "a", "", "-1"):
        with pytest.raises(RobenchError):
            parse_features(bad)
    with pytest.raises(RobenchError, match="reach past"):
        feature_mask((0, 30), 30)
    assert ThreatModel(eps=0.1, features=(0, 1)).label() == "L∞ ε=0.1, bounds=none, features=0:2"


def test_a_features_grid_keeps_its_own_cells_and_columns(tmp_path):
    from robench.grid import GridSpec, plan
    from robench.tables import variant_rows
    from test_grid import make_zoo

    zoo = make_zoo(tmp_path / "zoo", n=1)
    full, _ = plan(GridSpec(eps=[0.25], attacks=["fgsm"], checkpoints=zoo, episodes=4))
    part, _ = plan(GridSpec(eps=[0.25], attacks=["fgsm"], checkpoints=zoo, episodes=4,
                            threat=ThreatModel(features=(0, 1, 2, 3))))
    assert {c.cid for c in full}.isdisjoint({c.cid for c in part})
    fgsm = next(c for c in part if c.meta["attack"] == "fgsm")
    assert fgsm.meta["threat"]["features"] == [0, 1, 2, 3]
    import pandas as pd

    rows = variant_rows(pd.DataFrame([{"attack": "fgsm", "features": [0, 1, 2, 3], "defense": "noadv", "variant": ""}]))
    assert rows.attack.tolist() == ["fgsm[features=0:4]"]


def test_no_clipping_lets_noise_cross_a_feature_bound_that_features_clipping_keeps():
    obs, avail, low, high = _inputs(3, b=64)
    agent = RNNAgent(6, 3, 5, hidden=8)
    attack = make_attack("random", seed=0)
    clipped = call(attack, agent, obs, torch.zeros(64, 3, 8), avail, 0.2, *limits("features", low, high))
    free = call(attack, agent, obs, torch.zeros(64, 3, 8), avail, 0.2, *limits("none", low, high))
    assert (clipped >= low).all() and (clipped <= high).all()
    outside = (free < low) | (free > high)
    assert 0.3 < outside.float().mean() < 0.7  # obs on an edge: about half of the noise points outward


def test_limits_of_each_mode():
    low, high = torch.tensor([0.0, -1.0]), torch.tensor([1.0, 1.0])
    assert torch.equal(limits("features", low, high)[0], low)
    assert torch.equal(limits("box", low, high)[0], torch.tensor([-1.0, -1.0]))
    lo, hi = limits("none", low, high)
    assert torch.isinf(lo).all() and (lo < 0).all() and torch.isinf(hi).all() and (hi > 0).all()
    with pytest.raises(RobenchError, match="bounds must be one of"):
        limits("clip", low, high)


def test_threat_model_record_and_presets():
    tm = ThreatModel(eps=0.25, bounds="none", attacked_agents=(0, 2))
    assert json.loads(json.dumps(tm.to_dict())) == {"eps": 0.25, "bounds": "none", "attacked_agents": [0, 2],
                                                    "features": None, "norm": "linf"}
    assert ThreatModel(eps=0.1, features=(0, 3)).to_dict()["features"] == [0, 3]
    assert tm.label() == "L∞ ε=0.25, bounds=none, M={0,2}"
    assert resolve_bounds(None, "paper") == "none" and resolve_bounds("box", "paper") == "box"
    assert bounds_of({}) == "features" and bounds_of({"threat": {"bounds": "box"}}) == "box"
    with pytest.raises(RobenchError):
        ThreatModel(eps=1.5)


def test_regime_warmup_schedule_and_validation():
    r = Regime(eps_warmup=0.5)
    assert [r.warmup(p) for p in (0.0, 0.25, 0.5, 0.9)] == [0.0, 0.5, 1.0, 1.0]
    assert Regime().warmup(0.0) == 1.0
    assert Regime().with_overrides({"attack_prob": 0.5, "replay": None}) == Regime(attack_prob=0.5)
    for bad in ({"attack_prob": 1.5}, {"replay": "both"}, {"attack_unit": "agent"}, {"eps_warmup": -0.1}):
        with pytest.raises(RobenchError):
            Regime(**bad)
    with pytest.raises(RobenchError, match="no regime setting"):
        Regime().with_overrides({"warmup": 0.1})
    assert regime_of({}) == Regime() and regime_of({"regime": {"attack_prob": 0.5}}) == Regime(attack_prob=0.5)


def test_eps_draw_fixed_draws_nothing_and_uniform_covers_the_radii_up_to_eps():
    g = torch.Generator().manual_seed(0)
    state = g.get_state()
    assert Regime().draw(0.25, g) == 0.25 and torch.equal(g.get_state(), state)
    radii = torch.tensor([Regime(eps_draw="uniform").draw(0.25, g) for _ in range(4000)])
    assert (radii > 0).all() and (radii <= 0.25).all()
    assert abs(radii.mean().item() - 0.125) < 4 * 0.25 / math.sqrt(12 * 4000)
    assert (radii < 0.05).any() and (radii > 0.2).any()
    with pytest.raises(RobenchError):
        Regime(eps_draw="normal")


def test_a_setting_at_its_added_value_leaves_the_protocol_label_as_it_was():
    """Runs recorded before ``eps_draw`` existed keep their label; a uniform draw is told apart."""
    from robench.rows import protocol_label

    before = {"attack_prob": 0.5, "attack_unit": "episode", "eps_warmup": 0.0, "replay": "perturbed"}
    old = protocol_label("fgsm", "smac", 2_000_000, "none", before)
    assert protocol_label("fgsm", "smac", 2_000_000, "none", Regime(attack_prob=0.5).to_dict()) == old
    assert "eps_draw=uniform" in protocol_label("fgsm", "smac", 2_000_000, "none",
                                                Regime(attack_prob=0.5, eps_draw="uniform").to_dict())


def test_attack_coins_hit_the_share_and_draw_nothing_at_one():
    g = torch.Generator().manual_seed(0)
    state = g.get_state()
    assert attack_coins((7,), 1.0, g, torch.device("cpu")).all()
    assert torch.equal(g.get_state(), state)
    n = 20_000
    share = attack_coins((n,), 0.3, g, torch.device("cpu")).float().mean().item()
    assert abs(share - 0.3) < 4 * math.sqrt(0.3 * 0.7 / n)


@pytest.mark.parametrize("unit", ["episode", "step"])
def test_attack_prob_perturbs_the_stated_share_of_episodes_or_steps(env3m_factory, unit):
    env = env3m_factory(64)
    info = env.info()
    agent = RNNAgent(info.obs_dim, info.n_agents, info.n_actions)
    _, batch = run_episodes(env, agent, seed=1, attack=on(env, make_attack("random", seed=0)), eps=0.2, explore=1.0,
                            record=True, attack_prob=0.5, attack_unit=unit)
    attacked, mask = batch.extras["attacked"], batch.mask
    changed = (batch.obs[:, :-1] != batch.clean_obs[:, :-1]).any(-1).any(-1)  # [B, T]
    assert torch.equal(changed & mask, attacked & mask)  # the record says which steps saw ô
    per_episode = attacked.any(1).float()
    if unit == "episode":
        # one coin per episode: an episode is attacked at all its steps or at none
        assert torch.equal(attacked & mask, per_episode.bool().unsqueeze(1) & mask)
        share = per_episode.mean().item()
        assert abs(share - 0.5) < 4 * math.sqrt(0.25 / 64)
    else:
        share = (attacked & mask).sum().item() / mask.sum().item()
        assert abs(share - 0.5) < 4 * math.sqrt(0.25 / mask.sum().item())
        assert (per_episode == 1).all()  # every episode of ≥ a few steps is attacked somewhere


def test_replay_clean_stores_the_clean_stream(env3m_factory):
    env = env3m_factory(4)
    info = env.info()
    agent = RNNAgent(info.obs_dim, info.n_agents, info.n_actions)
    _, batch = run_episodes(env, agent, seed=1, attack=on(env, make_attack("random", seed=0)), eps=0.2, record=True)
    assert not torch.equal(batch.obs, batch.clean_obs)
    assert stored(batch, "perturbed").obs is batch.obs
    assert torch.equal(stored(batch, "clean").obs, batch.clean_obs)


def test_the_closing_observation_is_perturbed_too(env3m_factory):
    """A time-out bootstraps from the observation after the last step: it is perturbed like the others."""
    env = env3m_factory(4)
    info = env.info()
    agent = RNNAgent(info.obs_dim, info.n_agents, info.n_actions)
    _, batch = run_episodes(env, agent, seed=1, attack=on(env, make_attack("random", seed=0)), eps=0.2, record=True)
    last = batch.obs[:, -1] - batch.clean_obs[:, -1]
    assert (last.abs() <= 0.2 + 1e-6).all() and (last != 0).any(-1).any(-1).all()


def test_diagnose_counts_each_agent_step_once_and_the_scripted_policy_ignores_observations():
    from robench.diagnose import MaskOnlyPolicy, diagnose
    from robench.envs import make_env

    info = make_env("3m", 1).info()
    torch.manual_seed(0)
    d = diagnose(RNNAgent(info.obs_dim, info.n_agents, info.n_actions), "3m", episodes=16, seed=3)
    assert 0.0 < d.changed_share <= 1.0 and d.agent_steps > 0 and d.mask_only_win_rate is not None
    policy = MaskOnlyPolicy(info.obs_dim, info.n_agents, info.n_actions)
    scripted = diagnose(policy, "3m", episodes=16, seed=3)
    assert scripted.changed_share == 0.0  # constant utilities: no observation changes an action
    assert scripted.clean_win_rate == scripted.blind_win_rate == scripted.mask_only_win_rate
    assert d.fgsm_win_rate is None and d.footprint_eps is None  # no footprint check asked for


def test_footprint_check_is_fgsm_against_its_subset_at_bounds_none():
    """diagnose's footprint numbers are ``robench eval``'s fgsm and fgsm-support cells at ε, bounds
    none; on the zoo's FGSM-trained 3m VDN team the two differ (it answers the zero coordinates)."""
    from robench.checkpoint import load_protagonist
    from robench.diagnose import diagnose
    from robench.evaluate import evaluate

    agent, _, manifest = load_protagonist("checkpoints/3m/vdn_fgsm_s0")
    layout = manifest["env"]["obs_layout"]
    d = diagnose(agent, "3m", episodes=48, seed=2, obs_layout=layout, footprint_eps=0.25)
    got = {"fgsm": d.fgsm_win_rate, "fgsm-support": d.fgsm_support_win_rate}
    for attack in got:
        want = evaluate(agent, "3m", attack=attack, threat=ThreatModel(eps=0.25), episodes=48, seed=2, obs_layout=layout)
        assert got[attack] == want[0].win_rate
    assert got["fgsm"] > got["fgsm-support"]


def test_a_configuration_recorded_with_a_flat_eps_and_bounds_reads_into_its_threat_model():
    """Manifests and run files written before ``TrainConfig.threat`` hold ε and ``bounds`` flat;
    without a ``bounds`` a manifest's run was made under ``features``, a hand-written run file's
    under the default."""
    from robench.manifest import train_config_record
    from robench.run_config import from_dict, to_toml
    from robench.train import TrainConfig

    assert train_config_record({"steps": 5, "eps": 0.1, "bounds": "box"})["threat"] == ThreatModel(0.1, "box").to_dict()
    assert train_config_record({"eps": 0.2})["threat"]["bounds"] == "features"
    assert from_dict({"eps": 0.2}, "run.toml", absent_default=True).threat == ThreatModel(eps=0.2)
    cfg = TrainConfig(threat=ThreatModel(eps=0.2, bounds="box"))
    import tomllib

    assert from_dict(tomllib.loads(to_toml(cfg)), "run.toml").threat == cfg.threat
    with pytest.raises(RobenchError, match="threat.radius"):
        from_dict({"threat": {"radius": 0.2}}, "run.toml")


def test_an_attack_that_is_not_bound_refuses_to_perturb():
    agent = RNNAgent(6, 3, 5, hidden=8)
    obs, avail, _, _ = _inputs(0)
    with pytest.raises(RobenchError, match="not bound to a threat model"):
        make_attack("fgsm")(agent, obs, torch.zeros(4, 3, 8), avail, 0.1)
