"""Defenses on the one training loop: a smoke run per registered defense, the co-trained
adversaries as zoo entries, RAP's routing, ATLA's phases, ATSA's κ = 0 ablation."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import golden_hashes
import pytest
import torch

from attacks.atsa import ATSA, SDorConfig
from attacks.population import DirectorPopulation, balanced_assignment, member_blocks
from attacks.training import AttackTrainConfig, build, load_adversary
from defenses import DEFENSES
from defenses.atla import ATLATraining
from robench.checkpoint import env_info_from_manifest, load_protagonist
from robench.envs import EnvInfo
from robench.learners.agent import RNNAgent
from robench.learners.buffer import EpisodeBatch
from robench.learners.learner import LearnerConfig
from robench.errors import RobenchError
from robench.threat import NO_THREAT
from robench.train import TrainConfig, resolve_config, train
from threats import call, on
from robench.runs import pretrained_start, train_and_save

INFO = EnvInfo(n_agents=3, obs_dim=6, state_dim=4, n_actions=5, episode_limit=10, map_name="toy", backend="none")


ZOO = Path(__file__).resolve().parents[1] / "checkpoints"


def tiny(defense: str, mixer: str = "vdn", **options) -> TrainConfig:
    """A few hundred env steps; a defense that fine-tunes starts from the shipped 3m NoAdv run."""
    cfg = TrainConfig(env="3m", defense=defense, steps=400, n_envs=8, updates_per_rollout=1, eval_every=10_000,
                      eval_episodes=8, final_eval_episodes=8, defense_options=options,
                      learner=LearnerConfig(mixer=mixer, batch_size=4, buffer_size=64))
    return pretrained_start(cfg, ZOO)


def defense_on_3m(defense: str):
    """(env of 8 copies, learner, the defense built on them) on 3m in SMAC's layout, ε 0.25, bounds none."""
    from defenses.base import DefenseConfig
    from robench.envs import make_env
    from robench.learners.learner import QLearner
    from robench.threat import ThreatModel

    env = make_env("3m", 8, obs_layout="smac")
    info = env.info()
    learner = QLearner(LearnerConfig(), info.obs_dim, info.n_agents, info.n_actions, info.state_dim)
    threat = ThreatModel(eps=0.25, bounds="none").bind(env.obs_low, env.obs_high, info.n_agents)
    d = DEFENSES[defense](DefenseConfig(threat=threat, seed=0, steps=1000), learner, info)
    return env, learner, d


@pytest.mark.parametrize("defense", list(DEFENSES))
def test_every_defense_trains_end_to_end_and_writes_its_adversaries(defense, tmp_path):
    """Tiny run of each registered defense through ``train_and_save``: a loadable protagonist,
    the resolved options in the manifest, and each co-trained adversary a loadable checkpoint of
    its own, inside the run's directory, linked both ways by hash."""
    manifest = train_and_save(tiny(defense, "qmix"), tmp_path / "run", show_progress=False)
    agent, _, back = load_protagonist(tmp_path / "run")
    assert back["content_hash"] == manifest["content_hash"]
    assert set(manifest["defense_options_resolved"]) == set(DEFENSES[defense].Config.defaults())
    linked = manifest["co_trained_adversaries"]
    assert bool(linked) == DEFENSES[defense].co_trained
    for name, digest in linked.items():
        adv_manifest = json.loads((tmp_path / "run" / name / "manifest.json").read_text())
        assert adv_manifest["content_hash"] == digest and adv_manifest["kind"] == "adversary"
        assert adv_manifest["victim"] == manifest["content_hash"] and adv_manifest["co_trained_by"] == defense
        assert adv_manifest["eps"] == manifest["eps"] and adv_manifest["victim_learner"] == "qmix"
        adversary = load_adversary(tmp_path / "run" / name, env_info_from_manifest(manifest))
        assert adversary.name == adv_manifest["attack"]
        if adv_manifest["attack"] == "paad":  # App. H.2: the director has the protagonist's architecture
            assert adv_manifest["config"]["options"]["director_mixer"] == "qmix"
    assert len(linked) == {"rap": 4}.get(defense, len(linked))
    curve = (tmp_path / "run" / "train_curve.csv").read_text().splitlines()
    td = float(curve[-1].split(",")[curve[0].split(",").index("td_loss")])
    assert td == td, "the protagonist never took a gradient step"  # not NaN: the learner trained
    # behaviour pinned: the same tiny run gives the recorded fingerprint (every machine) and this
    # platform's hashes (where recorded) in tests/golden
    golden_hashes.check(defense, manifest["content_hash"], linked, golden_hashes.fingerprint(td, agent.state_dict()))


