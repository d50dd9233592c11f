"""The settings and the budget of a training run, shared by the protagonist's loop (``robench.train``) and an
adversary's (``attacks.training``): ``steps`` env steps, a point of the training curve every
``eval_every`` of them (at the first round, and at the last), an optional wall-clock limit."""
from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class RunSettings:
    """What every training run sets besides its method and its budget (the protagonist's
    ``robench.train.TrainConfig``, an adversary's ``attacks.training.AttackTrainConfig``)."""

    seed: int = 0
    """Seed of everything the run draws (envs, initialisation, exploration, sampling)."""
    n_envs: int = 32
    """B, environment copies stepped in lockstep per round (PyMARL: 8; measured: 32); at most the
    backend's ``robench.envs.Backend.max_copies`` (sc2: 8 StarCraft II games)."""
    max_wall_s: float | None = None
    """Stop early after this many seconds of training (None = no limit)."""
    device: str = "cpu"
    """torch device of what learns."""


class StepBudget:
    """Counts env steps and wall time; says when the curve is due and when to stop."""

    def __init__(self, steps: int, eval_every: int, max_wall_s: float | None = None):
        self.steps, self.eval_every, self.max_wall_s = steps, eval_every, max_wall_s
        self.t_env, self._next_eval = 0, 0
        self.start = time.perf_counter()
        self.out_of_time = False

    @property
    def next_eval(self) -> int:
        """The env step count at which the next curve point falls due."""
        return self._next_eval

    def resume(self, t_env: int, next_eval: int, wall_s: float) -> None:
        """Continue a budget that had counted ``t_env`` steps in ``wall_s`` seconds (a snapshot)."""
        self.t_env, self._next_eval = t_env, next_eval
        self.start = time.perf_counter() - wall_s

    def running(self) -> bool:
        """Whether steps are left."""
        return self.t_env < self.steps

    def wall_s(self) -> float:
        """Seconds since the budget started."""
        return time.perf_counter() - self.start

    def advance(self, env_steps: int) -> bool:
        """Count a round of ``env_steps``; True when a curve evaluation is due after it (the step
        count passed the next multiple of ``eval_every``, the budget is spent, or time is up)."""
        self.t_env += env_steps
        self.out_of_time = self.max_wall_s is not None and self.wall_s() >= self.max_wall_s
        due = self.t_env >= self._next_eval or not self.running() or self.out_of_time
        if due:
            self._next_eval += self.eval_every
        return due
