"""Training a learned adversary against a fixed victim (``robench attack train``), and its
checkpoints.  The victim acts greedily on the perturbed observations; the adversary perturbs
with exploration and learns from every recorded batch (reward −r on the clean stream).
Every ``eval_every`` env steps the victim's greedy win rate under the greedy adversary is
logged — the adversary's training curve.
"""
from __future__ import annotations

import csv
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch

from attacks.atla import ATLA
from attacks.atsa import ATSA, SDorConfig
from attacks.mappo import MAPPOConfig
from attacks.paad import PAAD, PAADDirection
from attacks.romance import Romance, RomanceConfig, RomanceSteered
from robench.checkpoint import CheckpointError, env_info_from_manifest, read_manifest, read_tensors, save_checkpoint
from robench.envs import BatchedEnv, EnvInfo, make_env, paper_eps
from robench.learners.agent import Agent
from robench.learners.learner import LearnerConfig
from robench.manifest import learner_config
from robench.rollout import Outcomes, run_episodes
from robench.runtime import configure_torch, seed_everything
from robench.threat import DEFAULT_BOUNDS, ThreatModel, limits

LEARNED = {"atla": ATLA, "paad": PAAD, "atsa": ATSA, "romance": Romance, "romance-s": RomanceSteered}
"""Learned attacks: name → class (each with ``learn``, ``state_dict``, ``load_state_dict``)."""
REPLAY_LEARNED = ("paad", "atsa", "romance", "romance-s")
"""Learned attacks that learn from a replay buffer: ``AttackTrainConfig.updates_per_batch`` sets their gradient steps."""


@dataclass
class AttackTrainConfig:
    """One adversary training run against a fixed victim."""

    attack: str = "paad"
    eps: float | None = None
    """Training budget (None = the paper's for the victim's map)."""
    steps: int = 200_000
    """Env steps."""
    n_envs: int = 32
    seed: int = 0
    eval_every: int = 20_000
    eval_episodes: int = 200
    max_wall_s: float | None = None
    device: str = "cpu"
    bounds: str = DEFAULT_BOUNDS
    """How ô is kept in range while the adversary trains (``robench.threat``)."""
    kappa: float = 0.005
    """ATSA: weight κ of the SDor-STor loss."""
    alpha: float | None = None
    """ATSA: fixed temperature (None = FOP's schedule)."""
    value: str = "closed_form"
    """ATSA: per-agent soft values in closed form (FOP) or a ``network`` trained by Eq. 9."""
    director: str = "target"
    """PAAD: ``target`` (target-action director) or ``direction`` (original PA-AD)."""
    squash: bool = False
    """ATLA: δ = ε·tanh(u) instead of ε·clip(u, −1, 1)."""
    reward_scale: float = 10.0
    """ATSA: SDor learns from r̂ = −scale·r.  SMAX's episode return is at most ≈ 2 where SMAC's is
    normalised to 20; FOP's α schedule and the paper's κ were tuned on SMAC's scale, so SDor sees
    SMAX rewards ×10 (the protagonist's own rewards are unchanged)."""
    director_mixer: str = "vdn"
    """PAAD: the director's mixer — the victim's (App. H.2: the protagonist's architecture)."""
    director_agent: str = "rnn"
    """PAAD: the director's agent network — the victim's."""
    updates_per_batch: int = 4
    """``REPLAY_LEARNED`` (PAAD, ATSA, ROMANCE): gradient steps of the director (attackers) per recorded batch
    of episodes; PAAD's ``direction`` director is a MAPPO policy and ignores it."""
    members: int = 4
    """ROMANCE: attackers in the population (each episode is attacked by one)."""
    attack_num: int = 6
    """ROMANCE: hijacks per episode."""
    penalty: float = 0.5
    """ROMANCE: attacker reward penalty per hijack."""
    diversity: float = 1.2
    """ROMANCE: β of the attackers' diversity term."""


