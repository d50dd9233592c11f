"""Value-decomposition Q-learning (VDN / QMIX) with double-Q TD(λ) targets.

Loss on a batch of episodes, masked to real steps:
    L = mean_t (Q_tot(τ_t, a_t, s_t) − y_t)² + Σ_k extra_k
with Q_tot the mixer applied to the chosen per-agent utilities, and the λ-return target
    y_t = c r_t + γ (1 − term_t) [(1 − λ) Q̄_tot(t+1) + λ y_{t+1}],
where Q̄_tot(t+1) is the *target* mixer on target utilities at the online network's greedy
available action (double Q) and c = ``reward_scale`` (1 = the env's own reward).  λ = 0 gives
the one-step target of PyMARL; past the last step of a time-out episode the recursion
bootstraps from Q̄_tot alone.  Target networks are hard
copies refreshed every ``target_update_episodes`` episodes.

With ``policy_ema`` = β > 0 the greedy policy that is evaluated and saved is the Polyak average
of the online weights, θ̄ ← β θ̄ + (1 − β) θ after each gradient step (exploration and the TD
targets still use θ): value-based greedy policies flip between near-tied actions from one
update to the next, and the average damps that.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn

from robench.learners.agent import greedy, make_agent
from robench.learners.buffer import EpisodeBatch
from robench.learners.mixers import make_mixer


@dataclass
class LearnerConfig:
    """Protagonist learner settings (PyMARL defaults unless noted in the README)."""

    mixer: str = "vdn"
    """``vdn`` or ``qmix``."""
    agent: str = "rnn"
    """Agent network: ``rnn`` (MLP → GRU → MLP, PyMARL / the paper) or ``mlp`` (feed-forward)."""
    hidden: int = 64
    """Hidden width of the agent network."""
    last_action: bool = False
    """Feed each agent its own previous action (PyMARL's ``obs_last_action``)."""
    gamma: float = 0.99
    """Discount factor γ."""
    reward_scale: float = 1.0
    """Factor c on the team reward in the TD target, y built from c·r_t. SMAC scales a map's
    return to at most 20 (``reward_scale_rate``); SMAX's is at most 2 (health removed, summed over
    enemies and divided by their count, plus a win bonus of 1), so c = 10 puts a SMAX protagonist
    on SMAC's scale, the one PR's μ and ERNIE's λ were tuned against."""
    td_lambda: float = 0.6
    """λ of the TD(λ) target (0 = one-step PyMARL target; 0.6 = PyMARL2's tuned value)."""
    optimizer: str = "rmsprop"
    """``rmsprop`` (PyMARL) or ``adam`` (PyMARL2)."""
    lr: float = 5e-4
    """Learning rate."""
    optim_alpha: float = 0.99
    """RMSprop smoothing constant."""
    optim_eps: float = 1e-5
    """RMSprop ε."""
    grad_clip: float = 10.0
    """Global gradient-norm clip."""
    batch_size: int = 32
    """Episodes per gradient step."""
    buffer_size: int = 5000
    """Replay capacity in episodes."""
    target_update_episodes: int = 200
    """Hard target-network refresh period, in collected episodes."""
    double_q: bool = True
    """Select the bootstrap action with the online network (double Q-learning)."""
    policy_ema: float = 0.0
    """Decay β of the Polyak-averaged *policy* weights θ̄ ← β θ̄ + (1 − β) θ after every gradient
    step; the greedy policy that is evaluated and saved is θ̄ (0 = the online weights θ)."""


OPTIMIZERS = ("rmsprop", "adam")

@dataclass
class LossContext:
    """What a defense's extra loss term sees at one gradient step (``ExtraLoss``)."""

    learner: "QLearner"
    batch: EpisodeBatch
    """The replay sample (``obs`` = what the protagonist acted on)."""
    q: torch.Tensor
    """Online utilities Q [B, T+1, N, A] on ``batch.obs`` (with gradient)."""
    context: torch.Tensor
    """The agent context each step started from, [B, T+1, N, M(+A)] (``Agent.unroll_with_context``)."""
    progress: float
    """Training progress in [0, 1] (schedules: PR-REP's sawtooth, ε ramps)."""
    generator: torch.Generator
    """Seeded generator for the term's own randomness (random starts, noise)."""


ExtraLoss = Callable[[LossContext], torch.Tensor]
"""A defense's extra loss term: ``LossContext`` → scalar added to the TD loss."""


def lambda_returns(reward: torch.Tensor, terminated: torch.Tensor, mask: torch.Tensor,
                   target_q: torch.Tensor, gamma: float, lam: float) -> torch.Tensor:
    """λ-returns y [B, T] from reward/terminated/mask [B, T] and bootstrap values [B, T+1].

    ``target_q[:, t]`` is the value of the state *after* step t-1, i.e. of observation t.
    """
    b, t = reward.shape
    cont = (~terminated).float()
    # beyond the episode's last step there is no y_{t+1}: use the bootstrap value itself
    nxt_in_episode = torch.cat([mask[:, 1:], torch.zeros(b, 1, dtype=torch.bool, device=mask.device)], 1)
    y = torch.zeros_like(reward)
    g = target_q[:, t]
    for i in reversed(range(t)):
        boot = target_q[:, i + 1]
        g_next = torch.where(nxt_in_episode[:, i], g, boot)
        g = reward[:, i] + gamma * cont[:, i] * ((1 - lam) * boot + lam * g_next)
        y[:, i] = g
    return y


class QLearner:
    """Owns the agent, the mixer, their targets and the optimiser; one ``train`` call = one step."""

    def __init__(self, cfg: LearnerConfig, obs_dim: int, n_agents: int, n_actions: int, state_dim: int,
                 device: torch.device | str = "cpu"):
        self.cfg = cfg
        self.device = torch.device(device)
        self.agent = make_agent(cfg.agent, obs_dim, n_agents, n_actions, cfg.hidden, cfg.last_action).to(self.device)
        self.mixer = make_mixer(cfg.mixer, n_agents, state_dim).to(self.device)
        self.target_agent = copy.deepcopy(self.agent)
        self.target_mixer = copy.deepcopy(self.mixer)
        self.params = list(self.agent.parameters()) + list(self.mixer.parameters())
        if cfg.optimizer == "rmsprop":
            self.optimiser = torch.optim.RMSprop(self.params, lr=cfg.lr, alpha=cfg.optim_alpha, eps=cfg.optim_eps)
        elif cfg.optimizer == "adam":
            self.optimiser = torch.optim.Adam(self.params, lr=cfg.lr)
        else:
            raise KeyError(f"unknown optimizer {cfg.optimizer!r}; known: {', '.join(OPTIMIZERS)}")
        self._episodes_at_last_target = 0
        self._ema = cfg.policy_ema > 0
        self.policy_agent = copy.deepcopy(self.agent) if self._ema else self.agent
        """The greedy policy to evaluate and save: θ̄ with ``policy_ema``, else the online agent."""
        self.policy_mixer = copy.deepcopy(self.mixer) if self._ema else self.mixer
        self._ema_pairs = (list(self.policy_agent.parameters()) + list(self.policy_mixer.parameters()), self.params)

    def train(self, batch: EpisodeBatch, progress: float = 0.0, generator: torch.Generator | None = None,
              extra_losses: Sequence[ExtraLoss] = ()) -> dict[str, float]:
        """One gradient step on ``batch`` at training ``progress`` on the TD loss plus the
        ``extra_losses`` the loop hands over (a defense's terms); returns scalar diagnostics."""
        cfg = self.cfg
        q, context = self.agent.unroll_with_context(batch.obs, batch.actions)  # [B, T+1, N, A]
        chosen = q[:, :-1].gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1)  # [B, T, N]
        q_tot = self.mixer(chosen, batch.state[:, :-1])
        with torch.no_grad():
            tq = self.target_agent.unroll(batch.obs, batch.actions)
            pick = greedy(q.detach() if cfg.double_q else tq, batch.avail)  # [B, T+1, N]
            t_chosen = tq.gather(-1, pick.unsqueeze(-1)).squeeze(-1)
            t_tot = self.target_mixer(t_chosen, batch.state)
            y = lambda_returns(cfg.reward_scale * batch.reward, batch.terminated, batch.mask, t_tot, cfg.gamma, cfg.td_lambda)
        m = batch.mask.float()
        td = (q_tot - y) * m
        loss = td.pow(2).sum() / m.sum()
        stats = {"td_loss": loss.item()}
        ctx = LossContext(self, batch, q, context.detach(), progress,
                          generator if generator is not None else torch.Generator().manual_seed(0))
        for extra in extra_losses:
            term = extra(ctx)
            loss = loss + term
            stats[getattr(extra, "__name__", "extra")] = term.item()
        self.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        stats["grad_norm"] = float(nn.utils.clip_grad_norm_(self.params, cfg.grad_clip))
        self.optimiser.step()
        if self._ema:
            with torch.no_grad():
                torch._foreach_lerp_(self._ema_pairs[0], self._ema_pairs[1], 1.0 - cfg.policy_ema)
        stats["q_taken"] = ((q_tot * m).sum() / m.sum()).item()
        return stats

    def load_weights(self, agent: nn.Module, mixer: nn.Module) -> None:
        """Start from a trained protagonist: online, target and policy copies all take its weights."""
        for mine in {id(m): m for m in (self.agent, self.target_agent, self.policy_agent)}.values():
            mine.load_state_dict(agent.state_dict())
        for mine in {id(m): m for m in (self.mixer, self.target_mixer, self.policy_mixer)}.values():
            mine.load_state_dict(mixer.state_dict())

    def maybe_update_targets(self, episodes: int) -> bool:
        """Hard-copy online → target every ``target_update_episodes`` collected episodes."""
        if episodes - self._episodes_at_last_target < self.cfg.target_update_episodes:
            return False
        self.target_agent.load_state_dict(self.agent.state_dict())
        self.target_mixer.load_state_dict(self.mixer.state_dict())
        self._episodes_at_last_target = episodes
        return True
