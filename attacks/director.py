"""What every learned "director + STor" adversary shares (PAAD, ATSA; later ROMANCE-s, RAP).

A director picks a target action â_i per attacked agent from the *clean* observation stream
(with a recurrent state of its own); STor realises it as an ε-ball perturbation with Eq. 13.
This base records the targets of a rollout and turns the recorded batch into the director's own
experience: (clean observations, targets â, reward r̂ = −r, the protagonist's taken actions).
"""
from __future__ import annotations

import torch

from attacks.base import LearnedAttack
from attacks.targeted import targeted_step
from robench.learners.agent import Agent
from robench.learners.buffer import EpisodeBatch


class DirectorAttack(LearnedAttack):
    director_kind = "director"

    def __init__(self, generator: torch.Generator | None, policy: Agent, device: str | torch.device):
        super().__init__(generator)
        self.policy, self.device = policy, torch.device(device)
        self.training = False
        self._hidden: torch.Tensor | None = None
        self._targets: list[torch.Tensor] = []

    def reset(self, batch_size: int) -> None:
        self._hidden = self.policy.init_hidden(batch_size, self.device)
        self._targets = []

    def target_scores(self, obs: torch.Tensor) -> torch.Tensor:
        """The policy network's outputs [B, N, A] on clean obs (advances the director's GRU)."""
        with torch.no_grad():
            out, self._hidden = self.policy.step(obs, self._hidden)
        return out

    def choose_targets(self, obs: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
        """â [B, N] among available actions."""
        raise NotImplementedError

    def direct(self, obs: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
        """The director's step: targets â [B, N] for clean obs, recorded for ``director_batch``."""
        target = self.choose_targets(obs, avail)
        self._hidden = self.policy.record_actions(self._hidden, target)
        self._targets.append(target)
        return target

    def restrict(self, rows: torch.Tensor) -> None:
        self._targets = [t[rows.to(t.device)] for t in self._targets]

    def adopt(self, targets: torch.Tensor) -> None:
        """Record targets [B, T, N] chosen with this director's network outside ``direct`` (a
        population's stacked step) as this rollout's, for ``director_batch``."""
        self._targets = list(targets.unbind(1))

    def perturb(self, agent: Agent, obs, hidden, avail, eps, low, high) -> torch.Tensor:
        return targeted_step(agent, obs, hidden, avail, self.direct(obs, avail), eps, low, high)

    def director_batch(self, batch: EpisodeBatch) -> EpisodeBatch:
        """The recorded rollout seen from the director: clean obs, its targets, −r, and the
        protagonist's *greedy* action on ô (``extras["greedy_actions"]``, Eq. 14's a^taken)."""
        if batch.clean_obs is None or len(self._targets) != batch.steps:
            raise ValueError("learn() needs the recorded batch of the rollout this adversary perturbed")
        return EpisodeBatch(obs=batch.clean_obs, state=batch.state, avail=batch.avail,
                            actions=torch.stack(self._targets, dim=1), reward=-batch.reward,
                            terminated=batch.terminated, mask=batch.mask,
                            extras={"taken": batch.extras["greedy_actions"]})