Adversary = ATLA | PAAD | PAADDirection | ATSA | Romance | RomanceSteered
PAAD_DIRECTORS = {"target": PAAD, "direction": PAADDirection}
"""PAAD's director: the target-action Q-learner (default) or the original PA-AD direction policy."""


def build(name: str, info: EnvInfo, seed: int, device: str = "cpu", options: AttackTrainConfig | None = None) -> Adversary:
    """A fresh learned adversary ``name``, configured by ``options`` (κ, α, value, reward scale of
    ATSA; the director and its architecture of PAAD; ROMANCE's population size, budget, penalty
    and diversity weight; ``steps`` sets the learning-rate decay of the MAPPO policies)."""
    if name not in LEARNED:
        raise KeyError(f"unknown learned attack {name!r}; known: {', '.join(LEARNED)}")
    opt = options or AttackTrainConfig(attack=name)
    gen = torch.Generator().manual_seed(seed)
    mappo = MAPPOConfig(anneal_steps=opt.steps)
    if name == "atsa":
        sdor = SDorConfig(kappa=opt.kappa, alpha=opt.alpha, value=opt.value, reward_scale=opt.reward_scale,
                          updates_per_batch=opt.updates_per_batch)
        return ATSA(info, generator=gen, cfg=sdor, device=device)
    if name in ("romance", "romance-s"):
        return LEARNED[name](info, generator=gen, device=device,
                       cfg=RomanceConfig(members=opt.members, attack_num=opt.attack_num, penalty=opt.penalty,
                                         reward_scale=opt.reward_scale, diversity=opt.diversity,
                                         updates_per_batch=opt.updates_per_batch))
    if name == "atla":
        return ATLA(info, generator=gen, cfg=mappo, device=device, squash=opt.squash)
    if opt.director not in PAAD_DIRECTORS:
        raise KeyError(f"unknown PAAD director {opt.director!r}; known: {', '.join(PAAD_DIRECTORS)}")
    if opt.director == "direction":
        return PAADDirection(info, generator=gen, cfg=mappo, device=device)
    return PAAD(info, generator=gen, device=device, updates_per_batch=opt.updates_per_batch,
                learner=LearnerConfig(mixer=opt.director_mixer, agent=opt.director_agent))


def victim_architecture(cfg: AttackTrainConfig, victim_manifest: dict[str, Any]) -> AttackTrainConfig:
    """``cfg`` with PAAD's director given the victim's mixer and agent network (App. H.2)."""
    return replace(cfg, director_mixer=victim_manifest["learner"], director_agent=learner_config(victim_manifest).agent)


def adversary_round(env: BatchedEnv, victim: Agent, adversary: Adversary, eps: float, seed: int,
                    generator: torch.Generator, bounds: str = DEFAULT_BOUNDS) -> tuple[Outcomes, dict[str, float]]:
    """One adversary-training round against a fixed victim: B episodes in which the greedy victim
    acts on the exploring adversary's ô, then one ``learn`` on that batch.  The step of
    ``robench attack train`` and of a defense's adversary-only phase (ATLA)."""
    was_training, adversary.training = adversary.training, True
    out, batch = run_episodes(env, victim, seed=seed, attack=adversary, eps=eps, generator=generator, record=True,
                              limits=limits(bounds, env.obs_low, env.obs_high))
    stats = adversary.learn(batch)
    adversary.training = was_training
    return out, stats


def adversary_manifest(adversary: Adversary, cfg: AttackTrainConfig, info: EnvInfo, victim_manifest: dict[str, Any],
                       eps: float, t_env: int, wall_s: float, final_victim_win_rate: float,
                       **provenance: Any) -> dict[str, Any]:
    """The manifest of an adversary checkpoint (``provenance``: e.g. ``co_trained_by``, the victim's
    final return and crash rate)."""
    return {"kind": "adversary", "attack": cfg.attack, "env": asdict(info), "learner": adversary.director_kind,
            "victim": victim_manifest["content_hash"], "victim_learner": victim_manifest["learner"], "eps": eps,
            "seed": cfg.seed, "steps": t_env, "wall_time_s": round(wall_s, 2),
            "final_victim_win_rate": final_victim_win_rate, "config": asdict(cfg),
            "threat": ThreatModel(eps=eps, bounds=cfg.bounds).to_dict(), **provenance}


