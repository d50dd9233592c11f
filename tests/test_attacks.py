"""The ε-budget invariant, for every registered attack, as a property test."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attacks import ATTACKS, make_attack, project
from robench.learners.agent import RNNAgent, masked_logits


def _inputs(seed, b=4, n=3, d=6, a=5):
    g = torch.Generator().manual_seed(seed)
    low = -torch.rand(d, generator=g) * (torch.rand(d, generator=g) > 0.5)
    high = low + 0.2 + torch.rand(d, generator=g)
    obs = low + (high - low) * torch.rand(b, n, d, generator=g)
    avail = torch.rand(b, n, a, generator=g) > 0.3
    avail[..., 0] = True
    return obs, avail, low, high


@pytest.mark.parametrize("name", sorted(ATTACKS))
@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 100_000), eps=st.floats(0.0, 1.0))
def test_budget_invariant(name, seed, eps):
    torch.manual_seed(seed)
    agent = RNNAgent(6, 3, 5, hidden=8)
    obs, avail, low, high = _inputs(seed)
    hidden = torch.randn(4, 3, 8)
    x = make_attack(name, seed=seed)(agent, obs, hidden, avail, eps, low, high)
    assert x.shape == obs.shape
    assert ((x - obs).abs() <= eps + 1e-6).all()
    assert (x >= low - 1e-6).all() and (x <= high + 1e-6).all()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 100_000), eps=st.floats(0.0, 2.0))
def test_project_is_idempotent_and_in_budget(seed, eps):
    obs, _, low, high = _inputs(seed)
    x = obs + torch.randn(obs.shape, generator=torch.Generator().manual_seed(seed)) * 3
    p = project(x, obs, eps, low, high)
    assert torch.equal(project(p, obs, eps, low, high), p)
    assert ((p - obs).abs() <= eps + 1e-6).all()


def test_attacked_agent_subset_leaves_others_clean():
    agent = RNNAgent(6, 3, 5, hidden=8)
    obs, avail, low, high = _inputs(1)
    mask = torch.tensor([True, False, True])
    x = make_attack("random", seed=0, attacked_agents=mask)(agent, obs, torch.zeros(4, 3, 8), avail, 0.3, low, high)
    assert torch.equal(x[:, 1], obs[:, 1]) and not torch.equal(x[:, 0], obs[:, 0])


def test_fgsm_lowers_the_clean_actions_probability_on_a_linear_agent():
    """With a linear utility net (no hidden nonlinearity reachable), one signed step against the
    clean action's cross-entropy gradient must lower that action's probability."""
    torch.manual_seed(0)
    agent = RNNAgent(6, 3, 5, hidden=8)
    obs, avail, low, high = _inputs(2, b=64)
    low, high = low - 10, high + 10  # bounds far away: the step is not clipped
    h = torch.zeros(64, 3, 8)
    q, _ = agent.step(obs, h)
    a_star = masked_logits(q, avail).argmax(-1)
    p_clean = torch.softmax(masked_logits(q, avail), -1).gather(-1, a_star.unsqueeze(-1))
    x = make_attack("fgsm")(agent, obs, h, avail, 1e-3, low, high)
    q_adv, _ = agent.step(x, h)
    p_adv = torch.softmax(masked_logits(q_adv, avail), -1).gather(-1, a_star.unsqueeze(-1))
    assert (p_adv <= p_clean + 1e-7).float().mean() > 0.95


def test_unknown_attack():
    with pytest.raises(KeyError, match="unknown attack"):
        make_attack("carlini")
