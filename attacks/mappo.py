"""A parameter-shared Gaussian policy learned by MAPPO — the learner of ATLA and of PA-AD's
"direction" director (docs/methods.md).

Policy (agent id appended, input the *clean* observation stream with a GRU state of its own —
the protagonist's architecture with K outputs):
    u_i ~ N(μ(τ^clean_i), diag σ²),   log σ a state-independent learned vector (starts at 0);
u = μ at evaluation.  Log-probability of the raw sample (ATLA's original code):
    log π(u) = Σ_k −(u_k − μ_k)²/(2σ_k²) − log σ_k − ½ log 2π.
Learning (MAPPO, on-policy, one update per recorded batch of episodes), reward r̂ = −r:
    centralised critic V(s) on the global state;
    advantages  A_t = G^λ_t − V(s_t)  (GAE(λ) written as λ-returns of r̂ bootstrapped on V);
    actor loss  −E[min(ρ A, clip(ρ, 1 − c, 1 + c) A)] − β·H[π],  ρ = π(u)/π_old(u) per agent;
    critic loss E[(V(s_t) − G^λ_t)²];  Adam, lr decayed linearly to 0 over ``anneal_steps``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from attacks.base import LearnedAttack
from robench.checkpoint import CheckpointError, load_modules, module_tensors
from robench.envs.protocol import EnvInfo
from robench.learners.agent import RNNAgent
from robench.learners.buffer import EpisodeBatch
from robench.learners.learner import lambda_returns


@dataclass
class MAPPOConfig:
    """MAPPO settings (docs/methods.md defaults from ATLA's and MAPPO's code)."""

    hidden: int = 64
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip: float = 0.2
    epochs: int = 10
    entropy_coef: float = 1e-3
    lr: float = 5e-4
    anneal_steps: int = 200_000
    """Env steps over which the learning rate decays linearly to zero."""
    grad_clip: float = 10.0
    init_log_std: float = 0.0


def gaussian_log_prob(u: torch.Tensor, mu: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """Σ_k log N(u_k; μ_k, σ_k²) over the last dimension."""
    z = (u - mu) * torch.exp(-log_std)
    return (-0.5 * z.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)


def gaussian_entropy(log_std: torch.Tensor) -> torch.Tensor:
    """H[N(μ, diag σ²)] = Σ_k log σ_k + ½ log(2πe)."""
    return (log_std + 0.5 * math.log(2 * math.pi * math.e)).sum()


class GaussianMAPPO:
    """Acts step by step on a batch of episodes (recording its samples) and learns from it."""

    def __init__(self, info: EnvInfo, out_dim: int, cfg: MAPPOConfig | None = None, device: str | torch.device = "cpu"):
        self.cfg, self.device = cfg or MAPPOConfig(), torch.device(device)
        h = self.cfg.hidden
        self.actor = RNNAgent(info.obs_dim, info.n_agents, out_dim, h).to(self.device)
        self.log_std = nn.Parameter(torch.full((out_dim,), self.cfg.init_log_std, device=self.device))
        self.critic = nn.Sequential(nn.Linear(info.state_dim, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(),
                                    nn.Linear(h, 1)).to(self.device)
        self.actor_params = list(self.actor.parameters()) + [self.log_std]
        self.actor_opt = torch.optim.Adam(self.actor_params, lr=self.cfg.lr)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=self.cfg.lr)
        self.t_env = 0
        self._hidden: torch.Tensor | None = None
        self.samples: list[torch.Tensor] = []

    def reset(self, batch_size: int) -> None:
        self._hidden = self.actor.init_hidden(batch_size, self.device)
        self.samples = []

    @torch.no_grad()
    def act(self, obs: torch.Tensor, sample: bool, generator: torch.Generator) -> torch.Tensor:
        """u [B, N, K] for clean obs [B, N, D]: a sample of π (``sample``) or its mean; recorded."""
        mu, self._hidden = self.actor.step(obs, self._hidden)
        u = mu
        if sample:
            u = mu + torch.randn(mu.shape, generator=generator, device="cpu").to(mu.device) * self.log_std.exp()
        self.samples.append(u)
        return u

    def learn(self, batch: EpisodeBatch, agent_weight: torch.Tensor | None = None) -> dict[str, float]:
        """One MAPPO update on the batch just acted in (its clean obs, r̂ = −r, the recorded u).

        ``agent_weight`` [N] (0/1) restricts the policy loss to the agents that acted."""
        if batch.clean_obs is None or len(self.samples) != batch.steps:
            raise ValueError("learn() needs the recorded batch of the rollout this adversary perturbed")
        cfg = self.cfg
        u = torch.stack(self.samples, 1).to(self.device)  # [B, T, N, K]
        obs, state = batch.clean_obs.to(self.device), batch.state.to(self.device)
        mask = batch.mask.to(self.device)
        m = mask.float()
        with torch.no_grad():
            old_logp = gaussian_log_prob(u, self.actor.unroll(obs)[:, :-1], self.log_std)  # [B, T, N]
            values = self.critic(state).squeeze(-1)  # [B, T+1]
            returns = lambda_returns(-batch.reward.to(self.device), batch.terminated.to(self.device), mask, values,
                                     cfg.gamma, cfg.gae_lambda)
            adv = returns - values[:, :-1]
            mean = (adv * m).sum() / m.sum()
            std = (((adv - mean) * m).pow(2).sum() / m.sum()).sqrt()
            adv = ((adv - mean) / (std + 1e-8)).unsqueeze(-1)  # [B, T, 1]: shared by the agents
        lr = cfg.lr * max(0.0, 1.0 - self.t_env / cfg.anneal_steps)
        for opt in (self.actor_opt, self.critic_opt):
            for group in opt.param_groups:
                group["lr"] = lr
        agent_m = m.unsqueeze(-1).expand_as(old_logp)
        if agent_weight is not None:
            agent_m = agent_m * agent_weight.to(agent_m.device).float()
        for _ in range(cfg.epochs):
            logp = gaussian_log_prob(u, self.actor.unroll(obs)[:, :-1], self.log_std)
            ratio = torch.exp(logp - old_logp)
            surrogate = torch.minimum(ratio * adv, ratio.clamp(1 - cfg.clip, 1 + cfg.clip) * adv)
            actor_loss = -(surrogate * agent_m).sum() / agent_m.sum() - cfg.entropy_coef * gaussian_entropy(self.log_std)
            self.actor_opt.zero_grad(set_to_none=True)
            actor_loss.backward()
            nn.utils.clip_grad_norm_(self.actor_params, cfg.grad_clip)
            self.actor_opt.step()
            value_loss = ((self.critic(state[:, :-1]).squeeze(-1) - returns).pow(2) * m).sum() / m.sum()
            self.critic_opt.zero_grad(set_to_none=True)
            value_loss.backward()
            nn.utils.clip_grad_norm_(self.critic.parameters(), cfg.grad_clip)
            self.critic_opt.step()
        self.t_env += int(mask.sum())
        return {"actor_loss": float(actor_loss.detach()), "value_loss": float(value_loss.detach()),
                "std": float(self.log_std.detach().exp().mean()), "lr": lr}

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {**module_tensors({"actor": self.actor, "critic": self.critic}), "log_std": self.log_std.detach()}

    def load_state_dict(self, tensors: dict[str, torch.Tensor], where: str = "MAPPO adversary") -> None:
        load_modules({"actor": self.actor, "critic": self.critic}, tensors, where)
        if "log_std" not in tensors or tensors["log_std"].shape != self.log_std.shape:
            raise CheckpointError(f"{where}: missing or mis-shaped log_std")
        with torch.no_grad():
            self.log_std.copy_(tensors["log_std"])


class GaussianPolicyAttack(LearnedAttack):
    """A learned attack whose adversary is a ``GaussianMAPPO`` policy with ``out_dim(info)`` outputs
    (ATLA: a perturbation; PA-AD "direction": a direction in policy space).  Subclasses turn the
    policy's output into ô in ``perturb``."""

    director_kind = "mappo"

    def __init__(self, info: EnvInfo, generator: torch.Generator | None = None, cfg: MAPPOConfig | None = None,
                 device: str | torch.device = "cpu"):
        super().__init__(generator)
        self.info = info
        self.policy = GaussianMAPPO(info, self.out_dim(info), cfg, device)
        self.training = False

    @staticmethod
    def out_dim(info: EnvInfo) -> int:
        raise NotImplementedError

    def act(self, obs: torch.Tensor) -> torch.Tensor:
        """u: a sample of the policy while training, its mean at evaluation."""
        return self.policy.act(obs, self.training, self.generator)

    def reset(self, batch_size: int) -> None:
        self.policy.reset(batch_size)

    def restrict(self, rows: torch.Tensor) -> None:
        self.policy.samples = [u[rows.to(u.device)] for u in self.policy.samples]

    def learn(self, batch: EpisodeBatch) -> dict[str, float]:
        return self.policy.learn(batch, self.attacked_agents)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.policy.state_dict()

    def load_state_dict(self, tensors: dict[str, torch.Tensor]) -> None:
        self.policy.load_state_dict(tensors, f"{self.name} adversary")
