"""Training a learned adversary against a fixed victim (``robench attack train``), and its
checkpoints.  The victim acts greedily on the perturbed observations; the adversary perturbs
with exploration and learns from every recorded batch (reward −r on the clean stream).
Every ``eval_every`` env steps the victim's greedy win rate under the greedy adversary is
logged — the adversary's training curve.
"""
from __future__ import annotations

import csv
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch

from attacks import ATTACKS, Attack
from robench.budget import RunSettings, StepBudget
from robench.checkpoint import CheckpointError, env_info_from_manifest, read_manifest, read_tensors, save_checkpoint
from robench.envs import BatchedEnv, EnvInfo, make_env, paper_eps
from robench.learners.agent import Agent
from robench.manifest import Manifest, adversary_manifest
from robench.method_config import MethodConfig, make
from robench.rollout import Outcomes, run_episodes
from robench.runtime import configure_torch, seed_everything
from robench.threat import DEFAULT_THREAT, ThreatModel

LEARNED: dict[str, type[Attack]] = {name: cls for name, cls in ATTACKS.items() if cls.learned}
"""The learned attacks of the registry (each with ``Config``, ``build``, ``learn``, ``state_dict``)."""


@dataclass
class AttackTrainConfig(RunSettings):
    """One adversary training run against a fixed victim: the run's settings (``RunSettings``:
    seed, copies, time limit, device), and the attack's own (``options``, an instance of
    ``LEARNED[attack].Config``)."""

    attack: str = "paad"
    """The learned attack (a ``LEARNED`` name)."""
    steps: int = 200_000
    """Env steps."""
    eval_every: int = 20_000
    """Env steps between points of the adversary's curve (the victim under the greedy adversary)."""
    eval_episodes: int = 200
    """Episodes per curve point."""
    threat: ThreatModel = DEFAULT_THREAT
    """The adversary's threat model while it trains (``robench.threat``): its ε (None = the paper's
    for the victim's map) and how ô is kept in range."""
    options: MethodConfig | None = None
    """The attack's own settings (None = its ``Config``'s defaults)."""

    def __post_init__(self) -> None:
        if self.attack not in LEARNED:
            raise KeyError(f"unknown learned attack {self.attack!r}; known: {', '.join(LEARNED)}")
        kind = LEARNED[self.attack].Config
        if self.options is None:
            self.options = kind()
        elif not isinstance(self.options, kind):
            raise TypeError(f"{self.attack} takes {kind.__name__} options, not {type(self.options).__name__}")


def build(name: str, info: EnvInfo, seed: int, device: str = "cpu", options: AttackTrainConfig | None = None) -> Attack:
    """A fresh learned adversary ``name``, configured by ``options.options`` (its class's
    ``Config``); ``options.steps`` spans the schedules of the MAPPO policies (lr decay)."""
    run = options or AttackTrainConfig(attack=name)
    return LEARNED[name].build(info, run.options, torch.Generator().manual_seed(seed), device, run.steps)


def victim_architecture(cfg: AttackTrainConfig, victim_manifest: dict[str, Any]) -> AttackTrainConfig:
    """``cfg`` with the attack's settings fitted to the victim (``for_victim``: PAAD's director
    takes the victim's mixer and agent network, App. H.2)."""
    return replace(cfg, options=cfg.options.for_victim(Manifest(victim_manifest).learner_config))


def attack_train_config(manifest: dict[str, Any]) -> AttackTrainConfig:
    """The ``AttackTrainConfig`` an adversary manifest records.  Manifests written before attacks
    owned their settings hold them flat beside the run's; their keys are read by name."""
    record = Manifest(manifest)
    config = record.config
    kind = LEARNED[record.attack].Config
    recorded = config.pop("options", None)
    if recorded is None:
        recorded = config
    known = kind.defaults()
    options = make(kind, {k: v for k, v in recorded.items() if k in known}, f"attack {record.attack!r}")
    run = {f.name for f in fields(AttackTrainConfig)} - {"attack", "options", "threat"}
    threat = ThreatModel.from_dict(config["threat"]) if "threat" in config else DEFAULT_THREAT
    return AttackTrainConfig(attack=record.attack, options=options, threat=threat,
                             **{k: v for k, v in config.items() if k in run})


