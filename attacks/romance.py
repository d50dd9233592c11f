"""``romance``: a population of K sparse soft-Q action attackers (ROMANCE, Yuan et al. 2023).

Each attacker is an MLP on [global state s, budget left ℓ = 1 − hijacks/attack_num] with N + 1
outputs Q(s, ℓ, c), c = 0 "attack nobody", c = i + 1 "hijack agent i" (``attacks.hijack``).
Its policy is a soft-Q policy towards a sparse prior (zzq-bot/ROMANCE's ``SparseActionSelector``):

    p_ref = (1 − δ, δ/N, …, δ/N),  π(c) ∝ p_ref(c)·exp(Q(c)/λ),  π ← (1 − (N+1)b)·π + b,

with δ = 0.05, λ = 0.04, b = 0.02; options are always sampled (the stochasticity is the attack,
also at evaluation).  Soft Q-learning on r̂ = −c_r·r − w·1[c > 0] (w = 0.5 per hijack; c_r
rescales SMAX's team reward to SMAC's range, as ATSA's ``reward_scale``):

    y = r̂ + γ(1 − term)·V(s′),  V(s′) = λ·log Σ_c p_ref(c)·exp(Q_tgt(s′, c)/λ)   (the prior
    renormalised over the allowed options: V = Q_tgt(s′, 0) once the budget is spent),

a target network softly updated (τ = 0.005) after each step, RMSprop 2e-4, and ROMANCE's
diversity term −(β/10)·mean_{i,s} KL(π̄(s) ‖ π_i(s)) (π̄ the detached population mean, β = 1.2)
that pushes the members apart.  The original code writes exp(Q)/λ and masks by ``terminated``;
we implement the intended exp(Q/λ) and learn from every valid step (docs/methods.md).

The K members share one replay of transitions (ROMANCE's ``one_buffer``) and are stored as one
stacked network ``StackedMLP`` [K, ·, ·]: each episode of a batch is assigned one member
(``attacks.population.balanced_assignment``) and every step is one batched matmul over all
episodes, every gradient step one over all members — no loop over episodes or members.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn

from attacks.base import LearnedAttack
from attacks.hijack import HijackAttack, lowest_q_actions
from attacks.qd_archive import behaviour_distance
from attacks.targeted import targeted_step
from attacks.population import balanced_assignment
from robench.checkpoint import CheckpointError
from robench.envs.protocol import EnvInfo
from robench.learners.agent import Agent
from robench.learners.buffer import EpisodeBatch
from robench.method_config import MethodConfig, setting


@dataclass(frozen=True)
class RomanceShared(MethodConfig):
    """What ROMANCE's attackers and the ROMANCE defenses that train them share (defaults:
    zzq-bot/ROMANCE ``config/default.yaml``)."""

    attack_num: int = setting(6, low=1)
    """Hijacks per episode."""
    penalty: float = setting(0.5, low=0.0)
    """w: attacker reward penalty per hijack."""
    reward_scale: float = setting(10.0, low=0.0)
    """c_r: r̂ uses −c_r·r (SMAX team returns are ≈ 1/10 of SMAC's)."""
    diversity: float = setting(1.2, low=0.0)
    """β of the diversity term (weight β/10)."""


@dataclass(frozen=True)
class RomanceConfig(RomanceShared):
    """ROMANCE attacker settings (defaults: zzq-bot/ROMANCE ``config/default.yaml``)."""

    members: int = setting(4, low=1)
    """K attackers in the population (``pop_size``)."""
    delta: float = 0.05
    """Prior mass δ of the hijack options."""
    lam: float = 0.04
    """Soft-Q temperature λ."""
    smoothing: float = 0.02
    """b: floor of every option's probability."""
    hidden: int = setting(64, low=1)
    """Width of each attacker's MLP."""
    gamma: float = setting(0.99, low=0.0, high=1.0)
    """Discount of the attackers' return."""
    lr: float = setting(2e-4, low=0.0)
    """RMSprop learning rate."""
    grad_clip: float = setting(5.0, low=0.0)
    """Per-member gradient-norm clip."""
    tau: float = setting(0.005, low=0.0, high=1.0)
    """Soft target update θ̄ ← (1 − τ)θ̄ + τθ after each step."""
    batch_size: int = setting(256, low=1)
    """Transitions per member per gradient step (ROMANCE: 10 episodes)."""
    buffer_size: int = 50_000
    """Transitions in the shared replay (ROMANCE: 1000 episodes)."""
    updates_per_batch: int = setting(3, low=1)
    """Gradient steps per ``learn`` (ROMANCE: 3 attacker steps per generation)."""
    diversity_states: int = 64
    """States on which the diversity term compares the members."""


class StackedMLP(nn.Module):
    """K independent MLPs in → hidden → hidden → out (ReLU), weights stacked [K, ·, ·]."""

    def __init__(self, k: int, in_dim: int, hidden: int, out_dim: int, generator: torch.Generator | None = None):
        """nn.Linear's default init per member, drawn from ``generator`` (None: left uninitialised,
        for a network whose members are set right away)."""
        super().__init__()
        dims = [(in_dim, hidden), (hidden, hidden), (hidden, out_dim)]
        self.weights = nn.ParameterList(nn.Parameter(torch.empty(k, i, o)) for i, o in dims)
        self.biases = nn.ParameterList(nn.Parameter(torch.empty(k, o)) for _, o in dims)
        if generator is not None:
            self.set_members([self.fresh_member(generator) for _ in range(k)])

    @property
    def k(self) -> int:
        return self.weights[0].shape[0]

    def forward(self, x: torch.Tensor, member: torch.Tensor | None = None) -> torch.Tensor:
        """x [K, M, in] → [K, M, out] (member-major), or x [R, in] with ``member`` [R] → [R, out]."""
        rows = member is not None
        h = x.unsqueeze(1) if rows else x
        for layer, (w, b) in enumerate(zip(self.weights, self.biases)):
            if rows:
                w, b = w[member], b[member]
            h = torch.baddbmm(b.unsqueeze(1), h, w)
            if layer < len(self.weights) - 1:
                h = torch.relu(h)
        return h.squeeze(1) if rows else h

    def member(self, i: int) -> list[torch.Tensor]:
        """Member i's parameters (detached copies): the archive's unit of storage."""
        return [p[i].detach().clone() for p in (*self.weights, *self.biases)]

    def set_members(self, members: list[list[torch.Tensor]]) -> None:
        """Replace the K stacked members by ``members`` (each as returned by :meth:`member`)."""
        with torch.no_grad():
            for j, p in enumerate((*self.weights, *self.biases)):
                p.copy_(torch.stack([m[j].to(p.device) for m in members]))

    def fresh_member(self, generator: torch.Generator) -> list[torch.Tensor]:
        """A newly initialised member (nn.Linear's init), drawn from ``generator``, in :meth:`member`'s order."""
        bounds = [1.0 / math.sqrt(w.shape[1]) for w in self.weights]
        shapes = [w.shape[1:] for w in self.weights] + [b.shape[1:] for b in self.biases]
        return [(torch.rand(shape, generator=generator) * 2 - 1) * bound
                for shape, bound in zip(shapes, bounds + bounds)]


class Romance(HijackAttack, LearnedAttack):
    """K sparse soft-Q attackers sharing a batch: member ``assignment[b]`` attacks episode b."""

    name = "romance"
    label = "ROMANCE (actions)"
    director_kind = "soft_q"
    Config = RomanceConfig
    replay = True

    def __init__(self, info: EnvInfo, generator: torch.Generator | None = None,
                 cfg: RomanceConfig | None = None, device: str | torch.device = "cpu"):
        cfg = cfg or RomanceConfig()
        super().__init__(info.n_agents, cfg.attack_num, generator)
        self.cfg, self.device = cfg, torch.device(device)
        self.n_options = info.n_agents + 1
        self.net = StackedMLP(cfg.members, info.state_dim + 1, cfg.hidden, self.n_options, self.generator
                              ).to(self.device)
        self.log_prior = torch.log(torch.tensor([1 - cfg.delta] + [cfg.delta / info.n_agents] * info.n_agents,
                                                device=self.device))
        self.training = False
        self.assignment = torch.zeros(0, dtype=torch.int64)
        self.buffer: dict[str, torch.Tensor] = {}
        self._written = 0
        self.restart()

    def restart(self) -> None:
        """Fresh target network and optimiser, at every change of the population's members (as the
        original does at each generation's reset: a slot's new member must not inherit another
        attacker's target or RMSprop statistics)."""
        self.target = copy.deepcopy(self.net).requires_grad_(False)
        self.optimiser = torch.optim.RMSprop(self.net.parameters(), lr=self.cfg.lr, alpha=0.99, eps=1e-5)

    # -- acting -----------------------------------------------------------------------------
    def reset(self, batch_size: int) -> None:
        super().reset(batch_size)
        self.assignment = balanced_assignment(batch_size, self.net.k, self.generator)

    def restrict(self, rows: torch.Tensor) -> None:
        super().restrict(rows)
        self.assignment = self.assignment[rows.cpu()]

    def inputs(self, state: torch.Tensor, left: torch.Tensor) -> torch.Tensor:
        """[state, ℓ] with ℓ = budget left / attack_num ∈ [0, 1]."""
        return torch.cat([state, (left.float() / self.attack_num).unsqueeze(-1)], -1)

    def refused(self, left: torch.Tensor) -> torch.Tensor:
        """[..., N+1] True for the hijack options 1..N where the budget left ℓ is spent."""
        return (left <= 0).unsqueeze(-1) & (torch.arange(self.n_options, device=left.device) > 0)

    def policy_logits(self, q: torch.Tensor, left: torch.Tensor) -> torch.Tensor:
        """log of the unsmoothed π ∝ p_ref·exp(Q/λ), options 1..N removed once ℓ = 0."""
        return (self.log_prior + q / self.cfg.lam).masked_fill(self.refused(left), float("-inf"))

    def policy(self, q: torch.Tensor, left: torch.Tensor) -> torch.Tensor:
        """π over options [..., N+1]: the sparse soft-Q policy smoothed by b, then restricted to the
        options the budget allows (renormalised)."""
        b = self.cfg.smoothing
        pi = torch.softmax(self.log_prior + q / self.cfg.lam, -1) * (1 - self.n_options * b) + b
        pi = pi.masked_fill(self.refused(left), 0.0)
        return pi / pi.sum(-1, keepdim=True)

    def choose(self, state: torch.Tensor, left: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            q = self.net(self.inputs(state, left), self.assignment.to(state.device))
            pi = self.policy(q, left)
        u = torch.rand(pi.shape[0], 1, generator=self.generator).to(pi.device)
        return (pi.cumsum(-1) < u).sum(-1).clamp(max=self.n_options - 1)

    # -- learning ---------------------------------------------------------------------------
    def transitions(self, batch: EpisodeBatch) -> dict[str, torch.Tensor]:
        """The recorded rollout as attacker transitions (valid steps only): inputs x_t = [s_t, ℓ_t],
        option c_t, r̂_t, x_{t+1} = [s_{t+1}, ℓ_t − 1[c_t > 0]], terminal flag."""
        if len(self.trace) != batch.steps:
            raise ValueError("learn() needs the recorded batch of the rollout this attacker acted in")
        state, left, option = (torch.stack(x, 1) for x in zip(*self.trace))  # [B, T, ·]
        hijack = (option > 0).float()
        reward = -self.cfg.reward_scale * batch.reward - self.cfg.penalty * hijack
        m = batch.mask
        return {"x": self.inputs(state, left)[m], "option": option[m], "reward": reward[m],
                "next_x": self.inputs(batch.state[:, 1:], left - option.gt(0).long())[m],
                "done": batch.terminated[m].float()}

    def remember(self, batch: EpisodeBatch) -> None:
        """Append the batch's transitions to the shared ring replay."""
        new = self.transitions(batch)
        n, cap = new["x"].shape[0], self.cfg.buffer_size
        if not self.buffer:
            self.buffer = {k: torch.zeros((cap, *v.shape[1:]), dtype=v.dtype, device=v.device) for k, v in new.items()}
        idx = (self._written + torch.arange(n)) % cap
        for k, v in new.items():
            self.buffer[k][idx] = v
        self._written += n

    def soft_value(self, q: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """V = λ·log Σ_c p_ref(c | allowed)·exp(Q(c)/λ), the prior renormalised over the options
        still allowed by ℓ = x[..., -1] (so V = Q(·, 0) once the budget is spent)."""
        left = x[..., -1]
        prior = self.policy_logits(torch.zeros_like(q), left)
        return self.cfg.lam * (torch.logsumexp(self.policy_logits(q, left), -1) - torch.logsumexp(prior, -1))

    def loss(self, sample: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mean soft TD error of every member on its [K, M] transitions, minus the diversity term."""
        cfg = self.cfg
        q = self.net(sample["x"]).gather(-1, sample["option"].unsqueeze(-1)).squeeze(-1)
        with torch.no_grad():
            v_next = self.soft_value(self.target(sample["next_x"]), sample["next_x"])
            y = sample["reward"] + cfg.gamma * (1 - sample["done"]) * v_next
        td = (q - y).pow(2).mean()
        if cfg.diversity <= 0 or self.net.k < 2:
            return td
        shared = sample["x"][:, : cfg.diversity_states].reshape(-1, sample["x"].shape[-1])
        pi = self.policy(self.net(shared.expand(self.net.k, -1, -1)), shared[:, -1])  # [K, S, N+1]
        kl = behaviour_distance(pi, pi.mean(0, keepdim=True).detach()).mean()  # mean_{i,s} KL(π̄(s) ‖ π_i(s))
        return td - cfg.diversity / 10 * kl

    def learn(self, batch: EpisodeBatch) -> dict[str, float]:
        """Store the batch and take ``updates_per_batch`` steps (each member on its own sample)."""
        self.remember(batch)
        filled = min(self._written, self.cfg.buffer_size)
        stats: dict[str, float] = {}
        for _ in range(self.cfg.updates_per_batch):
            idx = torch.randint(filled, (self.net.k, self.cfg.batch_size), generator=self.generator)
            loss = self.loss({k: v[idx] for k, v in self.buffer.items()})
            self.optimiser.zero_grad(set_to_none=True)
            loss.backward()
            self.clip_per_member()
            self.optimiser.step()
            with torch.no_grad():
                torch._foreach_lerp_(list(self.target.parameters()), list(self.net.parameters()), self.cfg.tau)
            stats = {"attacker_loss": loss.item()}
        return stats

    def clip_per_member(self) -> None:
        """Clip each member's gradient norm to ``grad_clip`` on its own (members are independent)."""
        grads = [p.grad for p in self.net.parameters() if p.grad is not None]
        norms = torch.stack([g.flatten(1).pow(2).sum(1) for g in grads]).sum(0).sqrt()  # [K]
        scale = (self.cfg.grad_clip / (norms + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(scale.view(-1, *([1] * (g.dim() - 1))))

    def member_quality(self, batch: EpisodeBatch) -> torch.Tensor:
        """[K] ROMANCE's quality of each member: −c_r·(mean team return) over the episodes it
        attacked (on SMAC's reward scale, as the archive's selection temperature assumes); NaN
        for a member that attacked no episode of the batch (fewer episodes than members)."""
        ret = self.cfg.reward_scale * (batch.reward * batch.mask).sum(1)
        k = self.net.k
        total = torch.zeros(k).index_add_(0, self.assignment, -ret.cpu().float())
        count = torch.bincount(self.assignment, minlength=k).float()
        return total / count  # 0/0 = NaN for an idle member

    def behaviour_policies(self, x: torch.Tensor, members: list[list[torch.Tensor]]) -> torch.Tensor:
        """[len(members), S, N+1]: each given member's π on the shared inputs x [S, in]."""
        probe = StackedMLP(len(members), x.shape[-1], self.cfg.hidden, self.n_options).to(x.device)
        probe.set_members(members)
        with torch.no_grad():
            return self.policy(probe(x.expand(len(members), -1, -1)), x[:, -1])

    # -- checkpoints ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, torch.Tensor]:
        return {f"attackers.{k}": v.detach().cpu() for k, v in self.net.state_dict().items()}

    def load_state_dict(self, tensors: dict[str, torch.Tensor]) -> None:
        mine = self.net.state_dict()
        theirs = {k.removeprefix("attackers."): v for k, v in tensors.items()}
        if set(theirs) != set(mine) or any(theirs[k].shape != mine[k].shape for k in mine):
            raise CheckpointError("romance adversary: tensors do not fit the attacker population")
        self.net.load_state_dict(theirs)
        self.restart()


class RomanceSteered(Romance):
    """ROMANCE-s's adversary: the same attackers as director, realised as an observation attack.

    At a step where attacker c picks agent i, STor (Eq. 13, ``attacks.targeted``) perturbs o_i
    within ε towards â_i = argmin_{a ∈ avail_i} Q_i(τ_i(o), a), agent i's lowest-Q action on its
    clean observation; every other agent keeps o.  The budget (at most ``attack_num`` steered
    steps per episode) and the attackers' learning are ``Romance``'s."""

    name = "romance-s"
    label = "ROMANCE-s"
    hijacks = False

    def perturb(self, agent: Agent, obs, hidden, avail, eps, low, high) -> torch.Tensor:
        if self.state is None:
            raise ValueError("romance-s needs the global state of the step (the rollout passes it)")
        steered = self.decide(self.state, torch.ones(obs.shape[0], dtype=torch.bool, device=obs.device))
        if not bool(steered.any()):
            return obs
        with torch.no_grad():
            q, _ = agent.step(obs, hidden)
        x = targeted_step(agent, obs, hidden, avail, lowest_q_actions(q, avail), eps, low, high)
        return torch.where(steered.unsqueeze(-1), x, obs)
