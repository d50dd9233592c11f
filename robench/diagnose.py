"""Is a protagonist's robustness vacuous?  Three diagnostics no peer reports.

* **Observation dependence** (``robench diagnose``): along greedy clean episodes, the share of
  agent-steps (with ≥ 2 available actions) whose greedy action changes when the observation
  o_i is replaced by u_i ~ U(obs_low, obs_high) (the env's feature range), the recurrent
  context held fixed:  share = Σ 1[argmax_a Q_i(u_i, h_i) ≠ argmax_a Q_i(o_i, h_i)] / #steps.
  A team that ignores its observations (share near 0) is "robust" to every observation attack
  for no good reason.  Beside it, the win rate when every observation is replaced by u
  ("blind" play).
* **A mask-only reference** (:class:`MaskOnlyPolicy`): a scripted SMAC-map policy that reads
  only the available-action mask — attack the lowest-index enemy in range, else move east, else
  stop.  It ignores observations, so every observation attack leaves its win rate unchanged:
  the level a defended row reaches without reading anything (a reference row of the tables).
* **The attack's footprint** (SMAC-like maps): the win rate under ``fgsm`` and under
  ``fgsm-support`` — the same step with the coordinates that read 0 left at 0, a subset of
  ``fgsm``'s perturbation (``attacks.gradient``) — at ε, bounds ``none``.  A team that wins more
  under ``fgsm`` than under its subset owes that margin to the ±ε ``fgsm`` writes where o reads
  0: its robustness to FGSM answers the attack's pattern, not the ball (docs/evidence/fgsm-robustness.md).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from attacks.base import Attack, uniform_like
from robench.envs import declares, make_env
from robench.evaluate import evaluate
from robench.learners.agent import Agent, greedy
from robench.rollout import run_episodes
from robench.threat import NO_THREAT

MOVE_EAST, STOP, FIRST_ATTACK = 1, 4, 5
"""SMAX's ally actions: 0–3 move north, east, south, west; 4 stop; 5 + j attack enemy j."""


