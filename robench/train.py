"""The one protagonist training loop (VDN / QMIX, any defense).

    repeat until ``steps`` env steps:
        ε_t     ← defense.budget(progress) · min(1, progress / w)  (schedule hook, ε warm-up w)
        if defense.protagonist_frozen(t_env):                      (phase hook, ATLA)
            defense.adversary_round(B envs, greedy protagonist, ε_t)   — the adversary learns
        else:
            batch   ← run_episodes(B envs, ε-greedy, attack = defense.attack at ε_t on a share p)   (adversary hook)
            buffer  ← buffer ∪ batch (õ or o);   defense.after_rollout(batch)   (co-trained adversary learns)
            k × learner.train(sample(buffer), progress)   with defense.extra_losses    (loss hook)
        targets ← online every 200 episodes
        every ``eval_every`` steps: greedy evaluation, clean and under each curve attack → training curve
    the seconds of each part (env, acting, learner, adversary, evaluation) → the manifest's ``profile``

A defense never owns a loop; it only fills the hooks (``defenses.base.Defense``).  The regime
(share p of perturbed episodes, warm-up w, what replay stores) is the loop's, with per-defense
defaults (``Defense.REGIME``, ``robench.regime``); ô stays in the range the run's threat model
gives (``TrainConfig.threat``, ``robench.threat``).  Env steps of
both phases count towards ``steps``.  An action attack (``attack.hijacks``, ROMANCE) overrides
actions inside ``run_episodes``; a run may start from a trained protagonist (``init_from``).
"""
from __future__ import annotations

import contextlib
import csv
import json
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator

from attacks import CLEAN
from attacks.base import Attack
from defenses import DEFENSES, DefenseConfig
from robench.budget import RunSettings, StepBudget
from robench.checkpoint import CheckpointError, load_protagonist, read_manifest
from robench.envs import EnvInfo, canonical_map, curve_episodes, make_env, max_copies, paper_eps, train_layout
from robench.errors import RobenchError
from robench.evaluate import eval_env, evaluate
from robench.learners.buffer import ReplayBuffer
from robench.learners.learner import LearnerConfig, QLearner
from robench.manifest import Manifest, agent_shape
from robench.options import Option
from robench.rollout import run_episodes
from robench.regime import Regime, stored
from robench.runtime import configure_torch, seed_everything
from robench.snapshot import SnapshotPolicy, check_snapshot, has_snapshot, read_snapshot, write_snapshot
from robench.threat import DEFAULT_THREAT, ThreatModel