def test_same_seed_same_checkpoint_hash(tmp_path):
    a = train_and_save(tiny("atsa"), tmp_path / "a", show_progress=False)
    b = train_and_save(tiny("atsa"), tmp_path / "b", show_progress=False)
    assert a["content_hash"] == b["content_hash"]
    assert a["co_trained_adversaries"] == b["co_trained_adversaries"]


def test_rap_routes_each_episode_to_exactly_the_director_that_attacked_it():
    torch.manual_seed(0)
    members = [build("paad", INFO, seed=i) for i in range(3)]
    population = DirectorPopulation(members, torch.Generator().manual_seed(0))
    population.training = True
    seen: dict[int, torch.Tensor] = {}
    for i, member in enumerate(members):
        member.learn = lambda batch, updates, i=i: seen.__setitem__(i, batch.clean_obs[:, 0, 0, 0].clone()) or {}
    b, t = 10, 3
    agent = RNNAgent(6, 3, 5, hidden=8)
    obs = torch.rand(b, 3, 6) * 0.5 + 0.25
    obs[:, 0, 0] = torch.arange(b) / 100  # the episode's index, readable from its data
    avail = torch.ones(b, 3, 5, dtype=torch.bool)
    low, high = torch.zeros(6), torch.ones(6)
    population.reset(b)
    counts = torch.bincount(population.assignment, minlength=3)
    assert counts.max() - counts.min() <= 1  # uniform, balanced assignment
    for _ in range(t):
        x = call(population, agent, obs, torch.zeros(b, 3, 8), avail, 0.1, low, high)
        assert ((x - obs).abs() <= 0.1 + 1e-6).all()
    batch = EpisodeBatch(obs=obs.unsqueeze(1).repeat(1, t + 1, 1, 1), state=torch.zeros(b, t + 1, 4),
                         avail=avail.unsqueeze(1).repeat(1, t + 1, 1, 1), actions=torch.zeros(b, t, 3, dtype=torch.long),
                         reward=torch.ones(b, t), terminated=torch.zeros(b, t, dtype=torch.bool),
                         mask=torch.ones(b, t, dtype=torch.bool), clean_obs=obs.unsqueeze(1).repeat(1, t + 1, 1, 1),
                         extras={"greedy_actions": torch.zeros(b, t, 3, dtype=torch.long)})
    population.learn(batch)
    for i in range(3):
        mine = torch.nonzero(population.assignment == i).flatten()
        assert torch.allclose(seen[i] * 100, mine.float())
        assert torch.equal(torch.stack(members[i]._targets, 1), torch.stack(population._targets, 1)[mine])


@pytest.mark.parametrize("b,k", [(10, 3), (8, 4), (2, 3)])
def test_member_blocks_hold_each_members_episodes_once(b, k):
    assignment = balanced_assignment(b, k, torch.Generator().manual_seed(b))
    rows, valid = member_blocks(assignment, k)
    for i in range(k):
        assert sorted(rows[i][valid[i]].tolist()) == torch.nonzero(assignment == i).flatten().tolist()
    assert sorted(rows[valid].tolist()) == list(range(b))


@pytest.mark.parametrize("b", [10, 2])
def test_population_members_direct_their_episodes_as_each_would_alone(b):
    """Greedy (evaluation): the stacked step gives member i's own targets on its own episodes
    (also with fewer episodes than members)."""
    torch.manual_seed(0)
    members = [build("paad", INFO, seed=i) for i in range(3)]
    population = DirectorPopulation(members, torch.Generator().manual_seed(0))
    agent = RNNAgent(6, 3, 5, hidden=8)
    with pytest.raises(ValueError):
        DirectorPopulation([*members, build("atsa", INFO, seed=9)])
    avail = torch.rand(b, 3, 5) < 0.7
    avail[..., 0] = True
    population.reset(b)
    for i, member in enumerate(members):
        member.reset(int((population.assignment == i).sum()))
    for _ in range(3):
        obs = torch.rand(b, 3, 6)
        call(population, agent, obs, torch.zeros(b, 3, 8), avail, 0.1, torch.zeros(6), torch.ones(6))
        for i, member in enumerate(members):
            rows = population.assignment == i
            assert torch.equal(population._targets[-1][rows], member.direct(obs[rows], avail[rows]))


