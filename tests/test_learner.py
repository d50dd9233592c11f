import pytest
import torch

from robench.learners.buffer import EpisodeBatch, ReplayBuffer
from robench.learners.learner import LearnerConfig, QLearner, lambda_returns


def test_lambda_zero_is_one_step_target():
    r = torch.tensor([[1.0, 2.0, 3.0]])
    term = torch.tensor([[False, False, True]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    v = torch.tensor([[10.0, 20.0, 30.0, 40.0]])
    y = lambda_returns(r, term, mask, v, gamma=0.5, lam=0.0)
    assert torch.allclose(y, torch.tensor([[1 + 0.5 * 20, 2 + 0.5 * 30, 3.0]]))


def test_lambda_one_is_monte_carlo_for_terminated_episode():
    r = torch.tensor([[1.0, 2.0, 3.0, 0.0]])
    term = torch.tensor([[False, False, True, False]])
    mask = torch.tensor([[True, True, True, False]])
    v = torch.full((1, 5), 99.0)
    y = lambda_returns(r, term, mask, v, gamma=0.9, lam=1.0)
    assert torch.allclose(y[0, :3], torch.tensor([1 + 0.9 * 2 + 0.81 * 3, 2 + 0.9 * 3, 3.0]))


def test_time_out_bootstraps_from_value():
    # episode of 2 steps cut by the time limit: no termination, λ-return bootstraps at step 2
    r = torch.tensor([[1.0, 1.0]])
    term = torch.zeros(1, 2, dtype=torch.bool)
    mask = torch.ones(1, 2, dtype=torch.bool)
    v = torch.tensor([[0.0, 5.0, 7.0]])
    y = lambda_returns(r, term, mask, v, gamma=1.0, lam=0.5)
    last = 1 + 7.0
    assert torch.allclose(y, torch.tensor([[1 + 0.5 * 5 + 0.5 * last, last]]))


def _random_batch(b=6, t=5, n=3, d=6, s=4, a=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, t + 1, (b,), generator=g)
    mask = torch.arange(t).unsqueeze(0) < lengths.unsqueeze(1)
    obs = torch.rand(b, t + 1, n, d, generator=g)
    return EpisodeBatch(obs=obs, clean_obs=obs.clone(), state=torch.rand(b, t + 1, s, generator=g),
                        avail=torch.ones(b, t + 1, n, a, dtype=torch.bool),
                        actions=torch.randint(0, a, (b, t, n), generator=g), reward=torch.rand(b, t, generator=g),
                        terminated=mask & (torch.arange(t).unsqueeze(0) == lengths.unsqueeze(1) - 1), mask=mask)


def test_buffer_roundtrip_and_zero_padding():
    buf = ReplayBuffer(capacity=4, max_steps=5, n_agents=3, obs_dim=6, state_dim=4, n_actions=5)
    batch = _random_batch(b=3)
    buf.insert(batch)
    assert len(buf) == 3
    assert torch.equal(buf.data.obs[:3, : batch.steps + 1], batch.obs)
    buf.insert(_random_batch(b=3, seed=1))  # wraps around: slots 3, 0, 1
    assert len(buf) == 4 and buf.next == 2
    sample = buf.sample(8, torch.Generator().manual_seed(0))
    assert sample.obs.shape[0] == 8 and sample.steps <= 5
    assert sample.mask.any(1).all()  # no empty slot is ever sampled
    assert (sample.mask[:, 1:] <= sample.mask[:, :-1]).all()  # masks are prefixes


def test_training_reduces_td_loss_on_a_fixed_batch():
    for mixer in ("vdn", "qmix"):
        torch.manual_seed(0)
        learner = QLearner(LearnerConfig(mixer=mixer, hidden=16, lr=1e-3), obs_dim=6, n_agents=3, n_actions=5,
                           state_dim=4)
        batch = _random_batch()
        first = learner.train(batch)["td_loss"]
        for _ in range(60):
            last = learner.train(batch)["td_loss"]
        assert last < 0.5 * first, (mixer, first, last)


def test_reward_scale_multiplies_the_reward_in_the_target_only():
    from dataclasses import replace

    def first_step(scale: float, reward_factor: float) -> dict[str, float]:
        torch.manual_seed(0)
        learner = QLearner(LearnerConfig(hidden=16, reward_scale=scale), obs_dim=6, n_agents=3, n_actions=5,
                           state_dim=4)
        batch = _random_batch()
        return learner.train(replace(batch, reward=batch.reward * reward_factor))

    scaled, by_hand, plain = first_step(10.0, 1.0), first_step(1.0, 10.0), first_step(1.0, 1.0)
    assert scaled["td_loss"] == pytest.approx(by_hand["td_loss"], rel=1e-6)
    assert scaled["q_taken"] == pytest.approx(plain["q_taken"], rel=1e-6)  # Q itself is untouched
    assert scaled["td_loss"] != pytest.approx(plain["td_loss"], rel=1e-3)


def test_target_update_period():
    learner = QLearner(LearnerConfig(target_update_episodes=200, hidden=8), 4, 2, 3, 5)
    with torch.no_grad():
        learner.agent.fc2.bias.add_(1.0)
    assert not learner.maybe_update_targets(199)
    assert not torch.equal(learner.agent.fc2.bias, learner.target_agent.fc2.bias)
    assert learner.maybe_update_targets(200)
    assert torch.equal(learner.agent.fc2.bias, learner.target_agent.fc2.bias)


def test_policy_ema_is_polyak_average_and_off_by_default():
    plain = QLearner(LearnerConfig(), obs_dim=6, n_agents=3, n_actions=5, state_dim=4)
    assert plain.policy_agent is plain.agent and plain.policy_mixer is plain.mixer
    beta = 0.9
    ql = QLearner(LearnerConfig(mixer="qmix", policy_ema=beta), obs_dim=6, n_agents=3, n_actions=5, state_dim=4)

    def policy_params():
        return list(ql.policy_agent.parameters()) + list(ql.policy_mixer.parameters())

    ql.train(_random_batch())
    ema_before = [p.detach().clone() for p in policy_params()]
    online_before = [p.detach().clone() for p in ql.params]
    ql.train(_random_batch(seed=1))
    for e0, e1, w0, w1 in zip(ema_before, policy_params(), online_before, ql.params):
        assert torch.allclose(e1, beta * e0 + (1 - beta) * w1, atol=1e-6)  # θ̄ ← βθ̄ + (1−β)θ
    assert any(not torch.equal(w0, w1) for w0, w1 in zip(online_before, ql.params))
    assert any(not torch.equal(e, w) for e, w in zip(policy_params(), ql.params))  # θ̄ lags θ