@dataclass
class TrainConfig(RunSettings):
    """One protagonist training run (its seed, copies, time limit and device: ``RunSettings``)."""

    env: str = "3m"
    """Map name (``3m``, ``8m``, ``3s_vs_3z`` / ``3s_3z``, any SMAX map)."""
    backend: str = "smax"
    """Environment backend."""
    defense: str = "noadv"
    """Defense recipe (registry name)."""
    defense_options: dict[str, Option] = field(default_factory=dict)
    """Defense hyperparameters given for the run (fields of ``Defense.Config``), e.g. ATSA's κ and α."""
    obs_layout: str | None = None
    """Observation layout; None = the zoo's for the backend (``Backend.train_layout``: SMAC's layout on
    SMAX maps, ``robench.envs.smac_layout``; Kinematics on CAV)."""
    threat: ThreatModel = DEFAULT_THREAT
    """The training adversary's threat model (``robench.threat``): its ε (None = the paper's for
    the map) and how ô is kept in range (``bounds``: ``features`` | ``box`` | ``none``)."""
    attack_prob: float | None = None
    """Share of training episodes (or steps) perturbed; None = the defense's ``REGIME`` default."""
    attack_unit: str | None = None
    """``episode`` | ``step``: the unit of ``attack_prob``'s coin; None = the defense's default."""
    eps_warmup: float | None = None
    """Fraction of training over which ε ramps from 0; None = the defense's default."""
    replay: str | None = None
    """``perturbed`` | ``clean``: what replay stores; None = the defense's default."""
    eps_draw: str | None = None
    """``fixed`` | ``uniform``: each rollout's radius ε or U(0, ε]; None = the defense's default."""
    steps: int = 2_000_000
    """Environment steps (one step = one joint action of one env copy); the zoo's budget
    (docs/evidence/protocol.md)."""
    updates_per_rollout: int = 12
    """Gradient steps after each batch of B episodes (measured: 12 per 32 episodes)."""
    explore_start: float = 1.0
    """ε-greedy exploration at the start."""
    explore_end: float = 0.01
    """ε-greedy exploration after annealing (PyMARL: 0.05; measured: 0.01)."""
    explore_anneal_steps: int = 100_000
    """Env steps over which exploration decays linearly."""
    eval_every: int = 50_000
    """Env steps between greedy evaluations on the training curve."""
    eval_episodes: int | None = None
    """Episodes of each curve evaluation (one batch); None = the backend's ``curve_episodes``
    (500 on SMAX, 100 on CAV)."""
    final_eval_episodes: int = 500
    """Episodes of the final clean evaluation recorded in the manifest."""
    curve_attacks: list[str] = field(default_factory=list)
    """Observation attacks (fixed ones: ``random``, ``fgsm``, ``pgd``, …) under which every curve
    point also evaluates the greedy team, at the run's ε and bounds: the curve's
    ``eval_win_rate_<attack>`` and ``eval_return_<attack>`` columns (``curve_attack_columns``)."""
    stop_win_rate: float | None = None
    """Stop early once a curve evaluation reaches this greedy win rate (None = never)."""
    init_from: str | None = None
    """A protagonist checkpoint to start from (ROMANCE-p fine-tunes a NoAdv run): same map, sizes,
    mixer and agent network, checked before training; its content hash goes into the manifest."""
    explore_resume: float = 0.1
    """ε-greedy at the start of a run that starts from ``init_from`` (ROMANCE: 0.1), annealed to
    ``explore_end`` like ``explore_start``."""
    learner: LearnerConfig = field(default_factory=LearnerConfig)


@dataclass
class TrainResult:
    learner: QLearner
    adversaries: dict[str, tuple[Attack, Any]]
    """The co-trained adversaries (``Defense.adversaries``) with their attack-training configs,
    saved as zoo entries of their own."""
    regime: Regime
    """The training regime as used (the defense's defaults with the config's overrides)."""
    resolved_options: dict[str, Option | None]
    """Every defense option as used (defaults included)."""
    t_env: int
    episodes: int
    wall_s: float
    curve: list[dict[str, float]]
    config: TrainConfig
    parent: Manifest | None = None
    """Manifest of the protagonist the run started from (``init_from``), or None."""
    profile: dict[str, float] = field(default_factory=dict)
    """Where the run's wall time went, in seconds (``PROFILE_PARTS``)."""


PROFILE_PARTS = ("env", "acting", "learner", "adversary", "evaluation")
"""The training profile: the env's reset and steps; acting (the protagonist's forward passes and
the training attack inside the rollouts, and recording); the protagonist's gradient steps and
replay; the co-trained adversary's learning (``after_rollout``, ATLA's adversary rounds); the
curve's greedy evaluations.  Whatever is left (exploration schedule, bookkeeping) is ``other``."""


CURVE_FIELDS = ["t_env", "episodes", "wall_s", "explore", "train_eps", "train_win_rate", "eval_win_rate",
                "eval_return", "eval_crash_rate", "td_loss", "grad_norm"]


def curve_attack_columns(attacks: list[str]) -> list[str]:
    """The curve's columns for the greedy evaluations under ``attacks``."""
    return [f"eval_{metric}_{name}" for name in attacks for metric in ("win_rate", "return")]