def test_rap_deals_its_gradient_steps_round_robin_over_the_members():
    """U steps per batch in all; over K batches every member takes exactly U (on its own replay)."""
    k, u = 4, 2
    members = [build("paad", INFO, seed=i) for i in range(k)]
    population = DirectorPopulation(members, torch.Generator().manual_seed(0), updates=u)
    steps = torch.zeros(k, dtype=torch.int64)
    for i, member in enumerate(members):
        member.learn = lambda batch, updates, i=i: steps.__setitem__(i, steps[i] + updates) or {}
    b, t = 8, 2
    batch = EpisodeBatch(obs=torch.zeros(b, t + 1, 3, 6), state=torch.zeros(b, t + 1, 4),
                         avail=torch.ones(b, t + 1, 3, 5, dtype=torch.bool), actions=torch.zeros(b, t, 3, dtype=torch.long),
                         reward=torch.ones(b, t), terminated=torch.zeros(b, t, dtype=torch.bool),
                         mask=torch.ones(b, t, dtype=torch.bool))
    agent, obs, avail = RNNAgent(6, 3, 5, hidden=8), torch.rand(b, 3, 6), torch.ones(b, 3, 5, dtype=torch.bool)
    for r in range(k):
        population.reset(b)
        for _ in range(t):
            call(population, agent, obs, torch.zeros(b, 3, 8), avail, 0.1, torch.zeros(6), torch.ones(6))
        before = steps.sum()
        population.learn(batch)
        assert steps.sum() - before == u
    assert steps.tolist() == [u] * k
    with pytest.raises(ValueError):
        DirectorPopulation(members, updates=0)


def test_adversary_step_defaults_per_learner():
    """Measured against the 1.5×-NoAdv wall-time bar: SDor 1 step per rollout with VDN, 2 with QMIX;
    PAAD's director and RAP's population 2 with either."""
    assert DEFENSES["atsa"].config_for("vdn").adversary_updates == 1
    assert DEFENSES["atsa"].config_for("qmix").adversary_updates == 2
    assert DEFENSES["atsa"].config_for("qmix").kappa == 0.01
    for name in ("paad", "rap"):
        assert {DEFENSES[name].config_for(lr).adversary_updates for lr in ("vdn", "qmix")} == {2}


def test_atla_alternates_protagonist_and_adversary_phases(monkeypatch):
    """In an adversary phase the protagonist's weights do not change; in a protagonist phase the
    adversary's do not; both phases occur."""
    instances = []

    class Recorded(ATLATraining):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            instances.append(self)
            self.phases: list[bool] = []

        def protagonist_frozen(self, t_env):
            self.phases.append(super().protagonist_frozen(t_env))
            return self.phases[-1]

    monkeypatch.setitem(DEFENSES, "atla", Recorded)
    snapshots = []

    def snapshot(t_env, *_):  # after every iteration
        d = instances[0]
        snapshots.append((t_env, torch.cat([p.detach().flatten().clone() for p in d.learner.agent.parameters()]),
                          torch.cat([v.flatten().clone() for v in d.attack.state_dict().values()])))

    cfg = tiny("atla", phase_steps=150)
    cfg.steps = 1500
    train(cfg, progress=snapshot)
    phases = instances[0].phases  # phases[k]: iteration k's phase; snapshots[k]: after iteration k
    assert len(phases) == len(snapshots) and set(phases) == {True, False}
    adversary_learned = False
    for k in range(1, len(snapshots)):
        (_, p0, a0), (_, p1, a1) = snapshots[k - 1], snapshots[k]
        if phases[k]:
            assert torch.equal(p1, p0)
            adversary_learned |= not torch.equal(a1, a0)
        else:
            assert torch.equal(a1, a0)
    assert adversary_learned
    # a phase ends only after it has lasted phase_steps env steps (t before iteration k = t after k − 1)
    start = 0
    for k in range(1, len(phases)):
        if phases[k] != phases[k - 1]:
            assert snapshots[k - 1][0] - start >= 150
            start = snapshots[k - 1][0]


