"""What the regularised defenses share (PR, PR-REP, ERNIE): clean rollouts, and one extra term
on the protagonist's TD loss computed on the replay batch around every stored observation.

* ``perturbed_q`` — Q on perturbed observations x of the stored sequences, batched over all
  episodes, steps and agents at once.  ``recurrent="fixed"`` (default, docs/methods.md's open
  decision): each step t is re-evaluated from the context it started from in the clean unroll,
  held fixed and detached — ``Agent.step(x_t, context_t)`` on B·T rows, one batched call;
  ``recurrent="unroll"``: the perturbed sequence is unrolled through the GRU (x_t moves every
  later step too; the gradient flows through time).
* the inner maximisation — k signed-gradient ascent steps on an objective of x, each followed
  by Proj onto the ε-ball around o and the observation bounds: ``attacks.base.signed_steps``,
  the iteration PGD and STor use too.
* ``Regularised`` — the defense base: its ``extra_losses`` is ``[weight(progress) · term]``
  where the subclass defines ``term(ctx, eps)`` and ``schedule`` (weight and ε); the term is
  computed on a random ``batch_frac`` of the replay sample's episodes and, with ``reg_prob`` = p
  < 1 (PR, PR-REP: ``term_prob``), only at a random fraction p of the learner steps, weighted 1/p there (the
  term's k ascent steps cost k input-gradient passes over the batch it is computed on).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from defenses.base import Defense, DefenseConfig
from robench.envs.protocol import EnvInfo
from robench.learners.agent import Agent
from robench.learners.learner import LossContext, QLearner
from robench.method_config import MethodConfig, setting
from robench.options import Option

RECURRENT = ("fixed", "unroll")


@dataclass(frozen=True)
class RegularisedConfig(MethodConfig):
    """The settings every regulariser has (each subclass adds its weight and schedule)."""

    recurrent: str = setting("fixed", choices=RECURRENT)
    """How Q is evaluated on the perturbed sequence: ``fixed`` recurrent context or ``unroll``."""
    batch_frac: float = setting(0.25, low=1e-6, high=1.0)
    """Share of the replay sample's episodes the term is computed on (at least one)."""


def perturbed_q(agent: Agent, x: torch.Tensor, ctx: LossContext, recurrent: str) -> torch.Tensor:
    """Q [B, T, N, A] on perturbed observations x [B, T, N, D] of the first T stored steps."""
    b, t = x.shape[:2]
    if recurrent == "unroll":
        return agent.unroll(x, ctx.batch.actions[:, : t - 1] if agent.last_action else None)
    q, _ = agent.step(x.flatten(0, 1), ctx.context[:, :t].flatten(0, 1))
    return q.view(b, t, *q.shape[1:])


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of values [B, T, N] over agents and the real steps (mask [B, T])."""
    m = mask.float()
    return (values.mean(-1) * m).sum() / m.sum().clamp(min=1.0)


def ramp_schedule(weight: float, eps: float, progress: float, start: float = 0.0, ramp: float = 0.0
                  ) -> tuple[float, float]:
    """(weight, ε) at ``progress``: (0, 0) before ``start`` (SA-DQN's ``schedule_start``: the TD
    loss alone first learns a policy worth making robust); from there the constant weight, with ε
    ramping 0 → ε over the next ``ramp`` fraction of training when ``ramp`` > 0."""
    if progress < start:
        return 0.0, 0.0
    return weight, eps * (min(1.0, (progress - start) / ramp) if ramp > 0 else 1.0)


def sawtooth(progress: float, teeth: int = 3) -> float:
    """Position in the current tooth: 0 at the start of each of ``teeth`` equal parts of training,
    rising linearly to 1 at its end (1 at progress = 1)."""
    if progress >= 1.0:
        return 1.0
    u = progress * teeth
    return u - int(u)


class Regularised(Defense):
    """Clean rollouts + ``weight · term`` on the replay batch (subclasses: ``term``, ``schedule``,
    a ``Config`` derived from ``RegularisedConfig``)."""

    attack_name = "none"
    Config = RegularisedConfig
    REWARD_SCALES = {"smax": 10.0}
    """The protagonist's reward scale c of the zoo's recipe per backend: the weights μ, λ were tuned
    against SMAC's episode returns of 20; SMAX's are at most 2 (``LearnerConfig.reward_scale``;
    evidence: docs/evidence/reward-scale.md)."""

    @classmethod
    def zoo_learner(cls, backend: str) -> dict[str, Option]:
        return {"reward_scale": cls.REWARD_SCALES[backend]} if backend in cls.REWARD_SCALES else {}

    def __init__(self, cfg: DefenseConfig, learner: QLearner, info: EnvInfo):
        super().__init__(cfg, learner, info)
        self.low, self.high = cfg.threat.low, cfg.threat.high
        self.extra_losses = [self.regulariser]

    @classmethod
    def perturbs_training(cls) -> bool:
        return True

    def budget(self, progress: float) -> float:
        """Rollouts are clean: the regulariser's ε is ``schedule``'s, not the rollout's."""
        return 0.0

    def schedule(self, progress: float) -> tuple[float, float]:
        """(weight, ε) of the term at ``progress`` ∈ [0, 1]."""
        raise NotImplementedError

    def term_prob(self) -> float:
        """p: the share of learner steps that pay the term (1 = every step)."""
        return 1.0

    def term(self, ctx: LossContext, eps: float) -> torch.Tensor:
        raise NotImplementedError

    def regulariser(self, ctx: LossContext) -> torch.Tensor:
        """weight · term on a random ``batch_frac`` of the sampled episodes (at least one), and
        with probability p = ``reg_prob`` per learner step at weight/p (else 0): an unbiased
        estimate of weight · term (E = p · weight/p · term) at a fraction of its cost."""
        weight, eps = self.schedule(ctx.progress)
        p = self.term_prob()
        if weight == 0 or eps <= 0 or (p < 1 and torch.rand((), generator=ctx.generator).item() >= p):
            return ctx.q.new_zeros(())
        weight /= p
        b = ctx.batch.size
        k = max(1, math.ceil(self.config.batch_frac * b))
        if k < b:
            rows = torch.randperm(b, generator=ctx.generator)[:k].to(ctx.q.device)
            ctx = replace(ctx, batch=ctx.batch.rows(rows), q=ctx.q[rows], context=ctx.context[rows])
        return weight * self.term(ctx, eps)

    def perturbed(self, ctx: LossContext, x: torch.Tensor) -> torch.Tensor:
        return perturbed_q(ctx.learner.agent, x, ctx, self.config.recurrent)
