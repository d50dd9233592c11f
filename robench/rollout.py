"""The one rollout engine: B environments in lockstep, one batched forward pass per step.

Used for training collection (ε-greedy, recorded) and for evaluation (greedy, E episodes as
one batch of E environments).  The only Python loop is over time steps; episodes and agents
are tensor dimensions.  Finished copies are masked (the env freezes them) and the loop ends
as soon as every copy is done.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import torch

from robench.envs.protocol import BatchedEnv, Observation
from robench.learners.agent import Agent, greedy
from robench.learners.buffer import EpisodeBatch
from robench.regime import attack_coins


class ObservationAdversary(Protocol):
    """What the rollout engine needs of an attack (``attacks.base.Attack`` implements it)."""

    hijacks: bool
    learned: bool

    def reset(self, batch_size: int) -> None: ...

    def override(self, q: torch.Tensor, actions: torch.Tensor, avail: torch.Tensor, state: torch.Tensor,
                 active: torch.Tensor) -> torch.Tensor: ...

    def __call__(self, agent: Agent, obs: torch.Tensor, hidden: torch.Tensor, avail: torch.Tensor,
                 eps: float, state: torch.Tensor | None = None) -> torch.Tensor: ...


@dataclass
class Outcomes:
    """Per-episode results of a batch of episodes."""

    won: torch.Tensor  # [B] bool
    episode_return: torch.Tensor  # [B] float32
    crashed: torch.Tensor  # [B] bool
    length: torch.Tensor  # [B] int64


def explore_actions(q: torch.Tensor, avail: torch.Tensor, explore: float, generator: torch.Generator) -> torch.Tensor:
    """ε-greedy over available actions: with probability ``explore`` a uniformly random
    available action (argmax of i.i.d. uniform scores on the available set), else greedy."""
    return epsilon_greedy(greedy(q, avail), avail, explore, generator)


def epsilon_greedy(act: torch.Tensor, avail: torch.Tensor, explore: float, generator: torch.Generator) -> torch.Tensor:
    """``act`` [B, N] (the greedy actions) replaced, with probability ``explore`` each, by a
    uniformly random available action."""
    if explore <= 0:
        return act
    scores = torch.rand(avail.shape, generator=generator, device="cpu").to(avail.device)
    random_act = scores.masked_fill(~avail, -1.0).argmax(-1)
    coin = torch.rand(act.shape, generator=generator, device="cpu").to(avail.device) < explore
    return torch.where(coin, random_act, act)


@torch.no_grad()
def run_episodes(env: BatchedEnv, agent: Agent, seed: int, *, attack: ObservationAdversary | None = None,
                 eps: float = 0.0, explore: float = 0.0, generator: torch.Generator | None = None,
                 record: bool = False, attack_prob: float = 1.0, attack_unit: str = "episode", clock: dict[str, float] | None = None,
                 ) -> tuple[Outcomes, EpisodeBatch | None]:
    """Play ``env.batch_size`` episodes to the end; optionally record them for replay.

    The protagonist acts ε-greedily (``explore``) on ô = attack(o) (or o); an action attack
    (``attack.hijacks``) then overrides some of the chosen actions before ``env.step`` and the
    executed actions are recorded.  With ``record`` the batch holds the perturbed observations
    it acted on, the clean ones, and in
    ``extras["greedy_actions"]`` its greedy action on ô at every step (what a learned adversary
    steers: ATSA's a^taken of Eq. 14 is the protagonist's policy, not its exploration noise).

    The attack is bound to its threat model on ``env`` (``Attack.bind``); ``eps`` is its radius.  With
    ``attack_prob`` p < 1 each episode (``attack_unit="episode"``) or each step of each episode
    (``"step"``) is perturbed with probability p and otherwise sees o (``robench.regime``); an
    action attack hijacks only in the perturbed ones; ``extras["attacked"]`` [B, T] records which
    steps were.  With ``clock`` the seconds spent
    inside the env (reset and steps) are added to ``clock["env"]`` (the training profile)."""
    gen = generator if generator is not None else torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    cur = env.reset(seed)
    in_env = time.perf_counter() - started
    b = env.batch_size
    device = cur.obs.device
    hidden = agent.init_hidden(b, device)
    if attack is not None:
        attack.reset(b)
    active = torch.ones(b, dtype=torch.bool, device=device)
    coin = attack_coins((b,), attack_prob, gen, device)
    length = torch.zeros(b, dtype=torch.int64, device=device)
    trace: dict[str, list[torch.Tensor]] = {k: [] for k in ("obs", "clean_obs", "state", "avail", "actions",
                                                             "reward", "terminated", "mask", "greedy_actions",
                                                             "attacked")}
    limit = env.info().episode_limit
    res = None

    def perceive(cur: Observation, hidden: torch.Tensor, coin: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(ô of this step — o where its coin says clean —, the step's coin)."""
        if attack_unit == "step":
            coin = attack_coins((b,), attack_prob, gen, device)
        seen = attack(agent, cur.obs, hidden, cur.avail, eps, cur.state)
        return (torch.where(coin.view(-1, 1, 1), seen, cur.obs) if attack_prob < 1.0 else seen), coin

    for _ in range(limit):
        seen = cur.obs
        if attack is not None:
            seen, coin = perceive(cur, hidden, coin)
        q, hidden = agent.step(seen, hidden)
        best = greedy(q, cur.avail)
        actions = epsilon_greedy(best, cur.avail, explore, gen)
        if attack is not None and attack.hijacks:
            actions = attack.override(q, actions, cur.avail, cur.state, active & coin)  # clean episodes: no hijack
        hidden = agent.record_actions(hidden, actions)
        started = time.perf_counter()
        res = env.step(actions)
        in_env += time.perf_counter() - started
        length += active.long()
        if record:
            for k, v in (("obs", seen), ("clean_obs", cur.obs), ("state", cur.state), ("avail", cur.avail),
                         ("actions", actions), ("reward", res.reward), ("terminated", res.terminated & active),
                         ("mask", active), ("greedy_actions", best),
                         ("attacked", coin & active if attack is not None else torch.zeros_like(active))):
                trace[k].append(v)
        active = ~res.done
        cur = res
        if not bool(active.any()):
            break
    assert res is not None
    if clock is not None:
        clock["env"] = clock.get("env", 0.0) + in_env
    outcomes = Outcomes(won=res.won, episode_return=res.episode_return, crashed=res.crashed, length=length)
    if not record:
        return outcomes, None
    # the observation after the last step closes every sequence (T+1 observations); a time-out
    # bootstraps from it, so it is perturbed like every other one (a learned adversary, whose
    # every call is a recorded step of its own, is not asked again: it stays clean there)
    final = cur.obs
    if attack is not None and not getattr(attack, "learned", False) and not attack.hijacks:
        final, _ = perceive(cur, hidden, coin)
    trace["obs"].append(final)
    trace["clean_obs"].append(cur.obs)
    trace["state"].append(cur.state)
    trace["avail"].append(cur.avail)
    stacked = {k: torch.stack(v, dim=1) for k, v in trace.items()}
    extras = {"greedy_actions": stacked.pop("greedy_actions"), "attacked": stacked.pop("attacked")}
    batch = EpisodeBatch(**stacked, extras=extras)
    return outcomes, batch
