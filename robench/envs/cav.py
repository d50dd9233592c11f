"""The ``cav`` backend: maps ``merge`` and ``merge_safe`` (the same scene with Chen et al.'s
priority-based safety supervisor on, as in their env's default) — B copies of
``cav_merge.ChenMergeEnv`` behind the batched protocol, stepped in worker processes (the policy and
the attacks stay batched in the caller).

Observation per agent (D = 25): highway-env's Kinematics of the 5 nearest vehicles, ego first,
features (presence, x, y, vx, vy); the ego row absolute, the others relative to the ego; x
normalised by 150 m, y by 12 m, speeds by 45 m/s (lmap to [−1, 1]).  Bounds per feature, to
which every observation (and so every attack) is clipped: presence ∈ [0, 1]; the ego's x ∈
[−1, 3.5] (its absolute position up to the road's 520 m), every other feature ∈ [−1, 1].
State: the three agents' observations concatenated (S = 75).  Actions: the 5 meta-actions
(LANE_LEFT, IDLE, LANE_RIGHT, FASTER, SLOWER), always available.  Team reward: the mean of the
CAVs' Chen et al. rewards; ``crashed`` = a CAV crashed (the episode ends there, terminated);
``won`` is undefined for CAV and always false; 100 policy steps, then a time-out.

Determinism: copy k of ``reset(seed)`` is seeded with ``seed * 1_000_003 + k``, whatever the
number of workers.  ``workers = 0`` steps the copies in this process; the default is
``$ROBENCH_CAV_WORKERS`` or 2.
"""
from __future__ import annotations

import numpy as np
import torch

from robench.envs.protocol import EnvInfo, Observation, StepResult
from robench.envs.workers import CopyPool, PooledEnv
from robench.runtime import cav_workers

MAPS = {"merge": {}, "merge_safe": {"safety_supervisor": True}}
"""Map → ``ChenMergeEnv`` config overrides."""
N_AGENTS, N_VEHICLES, N_FEATURES, N_ACTIONS, LIMIT = 3, 5, 5, 5, 100
OBS_DIM = N_VEHICLES * N_FEATURES
LOW = np.tile(np.array([0.0, -1.0, -1.0, -1.0, -1.0], dtype=np.float32), N_VEHICLES)
HIGH = np.tile(np.array([1.0, 1.0, 1.0, 1.0, 1.0], dtype=np.float32), N_VEHICLES)
HIGH[1] = 3.5  # the ego row's absolute x: up to 520 m / 150 m


def map_names() -> list[str]:
    return list(MAPS)


def canonical_map(name: str) -> str:
    if name not in MAPS:
        raise KeyError(f"unknown CAV map {name!r}; known: {', '.join(MAPS)}")
    return name


class MergeCopies:
    """Some copies of the merge env, stepped one after the other (in a worker or in-process)."""

    def __init__(self, map_name: str, indices: list[int]):
        from robench.envs.cav_merge import ChenMergeEnv

        self.indices = indices
        self.envs = [ChenMergeEnv(config=MAPS[map_name]) for _ in indices]
        self.done = np.zeros(len(indices), dtype=bool)
        self.crashed = np.zeros(len(indices), dtype=bool)
        self.obs = np.zeros((len(indices), N_AGENTS, OBS_DIM), dtype=np.float32)

    def reset(self, seed: int) -> dict[str, np.ndarray]:
        for j, (k, env) in enumerate(zip(self.indices, self.envs)):
            obs, _ = env.reset(seed=int(seed * 1_000_003 + k))
            self.obs[j] = _flatten(obs)
        self.done[:] = False
        self.crashed[:] = False
        return {"obs": self.obs.copy()}

    def step(self, actions: np.ndarray) -> dict[str, np.ndarray]:
        reward = np.zeros(len(self.envs), np.float32)
        for j, env in enumerate(self.envs):
            if self.done[j]:
                continue  # frozen: same observation, zero reward
            obs, r, term, trunc, _ = env.step(tuple(int(a) for a in actions[j]))
            self.obs[j], reward[j] = _flatten(obs), r
            self.crashed[j] = bool(term)
            self.done[j] = bool(term or trunc)
        # terminated (a crash) and crashed stay true once set, like done (read off the final step)
        return {"obs": self.obs.copy(), "reward": reward, "done": self.done.copy(), "terminated": self.crashed.copy(),
                "crashed": self.crashed.copy()}


def _flatten(obs: tuple) -> np.ndarray:
    """Per-agent Kinematics [5, 5] → [N, 25], clipped to the feature bounds."""
    flat = np.stack([np.asarray(o, dtype=np.float32).reshape(-1) for o in obs])
    return np.clip(flat, LOW, HIGH)


class CAVMergeEnv(PooledEnv):
    """B lockstep copies of the merge scenario (``robench.envs.protocol.BatchedEnv``)."""

    def __init__(self, batch_size: int, device: str | torch.device = "cpu", workers: int | None = None,
                 map_name: str = "merge"):
        self.map_name = canonical_map(map_name)
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.obs_low = torch.from_numpy(LOW).to(self.device)
        self.obs_high = torch.from_numpy(HIGH).to(self.device)
        self._pool = CopyPool(MergeCopies, (self.map_name,), batch_size, cav_workers() if workers is None else workers, "CAV")
        self._return = np.zeros(batch_size, np.float32)
        self._avail = torch.ones(batch_size, N_AGENTS, N_ACTIONS, dtype=torch.bool, device=self.device)

    def info(self) -> EnvInfo:
        return EnvInfo(n_agents=N_AGENTS, obs_dim=OBS_DIM, state_dim=N_AGENTS * OBS_DIM, n_actions=N_ACTIONS,
                       episode_limit=LIMIT, map_name=self.map_name, backend="cav", obs_layout=LAYOUT)

    def _observation(self, obs: np.ndarray) -> dict[str, torch.Tensor]:
        t = torch.from_numpy(obs).to(self.device)
        return {"obs": t, "state": t.reshape(self.batch_size, -1), "avail": self._avail}

    def reset(self, seed: int) -> Observation:
        out = self._pool.call("reset", seed)
        self._return[:] = 0
        return Observation(**self._observation(out["obs"]))

    def step(self, actions: torch.Tensor) -> StepResult:
        out = self._pool.call("step", actions.detach().cpu().numpy(), per_copy=True)
        self._return += out["reward"]
        dev = self.device
        return StepResult(**self._observation(out["obs"]), reward=torch.from_numpy(out["reward"]).to(dev),
                          done=torch.from_numpy(out["done"]).to(dev), terminated=torch.from_numpy(out["terminated"]).to(dev),
                          won=torch.zeros(self.batch_size, dtype=torch.bool, device=dev),
                          crashed=torch.from_numpy(out["crashed"]).to(dev),
                          episode_return=torch.from_numpy(self._return.copy()).to(dev))


LAYOUT = "kinematics"
"""highway-env's Kinematics observation: the backend's only layout."""


def make(map_name: str, batch_size: int, device: str | torch.device = "cpu", obs_layout: str | None = None
         ) -> CAVMergeEnv:
    if obs_layout not in (None, LAYOUT):
        raise KeyError(f"the CAV backend has one observation layout, {LAYOUT!r}, not {obs_layout!r}")
    return CAVMergeEnv(batch_size, device, map_name=map_name)