CURVE_FIELDS = ["t_env", "wall_s", "victim_win_rate", "victim_return", "victim_crash_rate"]


def victim_outcome(victim: Agent, adversary, info: EnvInfo, eps: float, episodes: int, seed: int,
                   bounds: str = DEFAULT_BOUNDS) -> dict[str, float]:
    """The victim's win rate, mean return and crash rate under the adversary (one batch of episodes)."""
    env = make_env(info.map_name, episodes, info.backend, obs_layout=info.obs_layout)
    out, _ = run_episodes(env, victim, seed, attack=adversary, eps=eps, limits=limits(bounds, env.obs_low, env.obs_high))
    return {"victim_win_rate": float(out.won.float().mean()), "victim_return": float(out.episode_return.mean()),
            "victim_crash_rate": float(out.crashed.float().mean())}


def train_adversary(cfg: AttackTrainConfig, victim: Agent, victim_manifest: dict[str, Any], out: Path,
                    progress: Callable[[int, dict | None], None] | None = None, overwrite: bool = False) -> dict:
    """Train ``cfg.attack`` against ``victim`` and write the adversary checkpoint to ``out``."""
    configure_torch()
    gen = seed_everything(cfg.seed)
    info = env_info_from_manifest(victim_manifest)
    eps = paper_eps(info.map_name) if cfg.eps is None else cfg.eps
    cfg = victim_architecture(cfg, victim_manifest)
    adversary = build(cfg.attack, info, cfg.seed, cfg.device, cfg)
    env = make_env(info.map_name, cfg.n_envs, info.backend, cfg.device, info.obs_layout)
    curve: list[dict[str, float]] = []
    t_env, it, next_eval = 0, 0, 0
    start = time.perf_counter()
    while t_env < cfg.steps:
        res, _ = adversary_round(env, victim, adversary, eps, cfg.seed * 1_000_003 + it, gen, cfg.bounds)
        it += 1
        t_env += int(res.length.sum())
        out_of_time = cfg.max_wall_s is not None and time.perf_counter() - start >= cfg.max_wall_s
        row = None
        if t_env >= next_eval or t_env >= cfg.steps or out_of_time:
            next_eval += cfg.eval_every
            row = {"t_env": t_env, "wall_s": round(time.perf_counter() - start, 2),
                   **victim_outcome(victim, adversary, info, eps, cfg.eval_episodes, 7_777 + t_env, cfg.bounds)}
            curve.append(row)
        if progress:
            progress(t_env, row)
        if out_of_time:
            break
    manifest = adversary_manifest(adversary, cfg, info, victim_manifest, eps, t_env, time.perf_counter() - start,
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


def load_adversary(path: Path, info: EnvInfo, device: str = "cpu", seed: int = 0) -> Adversary:
    """Rebuild a learned adversary from its checkpoint (validated, hash-checked)."""
    manifest = read_manifest(path)
    if manifest["kind"] != "adversary":
        raise CheckpointError(f"{path} is a {manifest['kind']!r} checkpoint, not an adversary")
    theirs = env_info_from_manifest(manifest)
    if (theirs.n_agents, theirs.obs_dim, theirs.n_actions) != (info.n_agents, info.obs_dim, info.n_actions):
        raise CheckpointError(f"{path} was trained on {theirs.map_name}, not {info.map_name}")
    known = {f.name for f in fields(AttackTrainConfig)}
    options = AttackTrainConfig(**{k: v for k, v in manifest.get("config", {}).items() if k in known})
    options.attack = manifest["attack"]
    adversary = build(manifest["attack"], info, seed, device, options)
    try:
        adversary.load_state_dict(read_tensors(path, manifest))
    except CheckpointError as err:
        raise CheckpointError(f"{path}: tensors do not fit the {manifest['attack']} director ({err})") from None
    adversary.name = manifest["attack"]
    return adversary