def check_curve_attacks(attacks: list[str]) -> None:
    """Each curve attack must be a registered observation attack that needs no trained adversary
    (a learned attack's director, or a ROMANCE hijack, is trained against one protagonist)."""
    from attacks import ATTACKS

    for name in attacks:
        cls = ATTACKS.get(name)
        if cls is None or cls.clean or cls.learned or cls.hijacks:
            fixed = [n for n, c in ATTACKS.items() if not (c.clean or c.learned or c.hijacks)]
            raise RobenchError(f"curve attack {name!r} is not a fixed observation attack; known: {', '.join(fixed)}")
    if len(set(attacks)) != len(attacks):
        raise RobenchError(f"curve attacks repeat: {', '.join(attacks)}")


def start_from(learner: QLearner, path: Path, info: EnvInfo) -> dict:
    """Load the protagonist checkpoint ``path`` into ``learner``; returns its manifest.  The
    checkpoint may come from another map of the same backend with the same sizes (a curriculum:
    e.g. ``merge`` without the safety supervisor, then ``merge_safe``).  One clear error when its
    backend, sizes, mixer or agent network are not the run's."""
    agent, mixer, manifest = load_protagonist(path, expect_env=info, any_map=True)
    if mixer is None:
        raise CheckpointError(f"{path} holds no mixer weights ({Manifest(manifest).origin.get('mixer', 'none')}): "
                              f"it evaluates and is attacked, but cannot start a run")
    mine, got = agent_shape(learner.cfg), agent_shape(Manifest(manifest).learner_config)
    if got != mine:
        show = [" ".join(f"{k}={v}" for k, v in d.items()) for d in (got, mine)]
        raise CheckpointError(f"{path} is a {show[0]} protagonist; this run trains {show[1]}")
    learner.load_weights(agent, mixer)
    return manifest


def resolve_regime(cfg: TrainConfig) -> Regime:
    """The defense's ``REGIME`` with the overrides ``cfg`` sets."""
    overrides = {"attack_prob": cfg.attack_prob, "attack_unit": cfg.attack_unit, "eps_warmup": cfg.eps_warmup,
                 "replay": cfg.replay, "eps_draw": cfg.eps_draw}
    return DEFENSES[cfg.defense].REGIME.with_overrides(overrides)


def resolve_config(cfg: TrainConfig) -> TrainConfig:
    """A copy of ``cfg`` with every default resolved (``cfg`` itself is left as it is): the
    canonical map name, the paper's ε, the observation layout (a fine-tune keeps its parent's,
    else the backend's ``train_layout``), at most the backend's ``max_copies`` env copies, and the
    backend's ``curve_episodes`` unless the run gives its own."""
    check_curve_attacks(cfg.curve_attacks)
    env = canonical_map(cfg.env, cfg.backend)
    layout = cfg.obs_layout
    if layout is None and cfg.init_from is not None:
        layout = Manifest(read_manifest(Path(cfg.init_from))).obs_layout
    return replace(cfg, env=env, threat=cfg.threat.resolved(paper_eps(env)),
                   obs_layout=layout or train_layout(cfg.backend),
                   n_envs=min(cfg.n_envs, max_copies(cfg.backend) or cfg.n_envs),
                   eval_episodes=cfg.eval_episodes or curve_episodes(cfg.backend))


