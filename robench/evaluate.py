"""``evaluate``: the one evaluation entry point (RobustBench style) — plain numbers out.

A cell = (protagonist, attack, threat model, episodes, seed).  All E episodes run as one batch of E
environments through :func:`robench.rollout.run_episodes`; the greedy protagonist acts on
the attacked observations.  Win rate gets a 95 % Wilson score interval:
    centre = (p̂ + z²/2n) / (1 + z²/n),  half = z √(p̂(1−p̂)/n + z²/4n²) / (1 + z²/n),  z = 1.96.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from attacks import CLEAN, Attack, make_attack
from robench.envs import BatchedEnv, EnvInfo, make_env, max_copies
from robench.errors import RobenchError
from robench.learners.agent import Agent
from robench.rollout import Outcomes, run_episodes
from robench.threat import NO_THREAT, ThreatModel


@dataclass
class EvalResult:
    """Summary of one evaluation cell (``--json`` prints ``to_dict``: these numbers and the cell's
    threat model's ε, M, bounds and features, flat)."""

    win_rate: float
    ci_low: float
    ci_high: float
    mean_return: float
    std_return: float
    crash_rate: float
    mean_length: float
    episodes: int
    attack: str
    seed: int
    threat: ThreatModel
    """The cell's threat model."""

    @property
    def eps(self) -> float:
        return float(self.threat.eps or 0.0)

    @property
    def bounds(self) -> str:
        return self.threat.bounds

    def to_dict(self) -> dict:
        out = asdict(self)
        threat = out.pop("threat")
        seed = out.pop("seed")
        return {**out, "eps": self.eps, "seed": seed, "attacked_agents": threat["attacked_agents"],
                "bounds": threat["bounds"], "features": threat["features"]}


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a binomial proportion."""
    if n <= 0:
        raise ValueError("n must be positive")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def summarise(out: Outcomes, attack: str, threat: ThreatModel, seed: int) -> EvalResult:
    n = int(out.won.numel())
    wins = int(out.won.sum())
    lo, hi = wilson_interval(wins, n)
    ret = out.episode_return.double()
    return EvalResult(win_rate=wins / n, ci_low=lo, ci_high=hi, mean_return=float(ret.mean()),
                      std_return=float(ret.std(unbiased=False)), crash_rate=float(out.crashed.float().mean()),
                      mean_length=float(out.length.double().mean()), episodes=n, attack=attack, seed=seed,
                      threat=threat)


def evaluate(agent: Agent, map_name: str, *, backend: str = "smax", attack: str = CLEAN,
             threat: ThreatModel = NO_THREAT, episodes: int = 500, seed: int = 0,
             device: str | torch.device = "cpu", batch_size: int | None = None, adversary: Attack | None = None,
             obs_layout: str | None = None, env: BatchedEnv | None = None) -> tuple[EvalResult, Outcomes]:
    """Evaluate ``agent`` for ``episodes`` episodes under ``attack`` within ``threat`` (its ε, the
    attacked set M — the others keep their clean observations —, the range K of ô and the
    coordinates it may touch: ``robench.threat``).

    ``batch_size`` < ``episodes`` (or the backend's ``max_copies``) splits the cell into sequential batches (the one-at-a-time
    evaluator of ``robench bench`` is ``batch_size=1``); seeds differ per batch.  Learned
    attacks take their loaded ``adversary`` (its director is fixed; its gradient step uses
    ``agent``, so it transfers to any protagonist of the same environment).  ``obs_layout`` is the
    env's observation layout (None = the backend's own).  ``env``: copies of
    that map, backend and layout kept by the caller (``eval_env``) for repeated evaluations (a
    training curve: StarCraft II games are not relaunched at every point); its batch size is
    the cell's batch size."""
    if episodes <= 0:
        raise ValueError("episodes must be positive")
    if threat.eps is None:
        raise RobenchError("the threat model's eps is not resolved (ThreatModel.resolved)")
    env = env if env is not None else eval_env(map_name, episodes, backend, device, obs_layout, batch_size)
    bs = env.batch_size
    check_fits(agent, env.info())
    adversary = make_attack(attack, seed=seed, adversary=adversary,
                            threat=threat.bind(env.obs_low, env.obs_high, env.info().n_agents))
    parts = []
    for start in range(0, episodes, bs):
        out, _ = run_episodes(env, agent, seed=seed * 7_919 + start, attack=adversary, eps=threat.eps)
        parts.append(out)
    merged = Outcomes(*(torch.cat([getattr(p, f) for p in parts])[:episodes]
                        for f in ("won", "episode_return", "crashed", "length")))
    return summarise(merged, attack, threat, seed), merged


def eval_env(map_name: str, episodes: int, backend: str = "smax", device: str | torch.device = "cpu",
             obs_layout: str | None = None, batch_size: int | None = None) -> BatchedEnv:
    """The copies an evaluation of ``episodes`` runs on (``evaluate`` builds them, or takes them
    as ``env=`` from a caller that keeps them): all episodes at once unless ``batch_size`` or the
    backend's ``max_copies`` is smaller."""
    bs = episodes if batch_size is None else min(batch_size, episodes)
    return make_env(map_name, min(bs, max_copies(backend) or bs), backend, device, obs_layout)


def check_fits(agent: Agent, info: EnvInfo) -> None:
    """One clear error, before any rollout, when the agent's sizes are not the environment's."""
    mine = (agent.n_agents, agent.obs_dim, agent.n_actions)
    theirs = (info.n_agents, info.obs_dim, info.n_actions)
    if mine != theirs:
        raise RobenchError(f"the protagonist has (agents, obs dim, actions) = {mine} but {info.map_name}/{info.backend} "
                           f"has {theirs}: checkpoint and environment do not match")
