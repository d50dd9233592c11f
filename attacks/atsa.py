"""``atsa``: the ATSA stochastic adversary = SDor (stochastic director) + STor (targeted step).

SDor (Sec. 3, FOP-style factorised maximum-entropy learner over target actions â):
  * actor h_i(â_i | τ^a_i) = softmax over i's available actions of an MLP→GRU→MLP on the clean
    observation stream (parameter-shared, agent id appended);
  * twin recurrent critics Q^a_i(τ^a_i, ·) with target copies, and per-agent soft values V_i either
    in closed form V_i = α·logsumexp(Q^a_i / α) (FOP; default) or from a recurrent value network
    trained by Eq. 9 (``value="network"``):
        L(Φ^i) = E[(Σ_â h_i(â)·(min_k Q^{a,k}_i(â) − α log h_i(â)) − V_i(τ^a_i))²];
  * mixing, Eq. 7 as FOP implements it:
        Q_jt = Σ_i Q^a_i + V(s) + Σ_i (λ_i(s, â) − 1)·sg(Q^a_i − V_i),
        λ_i = Σ_h |w_hᵀs|·σ(W_h s)_i·σ(U_h [s, onehot(â)])_i ≥ 0  (4 heads);
  * critic loss, Eq. 8, with TD(λ = 0.8) returns of r̂ = −c·r (c = ``reward_scale``) bootstrapped on
        min_k Q_jt^{tar,k}(τ', â') − α Σ_i log h_i(â'_i),  â' ~ h;
  * policy loss, Eq. 10, as an exact expectation over the discrete targets:
        J(φ_i) = Σ_â h_i(â)·(α log h_i(â) − min_k Q^{a,k}_i(â));
  * SDor-STor loss, Eqs. 14–15: L_κ = CE(onehot(a_i^taken), h_i) with a^taken the action the
    protagonist actually took on ô; the actor minimises J + κ·L_κ.
STor: sample â_i ~ h_i (also at evaluation: the stochasticity is the attack) and apply Eq. 13.
Temperature: FOP's schedule α(t) = max(0.05, 0.5 − t/2·10⁵) over the adversary's env steps,
or a fixed α.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from attacks.director import DirectorAttack
from robench.checkpoint import load_modules, module_tensors
from robench.envs.protocol import EnvInfo
from robench.learners.agent import RNNAgent, masked_logits
from robench.learners.buffer import EpisodeBatch, ReplayBuffer
from robench.learners.learner import lambda_returns
from robench.method_config import MethodConfig, setting

SDOR_VALUES = ("closed_form", "network")
"""How SDor gets its per-agent soft values V_i."""


@dataclass(frozen=True)
class SDorConfig(MethodConfig):
    """SDor settings (docs/methods.md defaults from FOP and the paper)."""

    kappa: float = setting(0.005, low=0.0)
    """Weight κ of the SDor-STor loss (Eqs. 14–15)."""
    alpha: float | None = None
    """Fixed temperature α; None = FOP's schedule max(0.05, 0.5 − t/2·10⁵)."""
    hidden: int = setting(64, low=1)
    """Width of the actor's and critics' MLP → GRU → MLP networks."""
    gamma: float = setting(0.99, low=0.0, high=1.0)
    """Discount of SDor's return."""
    td_lambda: float = setting(0.8, low=0.0, high=1.0)
    """λ of the critics' TD(λ) targets (FOP)."""
    lr: float = setting(5e-4, low=0.0)
    """RMSprop learning rate of actor and critics."""
    grad_clip: float = setting(10.0, low=0.0)
    """Global gradient-norm clip."""
    batch_size: int = setting(32, low=1)
    """Episodes per gradient step."""
    buffer_size: int = setting(2000, low=1)
    """Replay capacity in episodes."""
    target_update_episodes: int = setting(200, low=1)
    """Hard target-critic refresh period, in episodes."""
    updates_per_batch: int = setting(4, low=1)
    """Gradient steps of SDor per recorded batch of episodes."""
    heads: int = setting(4, low=1)
    """Attention heads of the FOP mixer's λ_i (Eq. 7)."""
    value: str = setting("closed_form", choices=SDOR_VALUES)
    """Per-agent soft values V_i: ``closed_form`` (FOP) or ``network`` (Eq. 9)."""
    reward_scale: float = setting(10.0, low=1e-9)
    """SDor's reward r̂ = −scale·r.  SMAX's episode return is at most 2 where SMAC's is normalised
    to 20; FOP's α schedule and the paper's κ were tuned on SMAC's scale, so SDor sees SMAX
    rewards ×10 (the protagonist's own rewards are unchanged)."""


