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
  where the subclass defines ``term(ctx, eps)``; weight and ε come from ``schedule``; the term is
  computed on a random ``batch_frac`` of the replay sample's episodes and, with ``reg_prob`` = p
  < 1 (PR, PR-REP), only at a random fraction p of the learner steps, weighted 1/p there (PR's
  5-step PGD on the whole batch at every step costs ≈ 2.3× a NoAdv run; measured, see the README).
"""
from __future__ import annotations

import math
from dataclasses import replace

import torch

from defenses.base import Defense, DefenseConfig
from robench.envs.protocol import EnvInfo
from robench.learners.agent import Agent
from robench.learners.learner import LossContext, QLearner

RECURRENT = ("fixed", "unroll")


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


def sawtooth(progress: float, teeth: int = 3) -> float:
    """Position in the current tooth: 0 at the start of each of ``teeth`` equal parts of training,
    rising linearly to 1 at its end (1 at progress = 1)."""
    if progress >= 1.0:
        return 1.0
    u = progress * teeth
    return u - int(u)


class Regularised(Defense):
    """Clean rollouts + ``weight · term`` on the replay batch (subclasses: ``term``, ``OPTIONS``)."""

    attack_name = "none"
    WEIGHT = "mu"
    """The name of the option holding the term's weight."""
    CHOICES = {"recurrent": RECURRENT}

    def __init__(self, cfg: DefenseConfig, learner: QLearner, info: EnvInfo):
        super().__init__(cfg, learner, info)
        if cfg.obs_low is None or cfg.obs_high is None:
            raise ValueError("regularised defenses need the observation bounds (DefenseConfig.obs_low/high)")
        self.low, self.high = cfg.obs_low, cfg.obs_high
        self.extra_losses = [self.regulariser]

    @classmethod
    def perturbs_training(cls) -> bool:
        return True

    def budget(self, progress: float) -> float:
        """Rollouts are clean: the regulariser's ε is ``schedule``'s, not the rollout's."""
        return 0.0

    def schedule(self, progress: float) -> tuple[float, float]:
        """(weight, ε) at ``progress``: no regulariser before ``reg_start`` (SA-DQN's
        ``schedule_start``: the TD loss alone first learns a policy worth making robust); from
        there a constant weight, with ε ramping 0 → ε over the next ``eps_ramp`` fraction of
        training when that option is > 0."""
        start = float(self.options.get("reg_start", 0.0))
        if progress < start:
            return 0.0, 0.0
        ramp = float(self.options.get("eps_ramp", 0.0))
        eps = self.cfg.eps * (min(1.0, (progress - start) / ramp) if ramp > 0 else 1.0)
        return float(self.options[self.WEIGHT]), eps

    def term(self, ctx: LossContext, eps: float) -> torch.Tensor:
        raise NotImplementedError

    def regulariser(self, ctx: LossContext) -> torch.Tensor:
        """weight · term on a random ``batch_frac`` of the sampled episodes (at least one), and
        with probability p = ``reg_prob`` per learner step at weight/p (else 0): an unbiased
        estimate of weight · term (E = p · weight/p · term) at a fraction of its cost."""
        weight, eps = self.schedule(ctx.progress)
        p = float(self.options.get("reg_prob", 1.0))
        if weight == 0 or eps <= 0 or (p < 1 and torch.rand((), generator=ctx.generator).item() >= p):
            return ctx.q.new_zeros(())
        weight /= p
        b = ctx.batch.size
        k = max(1, math.ceil(float(self.options["batch_frac"]) * b))
        if k < b:
            rows = torch.randperm(b, generator=ctx.generator)[:k].to(ctx.q.device)
            ctx = replace(ctx, batch=ctx.batch.rows(rows), q=ctx.q[rows], context=ctx.context[rows])
        return weight * self.term(ctx, eps)

    def perturbed(self, ctx: LossContext, x: torch.Tensor) -> torch.Tensor:
        return perturbed_q(ctx.learner.agent, x, ctx, str(self.options["recurrent"]))
