"""Action attacks (ROMANCE, Yuan et al. 2023): sparse hijacks of one agent's action.

At every step of every env copy an attacker picks an option c ∈ {0, 1, …, N}: c = 0 attacks
nobody, c = i + 1 hijacks agent i, which then executes its own lowest-Q available action

    a_i = argmin_{a ∈ avail_i} Q_i(τ_i, a)

instead of the one it chose.  Each episode has a budget of ``attack_num`` hijacks; the base
class enforces it whatever a subclass proposes (options 1..N are refused once it is spent and in
finished copies) and records (state, budget left, option) for the attacker's own learning.
Observations are never touched: ``perturb`` returns o, so an action attack satisfies every
observation budget trivially and runs through the same rollout engine, grid and checkpoints as
the observation attacks (the rollout calls ``override`` between action choice and ``env.step``).
"""
from __future__ import annotations

import torch

from attacks.base import Attack
from robench.learners.agent import Agent


def lowest_q_actions(q: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
    """argmin over available actions of Q [B, N, A] → [B, N]."""
    return q.masked_fill(~avail, float("inf")).argmin(-1)


class HijackAttack(Attack):
    """Base action attack: budget bookkeeping, the lowest-Q override and the recorded trace."""

    hijacks = True

    def __init__(self, n_agents: int, attack_num: int = 6, generator: torch.Generator | None = None):
        super().__init__(generator)
        self.n_agents, self.attack_num = n_agents, attack_num
        self.left = torch.zeros(0, dtype=torch.int64)
        """[B] hijacks left in each episode of the current batch."""
        self.trace: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        """Per step: (state [B, S], budget left before the step [B], option [B])."""

    def reset(self, batch_size: int) -> None:
        self.left = torch.full((batch_size,), self.attack_num, dtype=torch.int64)
        self.trace = []

    def restrict(self, rows: torch.Tensor) -> None:
        self.left = self.left[rows.to(self.left.device)]
        self.trace = [tuple(x[rows.to(x.device)] for x in step) for step in self.trace]

    def perturb(self, agent: Agent, obs, hidden, avail, eps, low, high) -> torch.Tensor:
        return obs

    def choose(self, state: torch.Tensor, left: torch.Tensor) -> torch.Tensor:
        """Options [B] in 0..N for global states [B, S] and budgets left [B]."""
        raise NotImplementedError

    def decide(self, state: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        """This step's hijacked agents [B, N] bool (at most one per copy, none once the budget is
        spent, in a finished copy, or outside the attacked set M); charges the budget and records
        the step."""
        left = self.left.to(state.device)
        option = torch.where((left > 0) & active, self.choose(state, left), 0)
        if self.attacked_agents is not None:  # only agents of the attacked set M can be hijacked
            allowed = torch.cat([torch.ones(1, dtype=torch.bool), self.attacked_agents.cpu()]).to(option.device)
            option = torch.where(allowed[option], option, 0)
        self.trace.append((state, left, option))
        self.left = left - (option > 0).long()
        return option.unsqueeze(-1) == torch.arange(1, self.n_agents + 1, device=option.device)

    def override(self, q: torch.Tensor, actions: torch.Tensor, avail: torch.Tensor, state: torch.Tensor,
                 active: torch.Tensor) -> torch.Tensor:
        return torch.where(self.decide(state, active), lowest_q_actions(q, avail), actions)

    def hijack_counts(self) -> torch.Tensor:
        """[B] hijacks spent in each episode of the current batch."""
        return self.attack_num - self.left
