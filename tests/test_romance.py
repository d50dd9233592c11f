"""ROMANCE: the hijack budget and override, the sparse soft-Q attackers, the QD archive, and a
ROMANCE-p generation end to end (pretrained start, archive saved as an adversary)."""
from __future__ import annotations

import math

import pytest
import torch

from attacks.hijack import HijackAttack, lowest_q_actions
from attacks.qd_archive import Entry, QDArchive, behaviour_distance
from attacks.romance import Romance, RomanceConfig, RomanceSteered, StackedMLP
from robench.envs import EnvInfo
from robench.learners.agent import make_agent
from robench.rollout import run_episodes
from robench.threat import ThreatModel
from threats import on

INFO = EnvInfo(n_agents=3, obs_dim=6, state_dim=4, n_actions=5, episode_limit=10, map_name="toy", backend="none")


class Greedy(HijackAttack):
    """Always asks to hijack the agent given by ``wish`` [B] (0 = nobody, i + 1 = agent i)."""

    def __init__(self, wish: torch.Tensor, attack_num: int):
        super().__init__(3, attack_num)
        self.wish = wish

    def choose(self, state, left):
        return self.wish


def test_hijacked_agent_executes_its_lowest_q_available_action():
    q = torch.tensor([[[1.0, -5.0, 3.0, -9.0], [0.0, 2.0, -1.0, 4.0], [7.0, 6.0, 5.0, 8.0]]])  # [1, 3, 4]
    avail = torch.tensor([[[True, True, True, False], [True, True, True, True], [True, True, False, True]]])
    assert lowest_q_actions(q, avail).tolist() == [[1, 2, 1]]  # agent 0's −9 is unavailable
    chosen = torch.tensor([[2, 3, 0]])
    attack = Greedy(torch.tensor([2]), attack_num=2)  # hijack agent 1
    attack.reset(1)
    out = attack.override(q, chosen, avail, torch.zeros(1, 4), torch.tensor([True]))
    assert out.tolist() == [[2, 2, 0]]  # only agent 1 changed, to its argmin −1 (action 2)


def test_budget_is_never_exceeded_and_finished_copies_are_not_charged():
    b, num = 4, 2
    attack = Greedy(torch.tensor([1, 2, 3, 0]), attack_num=num)
    attack.reset(b)
    q, avail = torch.randn(b, 3, 5), torch.ones(b, 3, 5, dtype=torch.bool)
    chosen = q.argmax(-1)
    active = torch.tensor([True, True, False, True])
    for _ in range(5):
        out = attack.override(q, chosen, avail, torch.zeros(b, 4), active)
    assert attack.hijack_counts().tolist() == [num, num, 0, 0]
    assert torch.equal(out, chosen)  # budget spent: the last step changed nothing
    assert [int(opt[0]) for _, _, opt in attack.trace] == [1, 1, 0, 0, 0]


def test_romance_never_exceeds_its_budget_in_any_env_copy(env3m_factory):
    env = env3m_factory(8)
    info = env.info()
    victim = make_agent("rnn", info.obs_dim, info.n_agents, info.n_actions)
    attackers = Romance(info, torch.Generator().manual_seed(0), RomanceConfig(attack_num=3, delta=0.9))
    _, batch = run_episodes(env, victim, seed=1, attack=on(env, attackers), record=True)
    spent = attackers.hijack_counts()
    assert int(spent.max()) <= 3 and int(spent.sum()) > 0  # δ = 0.9: it wants to hijack often
    assert torch.equal(batch.obs, batch.clean_obs)  # an action attack never touches observations
    # the recorded actions are the executed ones: a hijacked agent's is its lowest-Q available action
    option = torch.stack([opt for _, _, opt in attackers.trace], 1)  # [B, T]
    hijacked = (option.unsqueeze(-1) == torch.arange(1, info.n_agents + 1)) & batch.mask.unsqueeze(-1)
    q = victim.unroll(batch.obs)[:, :-1]
    worst = q.masked_fill(~batch.avail[:, :-1], float("inf")).argmin(-1)
    assert bool(hijacked.any()) and torch.equal(batch.actions[hijacked], worst[hijacked])
    assert torch.equal(batch.actions[~hijacked & batch.mask.unsqueeze(-1)],
                       batch.extras["greedy_actions"][~hijacked & batch.mask.unsqueeze(-1)])
    # transitions: x_{t+1} = [s_{t+1}, ℓ_t − 1[c_t > 0]]
    tr = attackers.transitions(batch)
    assert torch.equal(tr["next_x"][:, :-1], batch.state[:, 1:][batch.mask])
    spent_now = (tr["option"] > 0).float() / attackers.attack_num
    assert torch.allclose(tr["next_x"][:, -1], tr["x"][:, -1] - spent_now)


