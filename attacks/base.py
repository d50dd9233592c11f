"""The observation-adversary interface shared by every attack (and by defenses in training).

Budget (docs/design.md, ``robench.threat``): for every attacked agent, ‖ô − o‖∞ ≤ ε and ô ∈ K.
An attack is bound once per environment to its threat model (``Attack.bind``: K, the attacked
set M, the touchable coordinates) and given ε per call; ``Attack.__call__`` enforces the budget
for every subclass: whatever ``perturb`` proposes is passed through
Proj(x) = clip(clip(x, o − ε, o + ε), low, high), and agents outside M (coordinates outside the
touchable set) keep their clean values.
"""
from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import ClassVar

import torch
import torch.nn.functional as F

from robench.envs.protocol import EnvInfo
from robench.errors import RobenchError
from robench.learners.agent import Agent, greedy, masked_logits
from robench.method_config import MethodConfig
from robench.threat import BoundThreat


def project(x: torch.Tensor, obs: torch.Tensor, eps: float, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Proj(x): into the L∞ ball of radius ε around ``obs``, then into [low, high] per feature.

    Clean observations lie inside [low, high], so the result satisfies both constraints."""
    x = torch.minimum(torch.maximum(x, obs - eps), obs + eps)
    return torch.minimum(torch.maximum(x, low), high)


def uniform_like(obs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """U(0, 1) per feature of ``obs``, drawn from the CPU ``generator`` (the same draws on every
    device), on ``obs``'s device."""
    return torch.rand(obs.shape, generator=generator, device="cpu").to(obs.device)


def uniform_start(obs: torch.Tensor, eps: float, generator: torch.Generator) -> torch.Tensor:
    """o + U(−ε, ε) per feature: PGD's random start (project it before use)."""
    return obs + eps * (2 * uniform_like(obs, generator) - 1)


def signed_steps(grad: Callable[[torch.Tensor], torch.Tensor], x0: torch.Tensor, obs: torch.Tensor, eps: float,
                 low: torch.Tensor, high: torch.Tensor, steps: int, size: float) -> torch.Tensor:
    """x ← Proj(x + size·sign(grad(x))), ``steps`` times from Proj(x0): the signed-gradient
    iteration that FGSM/PGD, STor's targeted step (with a negated gradient) and the regularisers'
    inner maximisation share.  The result is detached and inside the budget."""
    x = project(x0.detach(), obs, eps, low, high)
    for _ in range(steps):
        x = project(x + size * grad(x).sign(), obs, eps, low, high).detach()
    return x


def input_grad_mode() -> AbstractContextManager:
    """The context for gradients w.r.t. a policy's *inputs*: cuDNN's fused GRU refuses a backward
    pass in eval mode (evaluation on CUDA), so cuDNN is off inside it; a no-op on the CPU."""
    return torch.backends.cudnn.flags(enabled=False)


def objective_grad(objective: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """x ↦ ∇_x objective(x) (a scalar objective; x detached first)."""
    def grad(x: torch.Tensor) -> torch.Tensor:
        x = x.detach().requires_grad_(True)
        with torch.enable_grad(), input_grad_mode():
            (g,) = torch.autograd.grad(objective(x), x)
        return g

    return grad


def policy_input_grad(agent: Agent, obs: torch.Tensor, hidden: torch.Tensor, avail: torch.Tensor,
                      objective: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """∇_o objective(masked logits of Q(o) [B, N, A]) → [B, N, D], the recurrent state held fixed
    (detached), as docs/methods.md decides.  Agents share weights but not inputs, so a sum over agents
    yields each agent's own gradient in one pass."""
    o = obs.detach().requires_grad_(True)
    with torch.enable_grad(), input_grad_mode():
        q, _ = agent.step(o, hidden.detach())
        (grad,) = torch.autograd.grad(objective(masked_logits(q, avail)), o)
    return grad


def action_ce_grad(agent: Agent, obs: torch.Tensor, hidden: torch.Tensor, avail: torch.Tensor,
                   target: torch.Tensor | None = None) -> torch.Tensor:
    """∇_o Σ_i CE(π_i(·|o_i), target_i) with π_i = softmax(Q_i) over available actions.

    ``target=None`` means a*_i = argmax π_i(·|o_i), read off the same forward pass (FGSM's
    untargeted loss at the clean observation costs one forward + one backward)."""
    def ce(logits: torch.Tensor) -> torch.Tensor:
        flat = logits.reshape(-1, logits.shape[-1])
        goal = flat.detach().argmax(-1) if target is None else target.reshape(-1)
        return F.cross_entropy(flat, goal, reduction="sum")

    return policy_input_grad(agent, obs, hidden, avail, ce)


def clean_greedy_action(agent: Agent, obs: torch.Tensor, hidden: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
    """a*_i = argmax over available actions of Q_i(τ, ·) on the clean observation."""
    with torch.no_grad():
        q, _ = agent.step(obs, hidden)
    return greedy(q, avail)


class Attack:
    """Base observation adversary: maps clean observations to perturbed ones within ε.

    Subclasses implement :meth:`perturb`.  Stateful adversaries (with recurrent state of their
    own) reset it in :meth:`reset`, called by the rollout engine at the start of a batch of
    episodes."""

    name = "attack"
    """The registry key (``attacks.ATTACKS``) and CLI name."""
    label = ""
    """The display name of tables and figures (the name where empty)."""
    learned = False
    clean = False
    """True for the clean column's attack (``none``): its cells are evaluated once, at ε = 0."""
    worst_case_only = False
    """True for a stronger variant of a Table 1 attack (``pgd-r``): the report puts its cells in the
    worst-case table only, so Table 1's columns and AVG stay the paper's."""
    hijacks = False
    """True for action attacks (``attacks.hijack``): the rollout then calls :meth:`override`
    between the protagonist's action choice and ``env.step``."""
    Config: ClassVar[type[MethodConfig]] = MethodConfig
    """A learned attack's typed settings (``robench.method_config``; ``--attack-opt KEY=VALUE``)."""
    replay: ClassVar[bool] = False
    """True for learned attacks that learn from a replay buffer (their ``updates_per_batch``)."""

    def __init__(self, generator: torch.Generator | None = None):
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)
        self.threat: BoundThreat | None = None
        """The threat model on the environment it perturbs (``bind``)."""
        self.state: torch.Tensor | None = None
        """The global state [B, S] of the step being perturbed (set by ``__call__``; ROMANCE-s reads it)."""

    @classmethod
    def build(cls, info: EnvInfo, cfg: MethodConfig, generator: torch.Generator, device: str | torch.device = "cpu",
              steps: int = 200_000) -> "Attack":
        """A fresh learned adversary for maps of ``info`` with settings ``cfg`` (``steps``: the
        env steps it will train for, which schedules such as MAPPO's lr decay span).  By default
        the constructor ``cls(info, generator=…, cfg=…, device=…)``; an attack built otherwise
        overrides this."""
        if not cls.learned:
            raise NotImplementedError(f"attack {cls.name!r} is not learned")
        return cls(info, generator=generator, cfg=cfg, device=device)

    def bind(self, threat: BoundThreat) -> "Attack":
        """Perturb under ``threat`` from now on (K, M and the touchable coordinates of one
        environment); returns the attack."""
        self.threat = threat
        return self

    @property
    def attacked_agents(self) -> torch.Tensor | None:
        """[N] bool: the attacked set M of the bound threat model (None = every agent)."""
        return None if self.threat is None else self.threat.agents

    def reset(self, batch_size: int) -> None:
        """Start of a new batch of episodes."""

    def perturb(self, agent: Agent, obs: torch.Tensor, hidden: torch.Tensor, avail: torch.Tensor,
                eps: float, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def override(self, q: torch.Tensor, actions: torch.Tensor, avail: torch.Tensor, state: torch.Tensor,
                 active: torch.Tensor) -> torch.Tensor:
        """The actions [B, N] the env executes, given the protagonist's Q [B, N, A] on what it saw,
        its chosen ``actions``, the global ``state`` [B, S] and the still-running copies ``active``
        [B] (identity: observation attacks never touch actions)."""
        return actions

    def __call__(self, agent: Agent, obs: torch.Tensor, hidden: torch.Tensor, avail: torch.Tensor,
                 eps: float, state: torch.Tensor | None = None) -> torch.Tensor:
        """ô [B, N, D] for obs [B, N, D], hidden [B, N, H], avail [B, N, A] (and the global ``state``
        [B, S], for attacks that condition on it) at radius ``eps``; the bound threat model's budget
        enforced.

        At ε ≤ 0 the observation is returned unchanged, but a learned adversary still runs
        ``perturb`` so that it records its own step (an ε ramp or a zero-ε phase of a defense
        must not break its ``learn``); Proj with ε = 0 maps its proposal back to o."""
        self.state = state
        if eps <= 0 and not self.learned:
            return obs
        threat = self.threat
        if threat is None:
            raise RobenchError(f"attack {self.name!r} is not bound to a threat model (Attack.bind)")
        eps = max(eps, 0.0)
        low, high = threat.low, threat.high
        x = project(self.perturb(agent, obs, hidden, avail, eps, low, high).detach(), obs, eps, low, high)
        if threat.agents is not None:
            x = torch.where(threat.agents.to(x.device).view(1, -1, 1), x, obs)
        if threat.features is not None:
            x = torch.where(threat.features.to(x.device).view(1, 1, -1), x, obs)
        return x


class LearnedAttack(Attack):
    """The contract of a learned adversary — what ``robench attack train``, the co-trained
    defenses, the checkpoints and the grid rely on:

      * ``training`` — True while it trains (it explores: samples its policy, ε-greedy targets);
        False at evaluation;
      * ``learn(batch)`` — one update from the recorded batch of the rollout it perturbed (its
        clean observations, its own recorded choices, r̂ = −r);
      * ``restrict(rows)`` — keep only the episodes ``rows`` of that rollout's record, so that
        ``learn`` takes ``batch.rows(rows)`` (a regime with ``attack_prob`` < 1: it learns from
        the episodes it perturbed only);
      * ``state_dict()`` / ``load_state_dict(tensors)`` — its weights as named tensors (the
        adversary checkpoint's safetensors);
      * ``director_kind`` — the learner its manifest records (``vdn`` / ``qmix`` / ``mappo`` …);
      * ``build(info, cfg, generator, device, steps)`` and ``Config`` — a fresh one from its typed
        settings (``Attack.build``).
    """

    learned = True
    director_kind = "learned"
    training = False

    def learn(self, batch) -> dict[str, float]:
        raise NotImplementedError

    def restrict(self, rows: torch.Tensor) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def load_state_dict(self, tensors: dict[str, torch.Tensor]) -> None:
        raise NotImplementedError
