import pytest
import torch

from robench.learners.agent import AGENTS, AgentStack, MLPAgent, greedy, make_agent


@pytest.mark.parametrize("kind", list(AGENTS))
def test_step_matches_unroll(kind):
    torch.manual_seed(0)
    agent = make_agent(kind, 6, 3, 5, hidden=16)
    obs = torch.rand(2, 4, 3, 6)
    q_seq = agent.unroll(obs)
    h = agent.init_hidden(2)
    for t in range(4):
        q, h = agent.step(obs[:, t], h)
        assert torch.allclose(q, q_seq[:, t], atol=1e-5)


def test_mlp_agent_has_no_memory():
    torch.manual_seed(0)
    agent = MLPAgent(6, 3, 5, hidden=16)
    obs = torch.rand(2, 4, 3, 6)
    q_seq = agent.unroll(obs)
    # Q at step t depends on o_t only: shuffling the past leaves it unchanged
    assert torch.allclose(agent.unroll(obs.flip(1))[:, 0], q_seq[:, -1], atol=1e-6)
    assert agent.init_hidden(2).shape == (2, 3, 0)
    with pytest.raises(KeyError, match="unknown agent network"):
        make_agent("transformer", 6, 3, 5)


def test_greedy_respects_availability():
    q = torch.tensor([[[5.0, 1.0, 3.0]]])
    avail = torch.tensor([[[False, True, True]]])
    assert greedy(q, avail).item() == 2


@pytest.mark.parametrize("kind", list(AGENTS))
def test_last_action_context_matches_unroll(kind):
    torch.manual_seed(1)
    agent = make_agent(kind, 6, 3, 5, hidden=16, last_action=True)
    obs = torch.rand(2, 5, 3, 6)
    actions = torch.randint(0, 5, (2, 4, 3))
    q_seq = agent.unroll(obs, actions)
    h = agent.init_hidden(2)
    assert h.shape == (2, 3, agent.memory + 5)
    for t in range(5):
        q, h = agent.step(obs[:, t], h)
        assert torch.allclose(q, q_seq[:, t], atol=1e-5)
        if t < 4:
            h = agent.record_actions(h, actions[:, t])
    # the previous action is an input: changing it changes the utilities
    other = agent.unroll(obs, (actions + 1) % 5)
    assert torch.allclose(other[:, 0], q_seq[:, 0]) and not torch.allclose(other[:, 1:], q_seq[:, 1:])


@pytest.mark.parametrize("kind", list(AGENTS))
@pytest.mark.parametrize("last_action", [False, True])
def test_agent_stack_step_equals_each_agents_own_step(kind, last_action):
    """K agents stepped as one batched call give each agent's own Q and context."""
    torch.manual_seed(0)
    agents = [make_agent(kind, 6, 3, 5, hidden=8, last_action=last_action) for _ in range(4)]
    stack = AgentStack(agents)
    obs, hidden = torch.rand(4, 7, 3, 6), stack.init_hidden(7)
    hidden = hidden + torch.rand_like(hidden)
    q, context = stack.step(obs, hidden)
    for k, agent in enumerate(agents):
        q_k, context_k = agent.step(obs[k], hidden[k])
        assert torch.allclose(q[k], q_k, atol=1e-6) and torch.allclose(context[k], context_k, atol=1e-6)
    with pytest.raises(ValueError):
        AgentStack([make_agent("rnn", 6, 3, 5), make_agent("mlp", 6, 3, 5)])
