"""``paad``: a learned director over target actions + the targeted step (METHODS.md, PAAD).

Director: a value-decomposition Q-learner with the protagonist's own architecture
(``robench.learners``: GRU agent, VDN/QMIX mixer, double-Q TD(λ)), whose action for agent i
is a target â_i among i's available actions, whose input is the *clean* observation stream
(with its own recurrent state) and whose reward is r̂ = −r (zero-sum with the team).
ε-greedy while learning, greedy at evaluation.  The actor realises â with Eq. 13.
This is the "target-action" reading of App. H.2 (PAAD = ATSA without entropy and κ loss).
"""
from __future__ import annotations

import torch

from attacks.base import Attack
from attacks.targeted import targeted_step
from robench.envs.protocol import EnvInfo
from robench.learners.agent import RNNAgent
from robench.learners.buffer import EpisodeBatch, ReplayBuffer
from robench.learners.learner import LearnerConfig, QLearner
from robench.rollout import explore_actions


class PAAD(Attack):
    name = "paad"
    learned = True
    director_kind = "vdn"

    def __init__(self, info: EnvInfo, generator: torch.Generator | None = None,
                 attacked_agents: torch.Tensor | None = None, learner: LearnerConfig | None = None,
                 explore: float = 0.05, updates_per_batch: int = 4, buffer_size: int = 2000,
                 device: str | torch.device = "cpu"):
        super().__init__(generator, attacked_agents)
        self.info = info
        self.director = QLearner(learner or LearnerConfig(), info.obs_dim, info.n_agents, info.n_actions,
                                 info.state_dim, device)
        self.buffer = ReplayBuffer(buffer_size, info.episode_limit, info.n_agents, info.obs_dim, info.state_dim,
                                   info.n_actions)
        self.explore, self.updates_per_batch = explore, updates_per_batch
        self.training = False
        self.episodes = 0
        self._hidden: torch.Tensor | None = None
        self._targets: list[torch.Tensor] = []

    def reset(self, batch_size: int) -> None:
        self._hidden = self.director.agent.init_hidden(batch_size, self.director.device)
        self._targets = []

    def choose_targets(self, obs: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
        """â [B, N] from the director's utilities on the clean observation (advances its GRU)."""
        with torch.no_grad():
            q, self._hidden = self.director.agent.step(obs, self._hidden)
        return explore_actions(q, avail, self.explore if self.training else 0.0, self.generator)

    def perturb(self, agent: RNNAgent, obs, hidden, avail, eps, low, high) -> torch.Tensor:
        target = self.choose_targets(obs, avail)
        self._targets.append(target)
        return targeted_step(agent, obs, hidden, avail, target, eps, low, high)

    def learn(self, batch: EpisodeBatch) -> dict[str, float]:
        """Store the batch as the director's experience (clean obs, targets, −r) and update."""
        if batch.clean_obs is None or len(self._targets) != batch.steps:
            raise ValueError("learn() needs the recorded batch of the rollout this adversary perturbed")
        own = EpisodeBatch(obs=batch.clean_obs, state=batch.state, avail=batch.avail,
                           actions=torch.stack(self._targets, dim=1), reward=-batch.reward,
                           terminated=batch.terminated, mask=batch.mask)
        self.buffer.insert(own)
        self.episodes += batch.size
        stats: dict[str, float] = {}
        if len(self.buffer) >= self.director.cfg.batch_size:
            for _ in range(self.updates_per_batch):
                stats = self.director.train(self.buffer.sample(self.director.cfg.batch_size, self.generator))
        self.director.maybe_update_targets(self.episodes)
        return stats

    def state_dict(self) -> dict[str, torch.Tensor]:
        out = {f"agent.{k}": v for k, v in self.director.agent.state_dict().items()}
        out.update({f"mixer.{k}": v for k, v in self.director.mixer.state_dict().items()})
        return out

    def load_state_dict(self, tensors: dict[str, torch.Tensor]) -> None:
        self.director.agent.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("agent.")})
        self.director.mixer.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("mixer.")})