class FOPMixer(nn.Module):
    """Eq. 7 in FOP's form; ``lambdas`` are non-negative by construction."""

    def __init__(self, n_agents: int, state_dim: int, n_actions: int, heads: int = 4, embed: int = 32):
        super().__init__()
        self.n, self.heads = n_agents, heads
        self.key = nn.Linear(state_dim, heads)
        self.agents = nn.Linear(state_dim, heads * n_agents)
        self.action = nn.Linear(state_dim + n_agents * n_actions, heads * n_agents)
        self.value = nn.Sequential(nn.Linear(state_dim, embed), nn.ReLU(), nn.Linear(embed, 1))

    def lambdas(self, state: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        """λ [..., N] from state [..., S] and one-hot targets [..., N, A]."""
        lead = state.shape[:-1]
        w = self.key(state).abs().unsqueeze(-1)  # [..., H, 1]
        a = torch.sigmoid(self.agents(state)).view(*lead, self.heads, self.n)
        u = torch.sigmoid(self.action(torch.cat([state, onehot.flatten(-2)], -1))).view(*lead, self.heads, self.n)
        return (w * a * u).sum(-2)

    def forward(self, q: torch.Tensor, v: torch.Tensor, state: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        """Q_jt [...] from chosen Q^a_i [..., N], soft values V_i [..., N]."""
        lam = self.lambdas(state, onehot)
        return q.sum(-1) + self.value(state).squeeze(-1) + ((lam - 1) * (q - v).detach()).sum(-1)


def soft_value(q: torch.Tensor, avail: torch.Tensor, alpha: float) -> torch.Tensor:
    """V_i = α·logsumexp(Q^a_i / α) over available targets: [..., A] → [...]."""
    return alpha * torch.logsumexp(masked_logits(q, avail) / alpha, dim=-1)


def sample_targets(logits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """â ~ softmax(logits) by the Gumbel-max trick with a seeded generator."""
    u = torch.rand(logits.shape, generator=generator, device="cpu").to(logits.device).clamp_(1e-12, 1 - 1e-7)
    return (logits - torch.log(-torch.log(u))).argmax(-1)


class ATSA(DirectorAttack):
    name = "atsa"
    label = "ATSA"
    director_kind = "fop"
    Config = SDorConfig
    replay = True

    def __init__(self, info: EnvInfo, generator: torch.Generator | None = None, cfg: SDorConfig | None = None,
                 device: str | torch.device = "cpu"):
        cfg = cfg or SDorConfig()
        n, d, a, s = info.n_agents, info.obs_dim, info.n_actions, info.state_dim
        actor = RNNAgent(d, n, a, cfg.hidden).to(device)
        super().__init__(generator, actor, device)
        self.cfg, self.info, self.actor = cfg, info, actor
        self.critics = nn.ModuleList([RNNAgent(d, n, a, cfg.hidden) for _ in range(2)]).to(self.device)
        self.mixers = nn.ModuleList([FOPMixer(n, s, a, cfg.heads) for _ in range(2)]).to(self.device)
        self.target_critics, self.target_mixers = copy.deepcopy(self.critics), copy.deepcopy(self.mixers)
        if cfg.value not in SDOR_VALUES:
            raise KeyError(f"unknown SDor value {cfg.value!r}; known: {', '.join(SDOR_VALUES)}")
        self.value_net = RNNAgent(d, n, 1, cfg.hidden).to(self.device) if cfg.value == "network" else None
        self.actor_opt = torch.optim.RMSprop(self.actor.parameters(), lr=cfg.lr, alpha=0.99, eps=1e-5)
        self.critic_params = list(self.critics.parameters()) + list(self.mixers.parameters())
        if self.value_net is not None:
            self.critic_params += list(self.value_net.parameters())
        self.critic_opt = torch.optim.RMSprop(self.critic_params, lr=cfg.lr, alpha=0.99, eps=1e-5)
        self.buffer = ReplayBuffer(cfg.buffer_size, info.episode_limit, n, d, s, a,
                                   extras={"taken": ((n,), torch.int64)})
        self.t_env, self.episodes, self._episodes_at_target = 0, 0, 0

    def alpha(self) -> float:
        if self.cfg.alpha is not None:
            return self.cfg.alpha
        return max(0.05, 0.5 - self.t_env / 2e5)

    def choose_targets(self, obs: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
        """STor samples â ~ h (in training and at evaluation alike)."""
        return sample_targets(masked_logits(self.target_scores(obs), avail), self.generator)

    def learn(self, batch: EpisodeBatch) -> dict[str, float]:
        self.buffer.insert(self.director_batch(batch))
        self.t_env += int(batch.mask.sum())
        self.episodes += batch.size
        stats: dict[str, float] = {}
        if len(self.buffer) >= self.cfg.batch_size:
            for _ in range(self.cfg.updates_per_batch):
                stats = self.update(self.buffer.sample(self.cfg.batch_size, self.generator).to(self.device))
        if self.episodes - self._episodes_at_target >= self.cfg.target_update_episodes:
            self.target_critics.load_state_dict(self.critics.state_dict())
            self.target_mixers.load_state_dict(self.mixers.state_dict())
            self._episodes_at_target = self.episodes
        return stats

    def soft_values(self, q: torch.Tensor, obs: torch.Tensor, avail: torch.Tensor, alpha: float) -> torch.Tensor:
        """V_i [B, T', N] for critic utilities q [B, T', N, A]: closed form, or the Eq. 9 network
        unrolled on the clean obs [B, T+1, N, D] (first T' steps)."""
        if self.value_net is None:
            return soft_value(q, avail, alpha)
        with torch.no_grad():
            return self.value_net.unroll(obs)[:, : q.shape[1]].squeeze(-1)

    def update(self, b: EpisodeBatch) -> dict[str, float]:
        """One step of Eqs. 8 (critics), 10 and 14–15 (actor) on a batch of the director's episodes."""
        cfg, alpha = self.cfg, self.alpha()
        n_act = self.info.n_actions
        logits = masked_logits(self.actor.unroll(b.obs), b.avail)  # [B, T+1, N, A]
        logp = F.log_softmax(logits, -1)
        m = b.mask.float()
        with torch.no_grad():
            nxt = sample_targets(logits, self.generator)  # â' ~ h at every step
            onehot_nxt = F.one_hot(nxt, n_act).float()
            joint = []
            for critic, mixer in zip(self.target_critics, self.target_mixers):
                tq = critic.unroll(b.obs)
                chosen = tq.gather(-1, nxt.unsqueeze(-1)).squeeze(-1)
                joint.append(mixer(chosen, self.soft_values(tq, b.obs, b.avail, alpha), b.state, onehot_nxt))
            boot = torch.min(*joint) - alpha * logp.gather(-1, nxt.unsqueeze(-1)).squeeze(-1).sum(-1)
            y = lambda_returns(cfg.reward_scale * b.reward, b.terminated, b.mask, boot, cfg.gamma, cfg.td_lambda)
        onehot = F.one_hot(b.actions, n_act).float()
        critic_loss, qs = 0.0, []
        for critic, mixer in zip(self.critics, self.mixers):
            q = critic.unroll(b.obs)[:, :-1]
            qs.append(q)
            chosen = q.gather(-1, b.actions.unsqueeze(-1)).squeeze(-1)
            q_jt = mixer(chosen, self.soft_values(q, b.obs, b.avail[:, :-1], alpha), b.state[:, :-1], onehot)
            critic_loss = critic_loss + ((q_jt - y) * m).pow(2).sum() / m.sum()
        p, lp = logp[:, :-1].exp(), logp[:, :-1]
        q_min = torch.min(qs[0], qs[1]).detach()
        if self.value_net is not None:  # Eq. 9, exact expectation over the available targets
            v_target = (p * (q_min - alpha * lp)).masked_fill(~b.avail[:, :-1], 0.0).sum(-1).detach()
            v = self.value_net.unroll(b.obs)[:, :-1].squeeze(-1)
            critic_loss = critic_loss + ((v - v_target).pow(2).mean(-1) * m).sum() / m.sum()
        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        nn.utils.clip_grad_norm_(self.critic_params, cfg.grad_clip)
        self.critic_opt.step()
        # Eq. 10, exact expectation; Eq. 14–15 cross-entropy to the protagonist's taken action
        policy = (p * (alpha * lp - q_min)).masked_fill(~b.avail[:, :-1], 0.0).sum(-1)  # [B, T, N]
        if cfg.kappa > 0:  # Eq. 15: J + κ·CE(onehot(a^taken), h_i); κ = 0 is Fig. 2's ablation
            policy = policy + cfg.kappa * -lp.gather(-1, b.extras["taken"].unsqueeze(-1)).squeeze(-1)
        actor_loss = (policy.mean(-1) * m).sum() / m.sum()
        self.actor_opt.zero_grad(set_to_none=True)
        actor_loss.backward()
        nn.utils.clip_grad_norm_(self.actor.parameters(), cfg.grad_clip)
        self.actor_opt.step()
        return {"critic_loss": float(critic_loss.detach()), "actor_loss": float(actor_loss.detach()), "alpha": alpha}

    def modules(self) -> dict[str, nn.Module]:
        own = {"actor": self.actor, "critics": self.critics, "mixers": self.mixers}
        return own if self.value_net is None else {**own, "value": self.value_net}

    def state_dict(self) -> dict[str, torch.Tensor]:
        return module_tensors(self.modules())

    def load_state_dict(self, tensors: dict[str, torch.Tensor]) -> None:
        load_modules(self.modules(), tensors, f"{self.name} adversary")
        self.target_critics.load_state_dict(self.critics.state_dict())
        self.target_mixers.load_state_dict(self.mixers.state_dict())