def _director_batch(taken: torch.Tensor) -> EpisodeBatch:
    g = torch.Generator().manual_seed(3)
    b, t = 6, 4
    obs = torch.rand(b, t + 1, 3, 6, generator=g)
    return EpisodeBatch(obs=obs, state=torch.rand(b, t + 1, 4, generator=g),
                        avail=torch.ones(b, t + 1, 3, 5, dtype=torch.bool),
                        actions=torch.randint(5, (b, t, 3), generator=g), reward=torch.rand(b, t, generator=g),
                        terminated=torch.zeros(b, t, dtype=torch.bool), mask=torch.ones(b, t, dtype=torch.bool),
                        extras={"taken": taken})


@pytest.mark.parametrize("kappa", [0.0, 0.5])
def test_atsa_kappa_zero_leaves_the_sdor_stor_term_out(kappa):
    """Two identical SDors updated on batches that differ only in the protagonist's taken actions:
    their actors stay equal exactly when κ = 0 (Eq. 15 without the L_κ term)."""
    actors = []
    for seed in (1, 2):
        torch.manual_seed(0)
        adv = ATSA(INFO, generator=torch.Generator().manual_seed(0), cfg=SDorConfig(kappa=kappa))
        adv.update(_director_batch(torch.randint(5, (6, 4, 3), generator=torch.Generator().manual_seed(seed))))
        actors.append(torch.cat([p.detach().flatten() for p in adv.actor.parameters()]))
    assert torch.equal(actors[0], actors[1]) == (kappa == 0.0)


def test_learned_adversary_records_at_zero_eps_and_leaves_obs_clean():
    """An ε ramp starting at 0 must not break co-training: the adversary records its targets."""
    adv = build("atsa", INFO, seed=0, options=AttackTrainConfig(attack="atsa"))
    agent = RNNAgent(6, 3, 5, hidden=8)
    obs = torch.rand(4, 3, 6)
    adv.reset(4)
    x = call(adv, agent, obs, torch.zeros(4, 3, 8), torch.ones(4, 3, 5, dtype=torch.bool), 0.0, torch.zeros(6), torch.ones(6))
    assert torch.equal(x, obs) and len(adv._targets) == 1


def test_co_trained_director_targets_the_greedy_not_the_exploring_action(env3m_factory):
    """Eq. 14's a^taken is the protagonist's greedy action on ô, recorded even while it explores."""
    from robench.rollout import run_episodes

    env = env3m_factory(8)
    info = env.info()
    agent = RNNAgent(info.obs_dim, info.n_agents, info.n_actions)
    adv = build("atsa", info, seed=0)
    adv.training = True
    _, batch = run_episodes(env, agent, seed=0, attack=on(env, adv), eps=0.1, explore=1.0,
                            generator=torch.Generator().manual_seed(0), record=True)
    director = adv.director_batch(batch)
    assert torch.equal(director.extras["taken"], batch.extras["greedy_actions"])
    assert not torch.equal(batch.extras["greedy_actions"][batch.mask], batch.actions[batch.mask])  # it explored


@pytest.mark.parametrize("defense", [d for d, cls in DEFENSES.items() if cls.attack_name != "none"])
def test_every_attacking_defense_perturbs_its_training_observations_within_eps(defense):
    """The training adversary of each defense that attacks its rollouts really moves ô (or, for an
    action hijack, takes over actions), never beyond ε (a defense whose attack did nothing would
    pass the smoke test)."""
    from robench.rollout import run_episodes

    env, learner, d = defense_on_3m(defense)
    _, batch = run_episodes(env, learner.agent, seed=0, attack=d.attack, eps=0.25, record=True,
                            generator=torch.Generator().manual_seed(0))
    moved = (batch.obs - batch.clean_obs).abs()
    assert float(moved.max()) <= 0.25 + 1e-5
    if d.attack.hijacks:  # ROMANCE's attackers take over actions, not observations (no exploration here)
        hijacked = batch.actions != batch.extras["greedy_actions"]
        assert bool(hijacked[batch.mask].any()), f"{defense}'s attackers never took over an action"
    else:
        assert float(moved[:, :-1][batch.mask].max()) > 0.0, f"{defense}'s training adversary left every observation clean"


