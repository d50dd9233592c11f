"""The training regime of an adversarially trained protagonist: which rollouts the training
adversary perturbs, at what ε over the run, and what replay keeps for the TD target.

  * ``attack_prob`` p and ``attack_unit``: each episode (``episode``) or each agent-step
    (``step``) of a training rollout is perturbed with probability p, else the protagonist sees
    the clean observation (SA-DQN's ``adv_ratio``; 1 = every step, the ATSA authors' code);
  * ``eps_warmup`` w: the training budget is ε_t = ε · min(1, progress / w) (w = 0: the full ε
    from the first step; SA-DQN and PA-AD ramp ε linearly from 0);
  * ``replay``: ``perturbed`` stores what the protagonist acted on, õ_t (the paper's
    Algorithm 1); ``clean`` stores o_t (SA-DQN pushes the clean state);
  * ``eps_draw``: ``fixed`` perturbs at ε_t; ``uniform`` draws each rollout's radius from
    U(0, ε_t] (one draw per batch of env copies), so that the protagonist meets every radius up
    to ε rather than only ε itself (beyond the originals: an FGSM-trained team's win rate under
    FGSM is not monotone in ε, docs/evidence/fgsm-robustness.md).

Each defense declares its defaults (``Defense.REGIME``); ``robench train --attack-prob …
--eps-warmup … --replay …`` overrides them, and the resolved regime is recorded in the
manifest (``docs/threat-model.md``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import torch

from robench.errors import RobenchError
from robench.learners.buffer import EpisodeBatch

UNITS = ("episode", "step")
REPLAYS = ("perturbed", "clean")
EPS_DRAWS = ("fixed", "uniform")
ADDED = {"eps_draw": "fixed"}
"""Settings added after zoo runs were recorded, with the value those runs had: a protocol label
leaves a setting out at that value, so the runs' labels stay what they were."""


@dataclass(frozen=True)
class Regime:
    """How a defense's training adversary enters the one loop (module docstring)."""

    attack_prob: float = 1.0
    """Probability that an episode (or step, see ``attack_unit``) of a training rollout is perturbed."""
    attack_unit: str = "episode"
    """``episode``: one coin per episode; ``step``: one coin per step of each episode."""
    eps_warmup: float = 0.0
    """Fraction of training over which ε ramps linearly from 0 to its value (0 = no ramp)."""
    replay: str = "perturbed"
    """What replay stores as the protagonist's observation: ``perturbed`` (õ) or ``clean`` (o)."""
    eps_draw: str = "fixed"
    """``fixed``: every perturbed rollout at ε_t; ``uniform``: each rollout at ε' ~ U(0, ε_t]."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.attack_prob <= 1.0:
            raise RobenchError(f"attack_prob must lie in [0, 1], got {self.attack_prob}")
        if not 0.0 <= self.eps_warmup <= 1.0:
            raise RobenchError(f"eps_warmup must lie in [0, 1], got {self.eps_warmup}")
        if self.attack_unit not in UNITS:
            raise RobenchError(f"attack_unit must be one of {', '.join(UNITS)}, got {self.attack_unit!r}")
        if self.replay not in REPLAYS:
            raise RobenchError(f"replay must be one of {', '.join(REPLAYS)}, got {self.replay!r}")
        if self.eps_draw not in EPS_DRAWS:
            raise RobenchError(f"eps_draw must be one of {', '.join(EPS_DRAWS)}, got {self.eps_draw!r}")

    def warmup(self, progress: float) -> float:
        """min(1, progress / w): the factor on ε at ``progress`` ∈ [0, 1]."""
        return 1.0 if self.eps_warmup <= 0 else min(1.0, progress / self.eps_warmup)

    def draw(self, eps: float, generator: torch.Generator) -> float:
        """A rollout's radius: ε itself (``fixed``, drawing nothing) or (1 − u)·ε, u ~ U[0, 1)."""
        if self.eps_draw == "fixed":
            return eps
        return eps * (1.0 - float(torch.rand((), generator=generator)))

    def with_overrides(self, overrides: dict[str, Any]) -> "Regime":
        """This regime with the non-None entries of ``overrides`` applied."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise RobenchError(f"no regime setting {', '.join(unknown)}; settings: {', '.join(sorted(known))}")
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


LEGACY = Regime()
"""The regime of every run recorded before regimes were: every episode at the full ε, õ in replay."""


def attack_coins(shape: tuple[int, ...], prob: float, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Bernoulli(p) coins of ``shape`` (all true at p = 1, drawing nothing from ``generator``)."""
    if prob >= 1.0:
        return torch.ones(shape, dtype=torch.bool, device=device)
    return (torch.rand(shape, generator=generator, device="cpu") < prob).to(device)


def stored(batch: EpisodeBatch, replay: str) -> EpisodeBatch:
    """What replay keeps of a recorded batch: õ as acted on (``perturbed``) or o (``clean``)."""
    return batch if replay == "perturbed" else replace(batch, obs=batch.clean_obs)
