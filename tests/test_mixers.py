import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from robench.learners.mixers import QMixer, VDNMixer, make_mixer


def test_vdn_is_the_sum():
    qs = torch.randn(4, 7, 3)
    assert torch.allclose(VDNMixer()(qs, torch.randn(4, 7, 10)), qs.sum(-1))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 6))
def test_qmix_is_monotone_in_every_agent(seed, n):
    torch.manual_seed(seed)
    mixer = QMixer(n_agents=n, state_dim=9)
    qs = torch.randn(5, 4, n, requires_grad=True)
    q_tot = mixer(qs, torch.randn(5, 4, 9))
    assert q_tot.shape == (5, 4)
    (grad,) = torch.autograd.grad(q_tot.sum(), qs)
    assert (grad >= 0).all()


def test_qmix_depends_on_state():
    torch.manual_seed(0)
    mixer = QMixer(3, 8)
    qs = torch.randn(2, 3)
    assert not torch.allclose(mixer(qs, torch.zeros(2, 8)), mixer(qs, torch.ones(2, 8)))


def test_unknown_mixer():
    import pytest

    with pytest.raises(KeyError, match="unknown learner"):
        make_mixer("coma", 3, 4)