def adversary_round(env: BatchedEnv, victim: Agent, adversary: Attack, eps: float, seed: int,
                    generator: torch.Generator) -> tuple[Outcomes, dict[str, float]]:
    """One adversary-training round against a fixed victim: B episodes in which the greedy victim
    acts on the exploring adversary's ô (the adversary bound to its threat model on ``env``), then
    one ``learn`` on that batch.  The step of ``robench attack train`` and of a defense's
    adversary-only phase (ATLA)."""
    was_training, adversary.training = adversary.training, True
    out, batch = run_episodes(env, victim, seed=seed, attack=adversary, eps=eps, generator=generator, record=True)
    stats = adversary.learn(batch)
    adversary.training = was_training
    return out, stats


CURVE_FIELDS = ["t_env", "wall_s", "victim_win_rate", "victim_return", "victim_crash_rate"]


def victim_outcome(victim: Agent, adversary, info: EnvInfo, eps: float, episodes: int, seed: int) -> dict[str, float]:
    """The victim's win rate, mean return and crash rate under the (bound) adversary (one batch of episodes)."""
    env = make_env(info.map_name, episodes, info.backend, obs_layout=info.obs_layout)
    out, _ = run_episodes(env, victim, seed, attack=adversary, eps=eps)
    return {"victim_win_rate": float(out.won.float().mean()), "victim_return": float(out.episode_return.mean()),
            "victim_crash_rate": float(out.crashed.float().mean())}


def train_adversary(cfg: AttackTrainConfig, victim: Agent, victim_manifest: dict[str, Any], out: Path,
                    progress: Callable[[int, dict | None], None] | None = None, overwrite: bool = False) -> dict:
    """Train ``cfg.attack`` against ``victim`` and write the adversary checkpoint to ``out``."""
    configure_torch()
    gen = seed_everything(cfg.seed)
    info = env_info_from_manifest(victim_manifest)
    cfg = replace(victim_architecture(cfg, victim_manifest), threat=cfg.threat.resolved(paper_eps(info.map_name)))
    eps = cfg.threat.eps
    adversary = build(cfg.attack, info, cfg.seed, cfg.device, cfg)
    env = make_env(info.map_name, cfg.n_envs, info.backend, cfg.device, info.obs_layout)
    adversary.bind(cfg.threat.bind(env.obs_low, env.obs_high, info.n_agents))
    curve: list[dict[str, float]] = []
    budget = StepBudget(cfg.steps, cfg.eval_every, cfg.max_wall_s)
    it = 0
    while budget.running():
        res, _ = adversary_round(env, victim, adversary, eps, cfg.seed * 1_000_003 + it, gen)
        it += 1
        row = None
        if budget.advance(int(res.length.sum())):
            row = {"t_env": budget.t_env, "wall_s": round(budget.wall_s(), 2),
                   **victim_outcome(victim, adversary, info, eps, cfg.eval_episodes, 7_777 + budget.t_env)}
            curve.append(row)
        if progress:
            progress(budget.t_env, row)
        if budget.out_of_time:
            break
    victim_record = Manifest(victim_manifest)
    manifest = adversary_manifest(cfg.attack, adversary.director_kind, asdict(cfg), info, victim_record.content_hash,
                                  victim_record.learner, eps,
                                  budget.t_env, budget.wall_s(),
                                  curve[-1]["victim_win_rate"], final_victim_return=curve[-1]["victim_return"],
                                  final_victim_crash_rate=curve[-1]["victim_crash_rate"])
    with tempfile.TemporaryDirectory(prefix="robench-adv-") as tmp:
        curve_file = Path(tmp) / "train_curve.csv"
        with open(curve_file, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=CURVE_FIELDS)
            writer.writeheader()
            writer.writerows(curve)
        return save_checkpoint(out, adversary.state_dict(), manifest, extra_files={"train_curve.csv": curve_file},
                               overwrite=overwrite)


def load_adversary(path: Path, info: EnvInfo, device: str = "cpu", seed: int = 0) -> Attack:
    """Rebuild a learned adversary from its checkpoint (validated, hash-checked)."""
    manifest = read_manifest(path)
    m = Manifest(manifest)
    if m.is_protagonist:
        raise CheckpointError(f"{path} is a {m.kind!r} checkpoint, not an adversary")
    theirs = env_info_from_manifest(manifest)
    if (theirs.n_agents, theirs.obs_dim, theirs.n_actions) != (info.n_agents, info.obs_dim, info.n_actions):
        raise CheckpointError(f"{path} was trained on {theirs.map_name}, not {info.map_name}")
    adversary = build(m.attack, info, seed, device, attack_train_config(manifest))
    try:
        adversary.load_state_dict(read_tensors(path, manifest))
    except CheckpointError as err:
        raise CheckpointError(f"{path}: tensors do not fit the {m.attack} director ({err})") from None
    adversary.name = m.attack
    return adversary
