"""``evaluate``: the one evaluation entry point (RobustBench style) — plain numbers out.

A cell = (protagonist, attack, ε, episodes, seed).  All E episodes run as one batch of E
environments through :func:`robench.rollout.run_episodes`; the greedy protagonist acts on
the attacked observations.  Win rate gets a 95 % Wilson score interval:
    centre = (p̂ + z²/2n) / (1 + z²/n),  half = z √(p̂(1−p̂)/n + z²/4n²) / (1 + z²/n),  z = 1.96.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from attacks import Attack, make_attack
from robench.envs import BatchedEnv, EnvInfo, make_env, max_copies
from robench.errors import RobenchError
from robench.learners.agent import Agent
from robench.rollout import Outcomes, run_episodes
from robench.threat import DEFAULT_BOUNDS, ThreatModel, feature_mask


@dataclass
class EvalResult:
    """Summary of one evaluation cell (``--json`` prints exactly these keys)."""

    win_rate: float
    ci_low: float
    ci_high: float
    mean_return: float
    std_return: float
    crash_rate: float
    mean_length: float
    episodes: int
    attack: str
    eps: float
    seed: int
    attacked_agents: list[int] | None = None
    """The attacked set M (agent indices); None = every agent."""
    bounds: str = DEFAULT_BOUNDS
    """How ô was kept in range (``robench.threat``)."""
    features: list[int] | None = None
    """The coordinates the attack could touch; None = all."""

    @property
    def threat(self) -> ThreatModel:
        """The cell's threat model."""
        m = None if self.attacked_agents is None else tuple(self.attacked_agents)
        f = None if self.features is None else tuple(self.features)
        return ThreatModel(eps=self.eps, bounds=self.bounds, attacked_agents=m, features=f)

    def to_dict(self) -> dict:
        return asdict(self)


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a binomial proportion."""
    if n <= 0:
        raise ValueError("n must be positive")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def summarise(out: Outcomes, attack: str, eps: float, seed: int, attacked_agents: list[int] | None = None,
              bounds: str = DEFAULT_BOUNDS, features: list[int] | None = None) -> EvalResult:
    n = int(out.won.numel())
    wins = int(out.won.sum())
    lo, hi = wilson_interval(wins, n)
    ret = out.episode_return.double()
    return EvalResult(win_rate=wins / n, ci_low=lo, ci_high=hi, mean_return=float(ret.mean()),
                      std_return=float(ret.std(unbiased=False)), crash_rate=float(out.crashed.float().mean()),
                      mean_length=float(out.length.double().mean()), episodes=n, attack=attack, eps=float(eps),
                      seed=seed, attacked_agents=attacked_agents, bounds=bounds, features=features)


def evaluate(agent: Agent, map_name: str, *, backend: str = "smax", attack: str = "none", eps: float = 0.0,
             episodes: int = 500, seed: int = 0, device: str | torch.device = "cpu",
             batch_size: int | None = None, adversary: Attack | None = None,
             attacked_agents: list[int] | None = None, bounds: str = DEFAULT_BOUNDS,
             obs_layout: str | None = None, features: list[int] | None = None,
             env: BatchedEnv | None = None) -> tuple[EvalResult, Outcomes]:
    """Evaluate ``agent`` for ``episodes`` episodes under ``attack`` at budget ``eps``.

    ``batch_size`` < ``episodes`` (or the backend's ``max_copies``) splits the cell into sequential batches (the one-at-a-time
    evaluator of ``robench bench`` is ``batch_size=1``); seeds differ per batch.  Learned
    attacks take their loaded ``adversary`` (its director is fixed; its gradient step uses
    ``agent``, so it transfers to any protagonist of the same environment).  ``attacked_agents``
    is the attacked set M (the others keep their clean observations); None = all agents; ``bounds``
    the range of ô (``robench.threat``), ``features`` the coordinates the attack may touch (None =
    all; the others keep their clean values): together with ε they are the cell's threat model;
    ``obs_layout`` the env's observation layout (None = the backend's own).  ``env``: copies of
    that map, backend and layout kept by the caller (``eval_env``) for repeated evaluations (a
    training curve: StarCraft II games are not relaunched at every point); its batch size is
    the cell's batch size."""
    if episodes <= 0:
        raise ValueError("episodes must be positive")
    env = env if env is not None else eval_env(map_name, episodes, backend, device, obs_layout, batch_size)
    bs = env.batch_size
    threat = ThreatModel(eps=float(eps), bounds=bounds,
                         attacked_agents=None if attacked_agents is None else tuple(attacked_agents),
                         features=None if features is None else tuple(features))
    check_fits(agent, env.info())
    limits = threat.limits(env.obs_low, env.obs_high)
    adversary = make_attack(attack, seed=seed, adversary=adversary,
                            attacked_agents=attacked_mask(attacked_agents, env.info().n_agents),
                            features=feature_mask(threat.features, env.info().obs_dim))
    parts = []
    for start in range(0, episodes, bs):
        out, _ = run_episodes(env, agent, seed=seed * 7_919 + start, attack=adversary, eps=eps, limits=limits)
        parts.append(out)
    merged = Outcomes(*(torch.cat([getattr(p, f) for p in parts])[:episodes]
                        for f in ("won", "episode_return", "crashed", "length")))
    return summarise(merged, attack, eps, seed, attacked_agents, bounds, features), merged


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


def attacked_mask(agents: list[int] | None, n_agents: int) -> torch.Tensor | None:
    """The attacked set M as a [N] bool mask (None = all agents); indices must lie in [0, N)."""
    if agents is None:
        return None
    bad = [i for i in agents if not 0 <= i < n_agents]
    if bad or not agents:
        raise RobenchError(f"attacked agents must be a non-empty subset of 0..{n_agents - 1}, got {agents}")
    mask = torch.zeros(n_agents, dtype=torch.bool)
    mask[list(agents)] = True
    return mask
