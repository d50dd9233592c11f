import torch

from robench.learners.agent import greedy


def test_step_matches_unroll(toy_agent):
    obs = torch.rand(2, 4, 3, 6)
    q_seq = toy_agent.unroll(obs)
    h = toy_agent.init_hidden(2)
    for t in range(4):
        q, h = toy_agent.step(obs[:, t], h)
        assert torch.allclose(q, q_seq[:, t], atol=1e-5)


def test_greedy_respects_availability():
    q = torch.tensor([[[5.0, 1.0, 3.0]]])
    avail = torch.tensor([[[False, True, True]]])
    assert greedy(q, avail).item() == 2
