"""``paad``: a learned director over target actions + the targeted step (docs/methods.md, PAAD).

Director: a value-decomposition Q-learner with the protagonist's own architecture
(``robench.learners``: GRU agent, VDN/QMIX mixer, double-Q TD(λ)), whose action for agent i
is a target â_i among i's available actions, whose input is the *clean* observation stream
(with its own recurrent state) and whose reward is r̂ = −r (zero-sum with the team).
ε-greedy while learning, greedy at evaluation.  The actor realises â with Eq. 13.
This is the "target-action" reading of App. H.2 (PAAD = ATSA without entropy and κ loss).

``director="direction"`` (``PAADDirection``) is the original PA-AD instead: a Gaussian policy
(``attacks.mappo.GaussianMAPPO``, A outputs, reward −r) emits a direction u_i ∈ R^|A_i|, made
zero-sum over i's available actions, d_i = (u_i − mean_avail u_i)·avail_i, and the actor takes
one signed step that moves the victim's softmax policy along d (``targeted.direction_step``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from attacks.director import DirectorAttack
from attacks.mappo import GaussianPolicyAttack, MAPPOConfig
from attacks.targeted import direction_step
from robench.checkpoint import load_modules, module_tensors
from robench.envs.protocol import EnvInfo
from robench.learners.agent import AGENTS, Agent
from robench.learners.buffer import EpisodeBatch, ReplayBuffer
from robench.learners.learner import LearnerConfig, QLearner
from robench.learners.mixers import MIXERS
from robench.method_config import MethodConfig, setting
from robench.rollout import explore_actions

PAAD_DIRECTORS = ("target", "direction")
"""PAAD's director: the target-action Q-learner (``PAAD``) or the original PA-AD direction policy
(``PAADDirection``)."""


@dataclass(frozen=True)
class PAADConfig(MethodConfig):
    """PAAD's settings."""

    director: str = setting("target", choices=PAAD_DIRECTORS)
    """``target`` (target-action Q-learner) or ``direction`` (original PA-AD)."""
    updates_per_batch: int = setting(4, low=1)
    """Gradient steps of the target director per recorded batch of episodes (the direction policy
    takes one MAPPO update and ignores it)."""
    director_mixer: str = setting("vdn", choices=tuple(MIXERS), from_victim=True)
    """The target director's mixer: the victim's (App. H.2, ``for_victim``)."""
    director_agent: str = setting("rnn", choices=tuple(AGENTS), from_victim=True)
    """The target director's agent network: the victim's."""

    def for_victim(self, learner: LearnerConfig) -> "PAADConfig":
        """The director takes the victim's architecture (App. H.2: the protagonist's)."""
        return replace(self, director_mixer=learner.mixer, director_agent=learner.agent)


class PAAD(DirectorAttack):
    name = "paad"
    label = "PAAD"
    director_kind = "vdn"
    Config = PAADConfig
    replay = True

    @classmethod
    def build(cls, info: EnvInfo, cfg: PAADConfig, generator: torch.Generator, device: str | torch.device = "cpu",
              steps: int = 200_000) -> "PAAD | PAADDirection":
        """The configured director; the direction policy's MAPPO lr decays over ``steps``."""
        if cfg.director == "direction":
            return PAADDirection(info, generator, cfg=MAPPOConfig(anneal_steps=steps), device=device)
        return cls(info, generator, device=device, updates_per_batch=cfg.updates_per_batch,
                   learner=LearnerConfig(mixer=cfg.director_mixer, agent=cfg.director_agent))

    def __init__(self, info: EnvInfo, generator: torch.Generator | None = None, learner: LearnerConfig | None = None,
                 explore: float = 0.05, updates_per_batch: int = 4, buffer_size: int = 2000,
                 device: str | torch.device = "cpu"):
        director = QLearner(learner or LearnerConfig(), info.obs_dim, info.n_agents, info.n_actions,
                            info.state_dim, device)
        super().__init__(generator, director.agent, device)
        self.info, self.director = info, director
        self.director_kind = director.cfg.mixer  # the director's own value decomposition (vdn / qmix)
        self.buffer = ReplayBuffer(buffer_size, info.episode_limit, info.n_agents, info.obs_dim, info.state_dim,
                                   info.n_actions)
        self.explore, self.updates_per_batch = explore, updates_per_batch
        self.episodes = 0

    def choose_targets(self, obs: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
        """â [B, N]: ε-greedy (training) or greedy on the director's utilities."""
        return explore_actions(self.target_scores(obs), avail, self.explore if self.training else 0.0,
                               self.generator)

    def learn(self, batch: EpisodeBatch, updates: int | None = None) -> dict[str, float]:
        """Store the batch as the director's experience (clean obs, targets, −r) and take ``updates``
        gradient steps (default ``updates_per_batch``; 0 = store only, a population's idle turn)."""
        self.buffer.insert(self.director_batch(batch))
        self.episodes += batch.size
        stats: dict[str, float] = {}
        if len(self.buffer) >= self.director.cfg.batch_size:
            for _ in range(self.updates_per_batch if updates is None else updates):
                stats = self.director.train(self.buffer.sample(self.director.cfg.batch_size, self.generator))
        self.director.maybe_update_targets(self.episodes)
        return stats

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"agent": self.director.agent, "mixer": self.director.mixer}

    def state_dict(self) -> dict[str, torch.Tensor]:
        return module_tensors(self.modules())

    def load_state_dict(self, tensors: dict[str, torch.Tensor]) -> None:
        load_modules(self.modules(), tensors, f"{self.name} adversary")


def zero_sum_direction(u: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
    """d = (u − mean of u over the available actions), zero on unavailable ones: Σ_a d_a = 0."""
    a = avail.float()
    mean = (u * a).sum(-1, keepdim=True) / a.sum(-1, keepdim=True).clamp(min=1.0)
    return (u - mean) * a


class PAADDirection(GaussianPolicyAttack):
    """PA-AD with its original director: a learned direction in policy space + ``direction_step``."""

    name = "paad"
    label = "PAAD"
    director_kind = "direction"

    @staticmethod
    def out_dim(info: EnvInfo) -> int:
        return info.n_actions

    def perturb(self, agent: Agent, obs, hidden, avail, eps, low, high) -> torch.Tensor:
        direction = zero_sum_direction(self.act(obs), avail)
        return direction_step(agent, obs, hidden, avail, direction, eps, low, high)