def train(cfg: TrainConfig, curve_path: Path | None = None,
          progress: Callable[[int, int, float, dict[str, float] | None], None] | None = None,
          snapshot: SnapshotPolicy | None = None) -> TrainResult:
    """Train a protagonist with ``cfg.defense``; optionally stream the curve to CSV.  The result's
    ``config`` is the resolved configuration (``resolve_config``); ``cfg`` is not changed.

    With ``snapshot`` the run writes its whole state every ``snapshot.every`` env steps to
    ``snapshot.directory`` and, when that directory already holds a snapshot of the same resolved
    configuration, resumes from it (``robench.snapshot``: the same content hash as a run that was
    never stopped, on the same machine).

    ``progress(t_env, episodes, recent_train_win_rate, curve_row_or_None)`` is called after
    every iteration (the CLI's progress bar)."""
    if cfg.defense not in DEFENSES:
        raise KeyError(f"unknown defense {cfg.defense!r}; known: {', '.join(DEFENSES)}")
    configure_torch()
    cfg = resolve_config(cfg)
    regime = resolve_regime(cfg)
    gen = seed_everything(cfg.seed)
    env = make_env(cfg.env, cfg.n_envs, cfg.backend, cfg.device, cfg.obs_layout)
    info = env.info()
    threat = cfg.threat.bind(env.obs_low, env.obs_high, info.n_agents)
    learner = QLearner(cfg.learner, info.obs_dim, info.n_agents, info.n_actions, info.state_dim, cfg.device)
    options = DEFENSES[cfg.defense].config_for(cfg.learner.mixer, cfg.defense_options)
    defense = DEFENSES[cfg.defense](DefenseConfig(threat=threat, seed=cfg.seed, options=options, steps=cfg.steps),
                                    learner, info)
    if regime.attack_unit == "step" and regime.attack_prob < 1 and (defense.attack.learned or defense.attack.hijacks):
        raise RobenchError(f"defense {cfg.defense!r} co-trains an adversary, which learns from whole episodes "
                           f"it perturbed: attack_unit must be episode with attack_prob < 1")
    parent = None
    if cfg.init_from is not None:
        parent = Manifest(start_from(learner, Path(cfg.init_from), info))
    elif defense.PRETRAINED:
        raise RobenchError(f"defense {cfg.defense!r} fine-tunes a trained protagonist: give init_from "
                           f"(--init-from CHECKPOINT, a NoAdv run of {cfg.env} with {cfg.learner.mixer})")
    explore_start = cfg.explore_start if cfg.init_from is None else cfg.explore_resume
    buffer = ReplayBuffer(cfg.learner.buffer_size, info.episode_limit, info.n_agents, info.obs_dim,
                          info.state_dim, info.n_actions)
    curve: list[dict[str, float]] = []
    curve_env = None  # the curve's copies, built at its first point and kept for the run
    budget = StepBudget(cfg.steps, cfg.eval_every, cfg.max_wall_s)
    episodes, it = 0, 0
    recent_wins: list[float] = []
    stats: dict[str, float] = {}
    clock = dict.fromkeys(PROFILE_PARTS, 0.0)
    identity = json.loads(json.dumps({**asdict(cfg), "init_from_hash": None if parent is None else parent.content_hash},
                                     default=str))  # a fine-tune resumes only onto the same parent

    def run_state(loop: dict[str, Any]) -> dict[str, Any]:
        return {"learner": learner, "buffer": buffer, "defense": defense, "generator": gen, "loop": loop}

    if snapshot is not None:
        check_snapshot(run_state({}))
    if snapshot is not None and has_snapshot(snapshot.directory):
        loop: dict[str, Any] = {}
        read_snapshot(snapshot.directory, identity, run_state(loop))
        episodes, it, recent_wins, stats, curve = (loop[k] for k in ("episodes", "it", "recent_wins", "stats", "curve"))
        clock.update(loop["clock"])
        budget.resume(loop["t_env"], loop["next_eval"], loop["wall_s"])
    writer = None
    fh = None
    if curve_path is not None:
        fh = open(curve_path, "w", newline="")
        writer = csv.DictWriter(fh, fieldnames=CURVE_FIELDS + curve_attack_columns(cfg.curve_attacks))
        writer.writeheader()
        writer.writerows(curve)

    @contextlib.contextmanager
    def timed(part: str) -> Iterator[None]:
        since = time.perf_counter()
        yield
        clock[part] += time.perf_counter() - since

    try:
        while budget.running():
            t_env = budget.t_env
            frac = min(1.0, t_env / max(1, cfg.explore_anneal_steps))
            explore = explore_start + frac * (cfg.explore_end - explore_start)
            progress_frac = t_env / cfg.steps
            train_eps = regime.draw(defense.budget(progress_frac) * regime.warmup(progress_frac), gen)
            seed = cfg.seed * 1_000_003 + it
            if defense.protagonist_frozen(t_env):
                with timed("adversary"):
                    out = defense.adversary_round(env, learner.agent, train_eps, seed, gen)
            else:
                in_env = clock["env"]
                with timed("acting"):
                    out, batch = run_episodes(env, learner.agent, seed=seed, attack=defense.attack, eps=train_eps,
                                              explore=explore, generator=gen, record=True,
                                              attack_prob=regime.attack_prob, attack_unit=regime.attack_unit,
                                              clock=clock)
                clock["acting"] -= clock["env"] - in_env  # the env's own seconds are counted apart
                assert batch is not None
                with timed("learner"):
                    buffer.insert(stored(batch, regime.replay))
                with timed("adversary"):
                    defense.after_rollout(batch, t_env)
                with timed("learner"):
                    if len(buffer) >= cfg.learner.batch_size:
                        for _ in range(cfg.updates_per_rollout):
                            stats = learner.train(buffer.sample(cfg.learner.batch_size, gen).to(cfg.device),
                                                  progress=progress_frac, generator=gen,
                                                  extra_losses=defense.extra_losses)
            it += 1
            due = budget.advance(int(out.length.sum()))
            t_env = budget.t_env
            episodes += env.batch_size
            recent_wins = (recent_wins + out.won.float().tolist())[-200:]
            learner.maybe_update_targets(episodes)
            row = None
            if due:
                with timed("evaluation"):
                    if curve_env is None:
                        curve_env = eval_env(cfg.env, cfg.eval_episodes, cfg.backend, cfg.device, cfg.obs_layout)
                    cells = {name: evaluate(learner.policy_agent, cfg.env, backend=cfg.backend, attack=name,
                                            threat=cfg.threat, obs_layout=cfg.obs_layout, episodes=cfg.eval_episodes,
                                            seed=10_000_019 + t_env, device=cfg.device, env=curve_env)[0]
                             for name in (CLEAN, *cfg.curve_attacks)}  # the same episodes (seed) under each
                clean = cells.pop(CLEAN)
                attacked = dict(zip(curve_attack_columns(list(cells)),
                                    (v for res in cells.values() for v in (res.win_rate, res.mean_return))))
                win, ret = clean.win_rate, clean.mean_return
                row = {"t_env": t_env, "episodes": episodes, "wall_s": round(budget.wall_s(), 2),
                       "explore": round(explore, 4), "train_eps": train_eps,
                       "train_win_rate": sum(recent_wins) / len(recent_wins), "eval_win_rate": win,
                       "eval_return": ret, "eval_crash_rate": clean.crash_rate,
                       "td_loss": stats.get("td_loss", float("nan")), "grad_norm": stats.get("grad_norm", float("nan")),
                       **attacked}
                curve.append(row)
                if writer is not None:
                    writer.writerow(row)
                    fh.flush()
            if snapshot is not None and budget.running() and t_env // snapshot.every > (t_env - int(out.length.sum())) // snapshot.every:
                try:
                    write_snapshot(snapshot.directory, identity, run_state(
                        {"t_env": t_env, "next_eval": budget.next_eval, "wall_s": budget.wall_s(), "episodes": episodes,
                         "it": it, "recent_wins": recent_wins, "stats": stats, "curve": curve, "clock": clock}))
                except OSError as err:  # a full disk costs the resume point, not the run
                    print(f"robench: warning: no snapshot at {t_env} env steps ({err}); training goes on",
                          file=sys.stderr, flush=True)
            if progress is not None:
                progress(t_env, episodes, sum(recent_wins) / len(recent_wins), row)
            if budget.out_of_time or (row is not None and cfg.stop_win_rate is not None
                               and row["eval_win_rate"] >= cfg.stop_win_rate):
                break
    finally:
        if fh is not None:
            fh.close()
    wall_s = budget.wall_s()
    profile = {part: round(seconds, 2) for part, seconds in clock.items()}
    profile["other"] = round(wall_s - sum(clock.values()), 2)
    return TrainResult(learner=learner, adversaries=defense.adversaries(), regime=regime,
                       resolved_options=defense.config.to_dict(),
                       t_env=budget.t_env, episodes=episodes,
                       wall_s=wall_s, curve=curve, config=cfg, parent=parent, profile=profile)