def test_only_agents_of_the_attacked_set_are_hijacked():
    attack = Greedy(torch.tensor([1, 2, 3]), attack_num=5)
    attack.bind(ThreatModel(attacked_agents=(1,)).bind(torch.zeros(4), torch.ones(4), 3))
    attack.reset(3)
    q, avail = torch.randn(3, 3, 5), torch.ones(3, 3, 5, dtype=torch.bool)
    chosen = q.argmax(-1)
    out = attack.override(q, chosen, avail, torch.zeros(3, 4), torch.ones(3, dtype=torch.bool))
    assert attack.hijack_counts().tolist() == [0, 1, 0]
    assert torch.equal(out[0], chosen[0]) and torch.equal(out[2], chosen[2])


def test_soft_value_is_q_when_options_agree_and_q_none_when_budget_is_spent():
    attackers = Romance(INFO, cfg=RomanceConfig())
    q = torch.full((2, 4), 1.5)
    q[1] = torch.tensor([0.2, 9.0, 9.0, 9.0])
    x = torch.zeros(2, 5)
    x[0, -1] = 1.0  # budget left; x[1] has none
    v = attackers.soft_value(q, x)
    assert v[0].item() == pytest.approx(1.5, abs=1e-5)  # λ·log Σ p_ref e^{Q/λ} = Q when Q is constant
    assert v[1].item() == pytest.approx(0.2, abs=1e-6)  # only "nobody" is left
    pi = attackers.policy(q, x[:, -1])
    assert torch.allclose(pi.sum(-1), torch.ones(2)) and pi[1].tolist() == [1.0, 0.0, 0.0, 0.0]
    # the sparse prior: with equal Q, "nobody" carries 1 − δ, smoothed by b: 0.95·(1 − 4·0.02) + 0.02
    assert pi[0, 0].item() == pytest.approx(0.894, abs=1e-5)


def test_stacked_mlp_rows_match_member_major_and_members_round_trip():
    net = StackedMLP(3, 5, 8, 4, torch.Generator().manual_seed(0))
    x = torch.randn(1, 6, 5).expand(3, -1, -1)  # the same inputs for every member
    whole = net(x)
    rows = net(x.reshape(-1, 5), torch.arange(3).repeat_interleave(6)).reshape(3, 6, 4)
    assert torch.allclose(whole, rows, atol=1e-6)
    members = [net.member(2), net.member(0), net.fresh_member(torch.Generator().manual_seed(1))]
    net.set_members(members)
    assert torch.allclose(net(x)[1], whole[0], atol=1e-6)  # member 0 moved to slot 1


def test_attackers_learn_only_from_valid_steps_and_drive_their_td_error_down(env3m_factory):
    env = env3m_factory(8)
    info = env.info()
    victim = make_agent("rnn", info.obs_dim, info.n_agents, info.n_actions)
    attackers = Romance(info, torch.Generator().manual_seed(0), RomanceConfig(batch_size=64, updates_per_batch=1,
                                                                              diversity=0.0))
    _, batch = run_episodes(env, victim, seed=3, attack=on(env, attackers), record=True)
    attackers.remember(batch)
    assert attackers._written == int(batch.mask.sum())
    quality = attackers.member_quality(batch)  # 8 episodes over 4 members: −c_r·(their mean return)
    ret = -10 * (batch.reward * batch.mask).sum(1)
    assert torch.allclose(quality[1], ret[attackers.assignment == 1].mean())
    sample = {k: v[: attackers._written].unsqueeze(0).expand(attackers.net.k, -1, *v.shape[1:])
              for k, v in attackers.buffer.items()}
    before = attackers.loss(sample).item()
    for _ in range(60):
        loss = attackers.loss(sample)
        attackers.optimiser.zero_grad()
        loss.backward()
        attackers.optimiser.step()
    assert attackers.loss(sample).item() < before


def _dist(*probs: float) -> list[torch.Tensor]:
    return [torch.tensor([list(probs)])]  # a "member" whose policy on the one shared state is probs


def _policies(members):
    return torch.stack([m[0] for m in members])  # [M, S=1, C]