def test_curve_attacks_evaluate_each_point_as_eval_does(tmp_path):
    """A curve attack's column at the last point (the saved weights) is ``evaluate``'s cell under
    that attack, at the run's ε and bounds, on the point's episodes; the clean column is unchanged."""
    import pandas as pd

    from robench.evaluate import evaluate
    from robench.figures import training_curves

    cfg = replace(tiny("fgsm"), steps=600, eval_every=300, curve_attacks=["fgsm", "random"])
    manifest = train_and_save(cfg, tmp_path / "run", show_progress=False)
    curve = pd.read_csv(tmp_path / "run" / "train_curve.csv")
    assert len(curve) >= 2 and manifest["config"]["curve_attacks"] == ["fgsm", "random"]
    agent, _, _ = load_protagonist(tmp_path / "run")
    last = curve.iloc[-1]
    for attack in ("none", "fgsm", "random"):
        cell, _ = evaluate(agent, "3m", attack=attack, threat=NO_THREAT.at(manifest["eps"]), obs_layout="smac",
                           episodes=cfg.eval_episodes, seed=10_000_019 + int(last.t_env))
        column = "eval_return" if attack == "none" else f"eval_return_{attack}"
        assert last[column] == pytest.approx(cell.mean_return)
    assert not (curve.eval_return_fgsm == curve.eval_return).all()  # the attack changed the episodes
    plain = train_and_save(replace(cfg, curve_attacks=[]), tmp_path / "plain", show_progress=False)
    assert plain["content_hash"] == manifest["content_hash"]  # evaluation only: the same training
    same = pd.read_csv(tmp_path / "plain" / "train_curve.csv")
    assert same.eval_return.tolist() == curve.eval_return.tolist() and same.t_env.tolist() == curve.t_env.tolist()
    written = {p.name for p in training_curves(tmp_path, tmp_path / "figs")}
    assert {"training_curves.png", "training_curves_fgsm.png", "training_curves_random.png"} <= written


@pytest.mark.parametrize("attacks", [["atsa"], ["none"], ["romance"], ["fgsm", "fgsm"], ["nope"], "fgsm"])
def test_curve_attacks_refuse_what_needs_a_trained_adversary_or_repeats(attacks, tmp_path):
    from robench.run_config import load_config

    if isinstance(attacks, list):
        with pytest.raises(RobenchError, match="curve attack"):
            resolve_config(TrainConfig(curve_attacks=attacks))
    run_file = tmp_path / "run.toml"  # a run file is checked when it is read, before any training
    run_file.write_text(f"curve_attacks = {json.dumps(attacks)}\n")
    with pytest.raises(RobenchError, match="curve.attack"):
        load_config(run_file)


@pytest.mark.parametrize("defense", [d for d, cls in DEFENSES.items() if cls.co_trained])
def test_co_trained_adversary_acts_in_and_learns_from_only_the_episodes_it_perturbs(defense):
    """At the protocol's attacked share (p = 0.5 per episode) a co-trained adversary perturbs (or
    hijacks) only the episodes its coin picked, and learns from exactly those: the episodes
    ``perturbed_episodes`` hands it are the attacked ones, its own record is cut to them, and its
    learning step takes them (at p = 1 the whole batch, as it is)."""
    from robench.rollout import run_episodes

    env, learner, d = defense_on_3m(defense)
    assert d.REGIME.attack_prob == 0.5

    def rollout(prob: float) -> EpisodeBatch:
        _, batch = run_episodes(env, learner.agent, seed=3, attack=d.attack, eps=0.25, record=True,
                                generator=torch.Generator().manual_seed(3), attack_prob=prob)
        return batch

    batch = rollout(0.5)
    rows = batch.extras["attacked"].any(1)
    assert 0 < int(rows.sum()) < batch.size  # this seed's coins split the batch
    clean = ~rows
    assert torch.equal(batch.obs[clean], batch.clean_obs[clean])  # a clean episode is never perturbed ...
    assert torch.equal(batch.actions[clean], batch.extras["greedy_actions"][clean])  # ... nor hijacked
    kept = d.perturbed_episodes(batch)
    assert kept.size == int(rows.sum()) and torch.equal(kept.obs, batch.obs[rows])
    taken: list[int] = []
    for owner in getattr(d.attack, "members", [d.attack]):  # what reaches the learning step (RAP: each member's)
        for method in ("learn", "remember"):
            if hasattr(owner, method):
                original = getattr(owner, method)
                setattr(owner, method, lambda b, *a, _f=original, **k: (taken.append(b.size), _f(b, *a, **k))[1])
    batch = rollout(0.5)
    d.after_rollout(batch, 0)
    learns = not isinstance(d, ATLATraining)  # ATLA's adversary learns in its own phase only
    attacked = int(batch.extras["attacked"].any(1).sum())
    assert (sum(taken) if defense == "rap" else max(taken, default=0)) == (attacked if learns else 0)
    full = rollout(1.0)
    assert d.perturbed_episodes(full) is full


