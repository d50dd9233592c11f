"""The math of the regularised defenses (PR, PR-REP, ERNIE) on toy Q networks."""
from __future__ import annotations

import pytest
import torch

from defenses import DEFENSES, DefenseConfig
from defenses.ernie import q_distance
from defenses.pr import hinge_margin, margin, policy_kl
from attacks.base import objective_grad, project, signed_steps, uniform_start
from defenses.regularised import perturbed_q, sawtooth
from robench.envs import EnvInfo
from robench.learners.buffer import EpisodeBatch
from robench.learners.learner import LearnerConfig, LossContext, QLearner
from robench.threat import ThreatModel

INFO = EnvInfo(n_agents=3, obs_dim=6, state_dim=4, n_actions=5, episode_limit=10, map_name="toy", backend="none")
LOW, HIGH = torch.zeros(6), torch.ones(6)


def test_hinge_margin_values_and_signs():
    q = torch.tensor([[1.0, 3.0, 2.0], [1.0, 3.0, 2.0], [0.0, 0.5, 5.0], [1.0, 3.0, 2.0]])
    best = torch.tensor([0, 1, 2, 0])
    avail = torch.tensor([[True] * 3, [True] * 3, [True] * 3, [True, False, True]])
    # a* = 0: runner-up 3 → +2 (a* is not greedy on ô: positive margin); a* = 1 greedy by 1 → −1;
    # a* = 2 greedy by 4.5 → clipped at −1; action 1 unavailable → runner-up 2 → +1
    assert torch.allclose(hinge_margin(q, best, avail), torch.tensor([2.0, -1.0, -1.0, 1.0]))
    q2 = torch.tensor([[1.0, 1.5, 0.0]])
    assert torch.allclose(hinge_margin(q2, torch.tensor([1]), torch.ones(1, 3, dtype=torch.bool)), torch.tensor([-0.5]))


def test_policy_kl_is_zero_on_equal_and_positive_otherwise():
    avail = torch.ones(2, 4, dtype=torch.bool)
    q = torch.randn(2, 4)
    assert torch.allclose(policy_kl(q, q, avail), torch.zeros(2), atol=1e-6)
    assert (policy_kl(q, q + torch.tensor([3.0, 0, 0, 0]), avail) > 0).all()


def test_ernie_distance_is_l2_not_squared():
    a = torch.tensor([[3.0, 4.0, 0.0]])
    assert torch.allclose(q_distance(a, torch.zeros(1, 3)), torch.tensor([5.0]))


def _context(b: int = 5, t: int = 4):
    torch.manual_seed(0)
    learner = QLearner(LearnerConfig(hidden=16), INFO.obs_dim, INFO.n_agents, INFO.n_actions, INFO.state_dim)
    g = torch.Generator().manual_seed(1)
    obs = torch.rand(b, t + 1, 3, 6, generator=g) * 0.8 + 0.1
    batch = EpisodeBatch(obs=obs, state=torch.rand(b, t + 1, 4, generator=g),
                         avail=torch.ones(b, t + 1, 3, 5, dtype=torch.bool),
                         actions=torch.randint(5, (b, t, 3), generator=g), reward=torch.rand(b, t, generator=g),
                         terminated=torch.zeros(b, t, dtype=torch.bool), mask=torch.ones(b, t, dtype=torch.bool))
    q, context = learner.agent.unroll_with_context(batch.obs, batch.actions)
    return learner, LossContext(learner, batch, q, context.detach(), 0.5, g)


@pytest.mark.parametrize("recurrent", ["fixed", "unroll"])
def test_perturbed_q_at_the_clean_obs_is_the_clean_q(recurrent):
    learner, ctx = _context()
    clean = ctx.batch.obs[:, :-1]
    assert torch.allclose(perturbed_q(learner.agent, clean, ctx, recurrent), ctx.q[:, :-1], atol=1e-5)


@pytest.mark.parametrize("eps", [0.05, 0.3])
def test_pr_inner_pgd_stays_in_ball_and_bounds_and_raises_the_margin(eps):
    learner, ctx = _context()
    obs, avail = ctx.batch.obs[:, :-1], ctx.batch.avail[:, :-1]
    best = ctx.q[:, :-1].detach().argmax(-1)

    def total(x):
        return margin(perturbed_q(learner.agent, x, ctx, "fixed"), best, avail).sum()

    start = uniform_start(obs, eps, torch.Generator().manual_seed(0))
    x = signed_steps(objective_grad(total), start, obs, eps, LOW, HIGH, 5, eps / 5)
    assert ((x - obs).abs() <= eps + 1e-6).all() and (x >= LOW).all() and (x <= HIGH).all()
    assert total(x) > total(project(start, obs, eps, LOW, HIGH))
    assert total(x) > total(obs)


def test_pr_pgd_moves_rows_far_below_the_hinge_floor():
    """The hinge is flat below −1; the PGD ascends the unclipped margin, so a row whose clean
    margin is −2 still moves (and its margin rises)."""
    q = torch.nn.Linear(2, 3)
    with torch.no_grad():
        q.weight.copy_(torch.tensor([[4.0, 0.0], [0.0, 0.0], [0.0, 0.0]]))
        q.bias.zero_()
    obs = torch.tensor([[0.5, 0.5]])
    best, avail = torch.tensor([0]), torch.ones(1, 3, dtype=torch.bool)
    assert float(margin(q(obs), best, avail).detach()) == pytest.approx(-2.0)

    def total(x):
        return margin(q(x), best, avail).sum()

    x = signed_steps(objective_grad(total), obs, obs, 0.2, torch.zeros(2), torch.ones(2), 5, 0.04)
    assert float(total(x)) == pytest.approx(-2.0 + 4 * 0.2)