def test_archive_keeps_its_size_and_replaces_by_quality_and_diversity():
    archive = QDArchive(capacity=3)
    far = [_dist(0.97, 0.01, 0.01, 0.01), _dist(0.01, 0.97, 0.01, 0.01), _dist(0.01, 0.01, 0.97, 0.01),
           _dist(0.01, 0.01, 0.01, 0.97)]
    assert archive.update([Entry(far[0], -1.0), Entry(far[1], -2.0), Entry(far[2], -3.0)], _policies, 0.0) == \
        ["added"] * 3
    # a near copy of entry 0 (not new behaviour): replaces it only with better quality
    near = _dist(0.96, 0.02, 0.01, 0.01)
    assert archive.update([Entry(near, -5.0)], _policies, 0.0) == ["rejected"]
    assert archive.update([Entry(near, -0.5)], _policies, 0.0) == ["replaced 0"]
    assert archive.entries[0].quality == -0.5 and len(archive) == 3
    # new behaviour when full: appended, the oldest leaves (FIFO), size kept
    assert archive.update([Entry(far[3], -9.0)], _policies, 0.0) == ["added"]
    assert len(archive) == 3 and [e.quality for e in archive.entries] == [-2.0, -3.0, -9.0]


def test_behaviour_distance_is_kl_of_the_second_from_the_first():
    a = torch.tensor([[[0.5, 0.5]]])
    b = torch.tensor([[[0.9, 0.1]]])
    expected = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)
    assert behaviour_distance(a, b).item() == pytest.approx(expected, rel=1e-5)


def test_archive_selection_fills_with_fresh_attackers_and_prefers_quality():
    archive = QDArchive(capacity=15, fresh_start=0.0, fresh_end=0.0)
    fresh = lambda: _dist(0.25, 0.25, 0.25, 0.25)  # noqa: E731
    archive.entries = [Entry(_dist(1.0, 0, 0, 0), -1.0), Entry(_dist(0, 1.0, 0, 0), -100.0)]
    picked = archive.select(4, 0.0, torch.Generator().manual_seed(0), fresh)
    assert len(picked) == 4 and sum(float(m[0][0, 3]) == 0.25 for m in picked) == 2  # 2 entries + 2 fresh
    archive.entries += [Entry(_dist(0, 0, 1.0, 0), -100.0) for _ in range(3)]
    picked = archive.select(4, 0.0, torch.Generator().manual_seed(0), fresh)
    assert all(float(m[0][0, 0]) == 1.0 for m in picked)  # softmax(q/5): the best dominates


def test_romance_s_perturbs_only_the_steered_agent_within_eps_and_budget(env3m_factory):
    env = env3m_factory(8)
    info = env.info()
    victim = make_agent("rnn", info.obs_dim, info.n_agents, info.n_actions)
    attackers = RomanceSteered(info, torch.Generator().manual_seed(0), RomanceConfig(attack_num=4, delta=0.9))
    _, batch = run_episodes(env, victim, seed=2, attack=on(env, attackers), eps=0.2, record=True)
    option = torch.stack([opt for _, _, opt in attackers.trace], 1)  # [B, T]
    steered = option.unsqueeze(-1) == torch.arange(1, info.n_agents + 1)  # [B, T, N]
    moved = (batch.obs[:, :-1] - batch.clean_obs[:, :-1]).abs().amax(-1)  # [B, T, N]
    assert float(moved.max()) <= 0.2 + 1e-6 and bool(moved[steered].gt(0).any())
    assert float(moved[~steered].max()) == 0.0  # nobody else is touched
    assert int((option > 0).sum(1).max()) <= 4


def test_a_member_without_episodes_has_no_quality():
    attackers = Romance(INFO, torch.Generator().manual_seed(0), RomanceConfig(members=4))
    attackers.reset(2)  # fewer episodes than members
    from robench.learners.buffer import EpisodeBatch

    b, t = 2, 3
    batch = EpisodeBatch(obs=torch.zeros(b, t + 1, 3, 6), state=torch.zeros(b, t + 1, 4),
                         avail=torch.ones(b, t + 1, 3, 5, dtype=torch.bool), actions=torch.zeros(b, t, 3, dtype=torch.long),
                         reward=torch.ones(b, t), terminated=torch.zeros(b, t, dtype=torch.bool),
                         mask=torch.ones(b, t, dtype=torch.bool))
    quality = attackers.member_quality(batch)
    assert int(torch.isfinite(quality).sum()) == 2 and float(quality[torch.isfinite(quality)][0]) == -30.0