def test_on_a_machine_without_recorded_hashes_the_fingerprint_still_asserts(monkeypatch):
    """Elsewhere (another CPU: no exact hashes) the end-to-end tests still fail on a changed method:
    the fingerprint is checked before the exact hashes are looked up."""
    monkeypatch.setattr(golden_hashes, "platform_signature", lambda: "another CPU")
    recorded = json.loads(golden_hashes.FILE.read_text())[golden_hashes.PORTABLE]["atsa"]
    moved = {**recorded, "weights_l1": recorded["weights_l1"] * 1.01}
    with pytest.raises(AssertionError, match="weights_l1"):
        golden_hashes.check("atsa", "whatever", {}, moved)
    with pytest.raises(pytest.skip.Exception, match="no golden hashes for this platform"):
        golden_hashes.check("atsa", "whatever", {}, recorded)  # within tolerance: only the exact check skips


@pytest.mark.parametrize("name", list(DEFENSES))
def test_every_registered_defense_carries_its_name_label_and_kind(name):
    from defenses.cotrained import CoTrainedDefense

    cls = DEFENSES[name]
    assert cls.name == name and cls.label
    assert cls.co_trained == issubclass(cls, CoTrainedDefense)
    assert not cls.co_trained or cls.REGIME.attack_prob == 0.5  # the zoo's attacked share


def test_a_restricted_directors_record_is_the_attacked_rows_of_its_full_record():
    """What ATSA's SDor learns from after ``perturbed_episodes`` is, row for row, its full record
    of the rollout cut to the attacked episodes (targets, clean observations, −r, greedy actions)."""
    from robench.rollout import run_episodes

    env, learner, d = defense_on_3m("atsa")
    _, batch = run_episodes(env, learner.agent, seed=3, attack=d.attack, eps=0.25, record=True,
                            generator=torch.Generator().manual_seed(3), attack_prob=0.5)
    full = d.attack.director_batch(batch)
    rows = batch.extras["attacked"].any(1)
    kept = d.attack.director_batch(d.perturbed_episodes(batch))
    for name in ("obs", "actions", "reward", "mask"):
        assert torch.equal(getattr(kept, name), getattr(full, name)[rows]), name
    assert torch.equal(kept.extras["taken"], full.extras["taken"][rows])


@pytest.mark.parametrize("defense", [d for d, cls in DEFENSES.items() if cls.co_trained])
def test_the_every_step_regime_keeps_the_weights_of_before_the_attacked_share(defense, tmp_path):
    """At p = 1 a co-trained defense trains exactly as before p = 0.5 became its default: the tiny
    run's hashes were recorded from the code of that time (and the fingerprint on every machine)."""
    cfg = tiny(defense, "qmix")
    cfg.attack_prob = 1.0
    manifest = train_and_save(cfg, tmp_path / "run", show_progress=False)
    agent, _, _ = load_protagonist(tmp_path / "run")
    td = float((tmp_path / "run" / "train_curve.csv").read_text().splitlines()[-1].split(",")[
        (tmp_path / "run" / "train_curve.csv").read_text().splitlines()[0].split(",").index("td_loss")])
    golden_hashes.check(f"{defense}@p1", manifest["content_hash"], manifest["co_trained_adversaries"],
                        golden_hashes.fingerprint(td, agent.state_dict()))