def test_ernie_ascent_step_increases_the_distance():
    learner, ctx = _context()
    obs = ctx.batch.obs[:, :-1]
    target = ctx.q[:, :-1].detach()

    def distance(x):
        return q_distance(perturbed_q(learner.agent, x, ctx, "fixed"), target).sum()

    x0 = obs + 1e-3 * torch.randn(obs.shape, generator=torch.Generator().manual_seed(0))
    x = signed_steps(objective_grad(distance), x0, obs, 0.1, LOW, HIGH, 1, 0.1)
    assert distance(x) > distance(x0) and ((x - obs).abs() <= 0.1 + 1e-6).all()


def _defense(name: str, **options):
    learner = QLearner(LearnerConfig(hidden=16), INFO.obs_dim, INFO.n_agents, INFO.n_actions, INFO.state_dim)
    cfg = DefenseConfig(threat=ThreatModel(eps=0.2, bounds="features").bind(LOW, HIGH, INFO.n_agents),
                        options=DEFENSES[name].config_for(learner.cfg.mixer, options))
    return DEFENSES[name](cfg, learner, INFO)


def test_pr_rep_sawtooth_three_teeth():
    d = _defense("pr-rep")
    tiny = 1e-9
    for start in (0.0, 1 / 3, 2 / 3):
        assert d.schedule(start)[0] == pytest.approx(0.0, abs=1e-6)  # 0 at each tooth's start
        assert d.schedule(start + 1 / 3 - tiny)[0] == pytest.approx(0.1, abs=1e-6)  # 0.1 at its end
        assert d.schedule(start + 1 / 6)[0] == pytest.approx(0.05, abs=1e-6)  # linear in between
    assert d.schedule(1.0)[0] == pytest.approx(0.1)
    assert d.schedule(0.5)[1] == 0.2  # ε constant by default ...
    assert _defense("pr-rep", ramp_eps=True).schedule(0.5)[1] == pytest.approx(0.1)  # ... or on the teeth
    assert sawtooth(0.25) == pytest.approx(0.75)


def test_pr_eps_ramp_and_constant_mu():
    d = _defense("pr", eps_ramp=0.5)
    assert d.schedule(0.0) == (0.1, 0.0) and d.schedule(0.25) == (0.1, pytest.approx(0.1)) and d.schedule(0.9) == (0.1, 0.2)


ALWAYS = {"reg_prob": 1.0}


@pytest.mark.parametrize("name,options", [("pr", ALWAYS), ("pr", {"loss": "kl", **ALWAYS}),
                                          ("pr", {"recurrent": "unroll", **ALWAYS}), ("pr-rep", ALWAYS),
                                          ("ernie", {}), ("ernie", {"projected": False})])
def test_regulariser_term_is_finite_and_has_gradient(name, options):
    d = _defense(name, **options)
    learner = d.learner
    _, ctx = _context()
    q, context = learner.agent.unroll_with_context(ctx.batch.obs, ctx.batch.actions)
    ctx = LossContext(learner, ctx.batch, q, context.detach(), 0.9, torch.Generator().manual_seed(0))
    loss = d.regulariser(ctx)
    assert torch.isfinite(loss) and loss.requires_grad
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in learner.agent.parameters())


def test_reg_prob_pays_the_term_at_a_fraction_p_of_the_steps_weighted_one_over_p():
    """With ``reg_prob`` = p the regulariser is 0 or weight/p · term — never anything else — and
    non-zero at a fraction ≈ p of the steps (so its mean is weight · term)."""
    _, base = _context()
    full = _defense("pr", reg_prob=1.0, batch_frac=1.0)
    sparse = _defense("pr", reg_prob=0.25, batch_frac=1.0)
    sparse.learner.agent.load_state_dict(full.learner.agent.state_dict())

    def value(d, seed):
        q, context = d.learner.agent.unroll_with_context(base.batch.obs, base.batch.actions)
        ctx = LossContext(d.learner, base.batch, q, context.detach(), 0.5, torch.Generator().manual_seed(seed))
        return d.regulariser(ctx).item()

    paid = [value(sparse, s) for s in range(200)]
    on = [v for v in paid if v != 0.0]
    assert 0.15 < len(on) / len(paid) < 0.35
    # the random start differs per seed, the term's value barely: each paid step is ≈ 4 × the full term
    full_value = value(full, 0)
    assert all(v == pytest.approx(4 * full_value, rel=0.05) for v in on)


def test_reg_start_keeps_the_regulariser_off_then_ramps_eps_from_there():
    """SA-DQN's ``schedule_start``: weight and ε are 0 before ``reg_start``; ``eps_ramp`` counts from it."""
    d = _defense("pr", reg_start=0.25, eps_ramp=0.5)
    assert d.schedule(0.0) == (0.0, 0.0) and d.schedule(0.2499) == (0.0, 0.0)
    assert d.schedule(0.25) == (0.1, 0.0)
    assert d.schedule(0.5) == (0.1, pytest.approx(0.1)) and d.schedule(0.75) == (0.1, pytest.approx(0.2))
    assert _defense("pr", reg_start=0.5).schedule(0.6) == (0.1, 0.2)


@pytest.mark.parametrize("name", ["pr", "pr-rep"])
def test_pr_defaults_to_the_kl_form_on_qmix_only(name):
    cls = DEFENSES[name]
    assert cls.config_for("vdn").loss == "hinge"
    assert cls.config_for("qmix").loss == "kl"
    assert cls.config_for("qmix", {"loss": "hinge"}).loss == "hinge"  # the option still wins
    assert DEFENSES["atsa"].config_for("qmix").kappa == 0.01 and DEFENSES["atsa"].config_for("vdn").kappa == 0.005
