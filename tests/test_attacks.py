"""The ε-budget invariant, for every registered attack, as a property test."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attacks import ATTACKS, make_attack, project
from attacks.targeted import targeted_step
from attacks.training import build
from robench.envs import EnvInfo
from robench.learners.agent import RNNAgent, masked_logits
from threats import call

INFO = EnvInfo(n_agents=3, obs_dim=6, state_dim=4, n_actions=5, episode_limit=10, map_name="toy", backend="smax")


def _attack(name, seed):
    """Any registered attack; learned ones at random initialisation."""
    if ATTACKS[name].learned:
        adv = build(name, INFO, seed)
        adv.reset(4)
        return make_attack(name, seed=seed, adversary=adv)
    return make_attack(name, seed=seed)


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
    state = torch.randn(4, INFO.state_dim)  # the rollout passes the global state (ROMANCE-s conditions on it)
    x = call(_attack(name, seed), agent, obs, hidden, avail, eps, low, high, state)
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
    x = call(make_attack("random", seed=0), agent, obs, torch.zeros(4, 3, 8), avail, 0.3, low, high, agents=(0, 2))
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
    x = call(make_attack("fgsm"), agent, obs, h, avail, 1e-3, low, high)
    q_adv, _ = agent.step(x, h)
    p_adv = torch.softmax(masked_logits(q_adv, avail), -1).gather(-1, a_star.unsqueeze(-1))
    assert (p_adv <= p_clean + 1e-7).float().mean() > 0.95


def test_pgd_ascends_the_clean_actions_cross_entropy_further_than_fgsm():
    """CE(π(·|ô), a*) summed over agents: PGD's ten projected steps from a random start reach a
    higher loss than FGSM's one step, and both more than the clean observation (a PGD that
    returned ``obs``, or stopped at its random start, would fail)."""
    import torch.nn.functional as F

    torch.manual_seed(1)
    agent = RNNAgent(6, 3, 5, hidden=32)
    obs, avail, low, high = _inputs(5, b=128)
    low, high = low - 10, high + 10
    h = torch.zeros(128, 3, 32)
    q, _ = agent.step(obs, h)
    a_star = masked_logits(q, avail).argmax(-1)

    def ce(x):
        qx, _ = agent.step(x, h)
        return float(F.cross_entropy(masked_logits(qx, avail).reshape(-1, 5), a_star.reshape(-1), reduction="sum").detach())

    eps = 0.3
    fgsm = call(make_attack("fgsm"), agent, obs, h, avail, eps, low, high)
    pgd = call(make_attack("pgd", seed=0), agent, obs, h, avail, eps, low, high)
    assert ce(pgd) >= ce(fgsm) > ce(obs)
    assert (pgd - obs).abs().max() <= eps + 1e-6


def _input_grad(agent, obs, h, avail_for_ce, a_star):
    """∇_o of Σ CE(softmax of Q over the actions in ``avail_for_ce``, a*), by hand."""
    import torch.nn.functional as F

    o = obs.clone().requires_grad_(True)
    q, _ = agent.step(o, h)
    logits = masked_logits(q, avail_for_ce).reshape(-1, q.shape[-1])
    F.cross_entropy(logits, a_star.reshape(-1), reduction="sum").backward()
    return o.grad


def _single_step_case(seed):
    """A small GRU agent, 64 scenes with unreachable bounds, and its clean greedy actions a*."""
    torch.manual_seed(seed)
    agent = RNNAgent(6, 3, 5, hidden=16)
    obs, avail, low, high = _inputs(seed + 4, b=64)
    h = torch.zeros(64, 3, 16)
    q, _ = agent.step(obs, h)
    return agent, obs, h, avail, low - 10, high + 10, masked_logits(q, avail).argmax(-1)


def test_fgsm_all_steps_along_the_cross_entropy_over_every_action():
    """``fgsm-all`` (the ATSA authors' FGSM): ε·sign of the gradient of the CE over the raw Q of all
    actions, towards the clean greedy action over the *available* ones; with unavailable actions
    present its step differs from ``fgsm``'s, with every action available it is ``fgsm``'s."""
    agent, obs, h, avail, low, high, a_star = _single_step_case(3)
    eps = 0.2
    want = obs + eps * _input_grad(agent, obs, h, torch.ones_like(avail), a_star).sign()
    x = call(make_attack("fgsm-all"), agent, obs, h, avail, eps, low, high)
    assert torch.allclose(x, want, atol=1e-6)
    assert not torch.allclose(x, call(make_attack("fgsm"), agent, obs, h, avail, eps, low, high))
    every = torch.ones_like(avail)
    assert torch.allclose(call(make_attack("fgsm-all"), agent, obs, h, every, eps, low, high),
                          call(make_attack("fgsm"), agent, obs, h, every, eps, low, high), atol=1e-6)


def test_fgsm_support_is_fgsm_on_the_nonzero_coordinates_only():
    """``fgsm-support``: ô = o + ε·sign(∇CE)·1[o ≠ 0] — FGSM's step where the clean observation is
    non-zero, coordinates reading exactly 0 left at 0."""
    agent, obs, h, avail, low, high, _ = _single_step_case(5)
    obs = torch.where(torch.rand(obs.shape, generator=torch.Generator().manual_seed(1)) < 0.4, 0.0, obs)
    q, _ = agent.step(obs, h)
    a_star = masked_logits(q, avail).argmax(-1)
    eps = 0.2
    fgsm = obs + eps * _input_grad(agent, obs, h, avail, a_star).sign()
    x = call(make_attack("fgsm-support"), agent, obs, h, avail, eps, low, high)
    zero = obs == 0
    assert zero.float().mean() > 0.3
    assert torch.equal(x[zero], obs[zero])
    assert torch.allclose(x[~zero], fgsm[~zero], atol=1e-6)


def test_zero_corners_moves_only_the_zero_coordinates_to_a_corner():
    """``zero-corners``: ô = o + ε·s·1[o = 0], s uniform on {−1, +1}; non-zero coordinates clean."""
    agent, obs, h, avail, low, high, _ = _single_step_case(6)
    obs = torch.where(torch.rand(obs.shape, generator=torch.Generator().manual_seed(2)) < 0.5, 0.0, obs)
    eps = 0.25
    x = call(make_attack("zero-corners", seed=3), agent, obs, h, avail, eps, low, high)
    zero = obs == 0
    assert torch.equal(x[~zero], obs[~zero])
    assert torch.allclose(x[zero].abs(), torch.full_like(x[zero], eps))
    assert 0.4 < (x[zero] > 0).float().mean() < 0.6


def test_fgsm_rs_takes_one_step_of_1_25_eps_from_a_uniform_start():
    """``fgsm-rs`` (Wong et al. 2020): Proj(x0 + 1.25ε·sign(∇CE(x0))) with x0 = o + U(−ε, ε)^D
    drawn from the attack's own generator; the result is not FGSM's vertex of the ball."""
    from attacks.base import uniform_start

    agent, obs, h, avail, low, high, a_star = _single_step_case(4)
    eps = 0.2
    x0 = uniform_start(obs, eps, torch.Generator().manual_seed(5))
    step = x0 + 1.25 * eps * _input_grad(agent, x0, h, avail, a_star).sign()
    want = project(step, obs, eps, low, high)
    x = call(make_attack("fgsm-rs", seed=5), agent, obs, h, avail, eps, low, high)
    assert torch.allclose(x, want, atol=1e-6)
    assert ((x - obs).abs() < eps - 1e-4).any(), "every coordinate at the ball's vertex: no random start"


def test_fgsm_training_builds_the_attack_it_is_given():
    """FGSM training's ``attack`` setting chooses the rollouts' attack (default: ``fgsm``)."""
    from defenses import DEFENSES
    from defenses.base import DefenseConfig
    from robench.learners.learner import LearnerConfig, QLearner
    from robench.threat import NO_THREAT

    learner = QLearner(LearnerConfig(), INFO.obs_dim, INFO.n_agents, INFO.n_actions, INFO.state_dim)
    for given, name in (({}, "fgsm"), ({"attack": "fgsm-rs"}, "fgsm-rs"), ({"attack": "fgsm-all"}, "fgsm-all"),
                        ({"attack": "fgsm-support"}, "fgsm-support"), ({"attack": "pgd"}, "pgd")):
        cfg = DefenseConfig(threat=NO_THREAT.bind(torch.zeros(INFO.obs_dim), torch.ones(INFO.obs_dim), INFO.n_agents),
                            options=DEFENSES["fgsm"].config_for("vdn", given))
        assert DEFENSES["fgsm"](cfg, learner, INFO).attack.name == name
    untyped = DefenseConfig(threat=cfg.threat, options={"attack": "pgd"})  # options are the defense's Config, typed
    with pytest.raises(TypeError, match="defense 'fgsm' takes .* options, not dict"):
        DEFENSES["fgsm"](untyped, learner, INFO)


def test_unknown_attack():
    with pytest.raises(KeyError, match="unknown attack"):
        make_attack("carlini")


def _toy_victim(torch_seed, input_seed, b=64):
    """A random victim and a batch of its inputs, with the obs bounds far away (steps not clipped)."""
    torch.manual_seed(torch_seed)
    agent = RNNAgent(6, 3, 5, hidden=8)
    obs, avail, low, high = _inputs(input_seed, b=b)
    return agent, obs, avail, low - 10, high + 10, torch.zeros(b, 3, 8)


def test_targeted_step_raises_the_target_probability():
    agent, obs, avail, low, high, h = _toy_victim(3, 5)
    target = torch.randint(0, 5, (64, 3), generator=torch.Generator().manual_seed(0))
    avail = avail | torch.nn.functional.one_hot(target, 5).bool()
    prob = lambda o: torch.softmax(masked_logits(agent.step(o, h)[0], avail), -1).gather(-1, target.unsqueeze(-1))  # noqa: E731
    x = targeted_step(agent, obs, h, avail, target, 1e-3, low, high)
    assert ((x - obs).abs() <= 1e-3 + 1e-7).all()
    assert (prob(x) >= prob(obs) - 1e-7).float().mean() > 0.95


def test_learned_attack_needs_its_adversary():
    with pytest.raises(KeyError, match="learned"):
        make_attack("paad")


@pytest.mark.parametrize("name,value", [("paad", "closed_form"), ("atsa", "closed_form"), ("atsa", "network")])
def test_learned_adversary_learns_and_round_trips(name, value):
    from attacks.training import LEARNED, AttackTrainConfig
    from robench.learners.buffer import EpisodeBatch

    torch.manual_seed(0)
    settings = LEARNED[name].Config(value=value) if name == "atsa" else LEARNED[name].Config()
    options = AttackTrainConfig(attack=name, options=settings)
    adv = build(name, INFO, seed=0, options=options)
    adv.training = True
    agent = RNNAgent(6, 3, 5, hidden=8)
    b, t = 40, 4
    obs, avail, low, high = _inputs(0, b=b)
    adv.reset(b)
    seen = [call(adv, agent, obs, torch.zeros(b, 3, 8), avail, 0.2, low, high) for _ in range(t)]
    assert all(((x - obs).abs() <= 0.2 + 1e-6).all() for x in seen)
    batch = EpisodeBatch(obs=obs.unsqueeze(1).repeat(1, t + 1, 1, 1), state=torch.zeros(b, t + 1, 4),
                         avail=avail.unsqueeze(1).repeat(1, t + 1, 1, 1), actions=torch.zeros(b, t, 3, dtype=torch.long),
                         reward=torch.ones(b, t), terminated=torch.zeros(b, t, dtype=torch.bool),
                         mask=torch.ones(b, t, dtype=torch.bool), clean_obs=obs.unsqueeze(1).repeat(1, t + 1, 1, 1),
                         extras={"greedy_actions": torch.zeros(b, t, 3, dtype=torch.long)})
    before = {k: v.clone() for k, v in adv.state_dict().items()}
    stats = adv.learn(batch)
    assert stats and all(torch.isfinite(torch.tensor(v)) for v in stats.values())
    after = adv.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    # the director's replay holds the clean stream, its own targets and the negated reward
    assert (adv.buffer.data.reward[:b, :t] == -1).all()
    if value == "network":  # Eq. 9's value network is trained with the critics
        assert any(k.startswith("value.") and not torch.equal(before[k], after[k]) for k in before)
    twin = build(name, INFO, seed=1, options=options)
    twin.load_state_dict(after)
    assert all(torch.equal(twin.state_dict()[k], after[k]) for k in after)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_fop_mixing_weights_are_non_negative(seed):
    from attacks.atsa import FOPMixer

    torch.manual_seed(seed)
    mixer = FOPMixer(n_agents=3, state_dim=4, n_actions=5)
    onehot = torch.nn.functional.one_hot(torch.randint(0, 5, (7, 3)), 5).float()
    lam = mixer.lambdas(torch.randn(7, 4) * 5, onehot)
    assert lam.shape == (7, 3) and (lam >= 0).all()


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), alpha=st.floats(0.05, 2.0))
def test_soft_policy_is_exp_of_q_minus_v_over_alpha(seed, alpha):
    """With V_i = α logsumexp(Q_i/α), h_i = exp((Q_i − V_i)/α) is the softmax of Q_i/α on the
    available actions and zero elsewhere (Eq. 5 with the closed-form value)."""
    from attacks.atsa import soft_value

    g = torch.Generator().manual_seed(seed)
    q = torch.randn(6, 3, 5, generator=g)
    avail = torch.rand(6, 3, 5, generator=g) > 0.4
    avail[..., 2] = True
    h = torch.exp((q - soft_value(q, avail, alpha).unsqueeze(-1)) / alpha) * avail
    assert torch.allclose(h.sum(-1), torch.ones(6, 3), atol=1e-4)
    assert torch.allclose(h, torch.softmax(masked_logits(q, avail) / alpha, -1), atol=1e-5)


def test_gaussian_log_prob_and_entropy_match_torch():
    from attacks.mappo import gaussian_entropy, gaussian_log_prob

    g = torch.Generator().manual_seed(0)
    mu, u, log_std = torch.randn(5, 3, 6, generator=g), torch.randn(5, 3, 6, generator=g), torch.randn(6, generator=g)
    ref = torch.distributions.Normal(mu, log_std.exp())
    assert torch.allclose(gaussian_log_prob(u, mu, log_std), ref.log_prob(u).sum(-1), atol=1e-5)
    assert torch.allclose(gaussian_entropy(log_std), ref.entropy()[0, 0].sum(), atol=1e-5)


def test_atla_evaluation_perturbation_is_its_mean_in_units_of_eps():
    """At evaluation u = μ, so away from the bounds δ(ε) = ε·clip(μ, −1, 1) scales linearly with ε."""
    adv = build("atla", INFO, seed=0)
    agent = RNNAgent(6, 3, 5, hidden=8)
    obs = torch.full((4, 3, 6), 0.5)
    low, high = torch.full((6,), -10.0), torch.full((6,), 10.0)
    deltas = []
    for eps in (0.05, 0.2):
        adv.reset(4)
        deltas.append(call(adv, agent, obs, torch.zeros(4, 3, 8), torch.ones(4, 3, 5, dtype=torch.bool), eps, low, high) - obs)
    assert deltas[0].abs().max() > 0
    assert torch.allclose(deltas[1], deltas[0] * 4, atol=1e-6)
    from attacks.atla import ATLAConfig
    from attacks.training import AttackTrainConfig

    squashed = build("atla", INFO, seed=0, options=AttackTrainConfig(attack="atla", options=ATLAConfig(squash=True)))
    squashed.load_state_dict(adv.state_dict())
    squashed.reset(4)
    mu = squashed.policy.actor.step(obs, squashed.policy.actor.init_hidden(4))[0].detach()
    x = call(squashed, agent, obs, torch.zeros(4, 3, 8), torch.ones(4, 3, 5, dtype=torch.bool), 0.2, low, high)
    assert torch.allclose(x - obs, 0.2 * torch.tanh(mu), atol=1e-6)


def test_atla_ppo_moves_the_mean_toward_rewarded_perturbations():
    """Team reward r = −mean_i u_i[0] (so the adversary's r̂ = −r favours large u_0): MAPPO must raise μ_0."""
    from robench.learners.buffer import EpisodeBatch

    torch.manual_seed(0)
    adv = build("atla", INFO, seed=0)
    agent = RNNAgent(6, 3, 5, hidden=8)
    b, t = 64, 3
    obs, avail, low, high = _inputs(0, b=b)
    low, high = low - 10, high + 10

    def mean_u0():
        adv.training = False
        adv.reset(b)
        with torch.no_grad():
            return float(adv.policy.actor.step(obs, adv.policy._hidden)[0][..., 0].mean())

    start = mean_u0()
    for _ in range(15):
        adv.training = True
        adv.reset(b)
        for _ in range(t):
            call(adv, agent, obs, torch.zeros(b, 3, 8), avail, 0.2, low, high)
        reward = -torch.stack(adv.policy.samples, 1)[..., 0].mean(-1)  # [B, T]
        batch = EpisodeBatch(obs=obs.unsqueeze(1).repeat(1, t + 1, 1, 1), state=torch.zeros(b, t + 1, 4),
                             avail=avail.unsqueeze(1).repeat(1, t + 1, 1, 1), actions=torch.zeros(b, t, 3, dtype=torch.long),
                             reward=reward, terminated=torch.zeros(b, t, dtype=torch.bool),
                             mask=torch.ones(b, t, dtype=torch.bool), clean_obs=obs.unsqueeze(1).repeat(1, t + 1, 1, 1))
        stats = adv.learn(batch)
    assert all(torch.isfinite(torch.tensor(v)) for v in stats.values())
    assert mean_u0() > start + 0.3
    twin = build("atla", INFO, seed=1)
    twin.load_state_dict(adv.state_dict())
    assert all(torch.equal(twin.state_dict()[k], v) for k, v in adv.state_dict().items())


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_zero_sum_direction_sums_to_zero_on_available_actions(seed):
    from attacks.paad import zero_sum_direction

    g = torch.Generator().manual_seed(seed)
    u = torch.randn(4, 3, 5, generator=g)
    avail = torch.rand(4, 3, 5, generator=g) > 0.4
    avail[..., 1] = True
    d = zero_sum_direction(u, avail)
    assert torch.allclose(d.sum(-1), torch.zeros(4, 3), atol=1e-5) and (d[~avail] == 0).all()


def test_direction_step_moves_the_policy_along_the_direction():
    """A small step must raise d·π (first order) for almost every agent, within the budget."""
    from attacks.paad import zero_sum_direction
    from attacks.targeted import direction_step

    agent, obs, avail, low, high, h = _toy_victim(0, 1)
    d = zero_sum_direction(torch.randn(64, 3, 5, generator=torch.Generator().manual_seed(2)), avail)
    score = lambda o: (torch.softmax(masked_logits(agent.step(o, h)[0], avail), -1) * d).sum(-1)  # noqa: E731
    x = direction_step(agent, obs, h, avail, d, 1e-3, low, high)
    assert ((x - obs).abs() <= 1e-3 + 1e-7).all()
    assert (score(x) >= score(obs) - 1e-7).float().mean() > 0.95


def test_paad_direction_director_budget_and_checkpoint_round_trip(tmp_path):
    from dataclasses import asdict

    from attacks.paad import PAADConfig, PAADDirection
    from attacks.training import AttackTrainConfig, load_adversary
    from robench.checkpoint import save_checkpoint

    options = AttackTrainConfig(attack="paad", options=PAADConfig(director="direction"))
    adv = build("paad", INFO, seed=0, options=options)
    assert isinstance(adv, PAADDirection) and adv.policy.log_std.shape == (5,)
    agent = RNNAgent(6, 3, 5, hidden=8)
    obs, avail, low, high = _inputs(3, b=8)
    adv.training = True
    adv.reset(8)
    x = call(adv, agent, obs, torch.zeros(8, 3, 8), avail, 0.1, low, high)
    assert ((x - obs).abs() <= 0.1 + 1e-6).all() and (x >= low).all() and (x <= high).all()
    manifest = {"kind": "adversary", "attack": "paad", "learner": adv.director_kind, "env": INFO.__dict__,
                "config": asdict(options)}
    save_checkpoint(tmp_path / "adv", adv.state_dict(), manifest)
    back = load_adversary(tmp_path / "adv", INFO)
    assert isinstance(back, PAADDirection)
    assert all(torch.equal(back.state_dict()[k], v) for k, v in adv.state_dict().items())


def test_fgsm_reads_the_clean_greedy_action_off_its_own_forward_pass():
    from attacks.base import action_ce_grad, clean_greedy_action

    torch.manual_seed(0)
    agent = RNNAgent(6, 3, 5, hidden=8)
    obs, avail, low, high = _inputs(4, b=16)
    h = torch.randn(16, 3, 8)
    two_pass = action_ce_grad(agent, obs, h, avail, clean_greedy_action(agent, obs, h, avail))
    assert torch.equal(action_ce_grad(agent, obs, h, avail), two_pass)


def test_input_gradients_run_with_cudnn_off_so_eval_mode_works_on_cuda():
    """cuDNN's GRU refuses a backward pass in eval mode (evaluation on CUDA, seen on an H100):
    every input gradient must run with cuDNN off — here observed from inside the agent's step."""
    from attacks.base import objective_grad, policy_input_grad

    seen = []

    class Spy(RNNAgent):
        def step(self, obs, hidden):
            seen.append(torch.backends.cudnn.enabled)
            return super().step(obs, hidden)

    agent = Spy(6, 3, 5, hidden=8).eval()
    obs, avail, _, _ = _inputs(3)
    h = torch.zeros(4, 3, 8)
    policy_input_grad(agent, obs, h, avail, lambda logits: logits.sum())
    objective_grad(lambda x: agent.step(x, h)[0].sum())(obs)
    assert seen == [False, False]
    assert torch.backends.cudnn.enabled  # restored afterwards


def test_uniform_target_draws_available_actions_uniformly(monkeypatch):
    """The max-entropy director: â uniform over the available actions, never an unavailable one;
    with one available action the step is Eq. 13 toward it."""
    import attacks.uniform_target as uniform_target
    drawn = []
    monkeypatch.setattr(uniform_target, "targeted_step", lambda agent, obs, hidden, avail, target, *rest: drawn.append(target) or obs)
    avail = torch.tensor([[True, False, True, True, False]]).expand(10_000, 5).reshape(2_500, 4, 5)
    attack, obs = make_attack("uniform-target", seed=0), torch.zeros(2_500, 4, 6)
    for _ in range(3):
        call(attack, None, obs, None, avail, 0.1, torch.zeros(6), torch.ones(6))
    draws = torch.cat(drawn).flatten()
    freq = torch.bincount(draws, minlength=5).float() / len(draws)
    assert freq[1] == 0 and freq[4] == 0 and torch.allclose(freq[[0, 2, 3]], torch.full((3,), 1 / 3), atol=0.015)
    monkeypatch.undo()
    torch.manual_seed(0)
    agent = RNNAgent(6, 3, 5, hidden=8)
    obs, _, low, high = _inputs(3)
    only = torch.zeros(4, 3, 5, dtype=torch.bool)
    only[..., 2] = True
    hidden = torch.zeros(4, 3, 8)
    x = call(make_attack("uniform-target", seed=0), agent, obs, hidden, only, 0.1, low, high)
    want = targeted_step(agent, obs, hidden, only, torch.full((4, 3), 2), 0.1, low, high)
    assert torch.equal(x, project(want, obs, 0.1, low, high))


@pytest.mark.parametrize("name", list(ATTACKS))
def test_every_registered_attack_carries_its_name_label_and_contract(name):
    from attacks.base import LearnedAttack

    cls = ATTACKS[name]
    assert cls.name == name and cls.label
    assert cls.learned == issubclass(cls, LearnedAttack)
    if cls.learned:  # the learned contract is the class's own, not the base's NotImplementedError
        for method in ("learn", "restrict", "state_dict", "load_state_dict"):
            assert getattr(cls, method) is not getattr(LearnedAttack, method), (name, method)


def test_pgd_with_restarts_keeps_per_agent_the_strongest_start_never_weaker_than_pgd():
    """``pgd-r``: restart 0 draws ``pgd``'s start, and each agent keeps its highest-CE restart, so
    its per-agent cross-entropy is at least ``pgd``'s everywhere and above it somewhere."""
    import torch.nn.functional as F

    torch.manual_seed(2)
    agent = RNNAgent(6, 3, 5, hidden=16)
    obs, avail, low, high = _inputs(7, b=64)
    h = torch.zeros(64, 3, 16)
    q, _ = agent.step(obs, h)
    a_star = masked_logits(q, avail).argmax(-1)

    def ce(x):
        qx, _ = agent.step(x, h)
        logits = masked_logits(qx, avail)
        return F.cross_entropy(logits.reshape(-1, 5), a_star.reshape(-1), reduction="none").view(64, 3)

    pgd = call(make_attack("pgd", seed=4), agent, obs, h, avail, 0.3, low, high)
    restarts = call(make_attack("pgd-r", seed=4), agent, obs, h, avail, 0.3, low, high)
    assert (ce(restarts) >= ce(pgd) - 1e-5).all() and (ce(restarts) > ce(pgd) + 1e-4).any()
    assert (restarts - obs).abs().max() <= 0.3 + 1e-6