class MaskOnlyPolicy(nn.Module):
    """Constant utilities whose masked argmax is the scripted rule (module docstring):
    attack j gets 2 + (A − j)/A (lowest index highest), east 1, stop 0.5, other moves 0."""

    def __init__(self, obs_dim: int, n_agents: int, n_actions: int):
        super().__init__()
        self.obs_dim, self.n_agents, self.n_actions = obs_dim, n_agents, n_actions
        q = torch.zeros(n_actions)
        q[MOVE_EAST], q[STOP] = 1.0, 0.5
        j = torch.arange(n_actions - FIRST_ATTACK, dtype=torch.float32)
        q[FIRST_ATTACK:] = 2.0 + (n_actions - j) / n_actions
        self.register_buffer("q", q)

    def init_hidden(self, batch: int, device: torch.device | str = "cpu") -> torch.Tensor:
        return torch.zeros(batch, self.n_agents, 0, device=device)

    def record_actions(self, hidden: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return hidden

    def step(self, obs: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.q.expand(*obs.shape[:-1], self.n_actions), hidden


class RandomObservationProbe(Attack):
    """Passes o through unchanged (the episode stays clean) and records, per step, whether the
    greedy action on u ~ U(low, high) differs from the one on o under the same context; with
    ``replace`` the protagonist sees u instead (blind play).  ``low``/``high`` are the env's
    feature range, not a threat model: u is an observation the env could emit, not an attack."""

    name = "random-observation-probe"

    def __init__(self, low: torch.Tensor, high: torch.Tensor, generator: torch.Generator, replace: bool = False):
        super().__init__(generator)
        self.low, self.high, self.replace = low, high, replace
        self.changed: list[torch.Tensor] = []
        self.choices: list[torch.Tensor] = []

    def _uniform(self, obs: torch.Tensor) -> torch.Tensor:
        return self.low + (self.high - self.low) * uniform_like(obs, self.generator)

    def __call__(self, agent, obs, hidden, avail, eps, state=None) -> torch.Tensor:
        u = self._uniform(obs)
        if self.replace:
            return u
        q_clean, _ = agent.step(obs, hidden)
        q_rand, _ = agent.step(u, hidden)
        self.changed.append(greedy(q_clean, avail) != greedy(q_rand, avail))
        self.choices.append(avail.sum(-1) >= 2)
        return obs


@dataclass
class Diagnosis:
    """``robench diagnose``'s numbers (``--json`` prints these keys)."""

    changed_share: float
    """Share of agent-steps whose greedy action changes under a random observation."""
    agent_steps: int
    """Agent-steps counted (alive, ≥ 2 available actions, before the episode's end)."""
    clean_win_rate: float
    blind_win_rate: float
    """Win rate when every observation is replaced by a uniform random one."""
    mask_only_win_rate: float | None
    """The scripted mask-only policy's win rate on the same episodes (SMAC maps; None elsewhere)."""
    episodes: int
    footprint_eps: float | None = None
    """ε of the footprint check (bounds ``none``); None where it was not run."""
    fgsm_win_rate: float | None = None
    fgsm_support_win_rate: float | None = None
    """Win rates under ``fgsm`` and under its subset ``fgsm-support`` (SMAC maps; None elsewhere)."""

    def to_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def diagnose(agent: Agent, map_name: str, backend: str = "smax", episodes: int = 500, seed: int = 0,
             device: str | torch.device = "cpu", obs_layout: str | None = None,
             footprint_eps: float | None = None) -> Diagnosis:
    """Observation dependence, blind and clean win rates of ``agent``, the mask-only reference and,
    with ``footprint_eps``, the win rates under ``fgsm`` and ``fgsm-support`` at that ε (bounds
    ``none``).  The first three share ``episodes`` episodes (one batch each); the footprint's two
    cells are ``robench eval CKPT --attack {fgsm,fgsm-support} --eps E --bounds none --seed S``'s,
    on episodes of their own, common to both."""
    env = make_env(map_name, episodes, backend, device, obs_layout)
    gen = torch.Generator().manual_seed(seed)
    probe = RandomObservationProbe(env.obs_low, env.obs_high, gen)
    clean, batch = run_episodes(env, agent, seed=seed, attack=probe, record=True)
    assert batch is not None
    steps = batch.mask.shape[1]  # the probe also saw the observation that closes the record: not a step
    mask = batch.mask.unsqueeze(-1) & torch.stack(probe.choices[:steps], 1)
    changed = torch.stack(probe.changed[:steps], 1) & mask
    blind, _ = run_episodes(env, agent, seed=seed,
                            attack=RandomObservationProbe(env.obs_low, env.obs_high, gen, replace=True))
    d = Diagnosis(changed_share=float(changed.sum() / mask.sum().clamp(min=1)), agent_steps=int(mask.sum()),
                  clean_win_rate=float(clean.won.float().mean()), blind_win_rate=float(blind.won.float().mean()),
                  mask_only_win_rate=None, episodes=episodes)
    if declares(backend, "win_rate"):  # SMAC-like: the rule reads SMAC's action mask
        info = env.info()
        scripted, _ = run_episodes(env, MaskOnlyPolicy(info.obs_dim, info.n_agents, info.n_actions), seed=seed)
        d.mask_only_win_rate = float(scripted.won.float().mean())
        if footprint_eps is not None:
            d.footprint_eps = footprint_eps
            d.fgsm_win_rate, d.fgsm_support_win_rate = (
                evaluate(agent, map_name, backend=backend, attack=a, threat=NO_THREAT.at(footprint_eps),
                         episodes=episodes, seed=seed, device=device, obs_layout=obs_layout)[0].win_rate
                for a in ("fgsm", "fgsm-support"))
    return d

