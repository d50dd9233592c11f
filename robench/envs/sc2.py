"""The ``sc2`` backend: StarCraft II through StarCraft's SMAC (oxwhirl/smac), on the batched protocol.

B copies of SMAC's ``StarCraft2Env`` (each game a process of its own), stepped in worker processes
(``robench.envs.workers``).  What an agent sees is SMAC's ``get_obs()`` — the layout that
``--obs smac`` computes on SMAX, so a checkpoint's observation shape is the same on both — and
the mixer's state is SMAC's ``get_state()``.  Available actions and ``step`` speak SMAX's action
order (0–3 north, east, south, west, 4 stop, 5 + e attack e; ``smac_layout.smac_action_order``),
so one agent network acts on either backend: SMAC's no-op, which SMAC offers only to dead agents,
is what a dead agent's chosen action becomes, and a dead agent's mask offers "stop".  The team
reward is SMAC's normalised reward, ``won`` its ``battle_won``, a time-out (``info
["episode_limit"]``, which SMAC reports only when built with ``continuing_episode=True``, as
here) ends an episode without terminating it, and the episode limit is the map's.  A step that
fails in the game (SMAC answers a protocol or connection error with ``(0, True, {})``: no
``battle_won`` in its info) ends the episode as ``crashed``, neither a loss nor a terminal state.

Seeding: copy k is launched with SMAC's ``seed = (s · 1 000 003 + k) mod 2³¹`` for the seed s of the first
``reset``; StarCraft II cannot be re-seeded without relaunching, so later resets continue the
game's own random stream (the same sequence of calls gives the same episodes).

Installation (neither is on PyPI under these names): the StarCraft II binary (Blizzard's Linux
package, unzipped to ``~/StarCraftII`` or wherever ``SC2PATH`` points, with SMAC's maps in its
``Maps/SMAC_Maps``) and ``pip install git+https://github.com/oxwhirl/smac``.  PyPI's ``smac`` is
SMAC3, a hyperparameter optimiser.  ``$ROBENCH_SC2_ENV`` (``module:Class``) names another class
with ``StarCraft2Env``'s API to use instead — the tests' stand-in for the game.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path

import numpy as np
import torch

from robench.envs.protocol import EnvInfo, Observation, StepResult
from robench.envs.smac_layout import STOP, smac_action_order, smac_bounds
from robench.envs.workers import CopyPool, PooledEnv

DEFAULT_CLASS = "smac.env:StarCraft2Env"
LAYOUT = "smac"
INSTALL = ("install StarCraft II (unzip Blizzard's Linux package to ~/StarCraftII or set SC2PATH, SMAC's maps in "
           "Maps/SMAC_Maps) and StarCraft's SMAC: pip install git+https://github.com/oxwhirl/smac (PyPI's 'smac' is "
           "SMAC3, a different project)")


def workers() -> int:
    """Worker processes stepping the games: ``$ROBENCH_SC2_WORKERS`` or 2 (0 = in-process)."""
    return int(os.environ.get("ROBENCH_SC2_WORKERS", 2))


def missing() -> str | None:
    """Why the backend cannot run here, in one line (None: it can)."""
    spec = os.environ.get("ROBENCH_SC2_ENV", DEFAULT_CLASS)
    if spec != DEFAULT_CLASS:
        return None
    if importlib.util.find_spec("smac") is None:
        return f"backend 'sc2' needs StarCraft's SMAC and StarCraft II, neither installed: {INSTALL}"
    if importlib.util.find_spec("smac.env") is None:
        return f"the installed 'smac' package is SMAC3 (hyperparameter optimisation), not StarCraft's SMAC: {INSTALL}"
    game = Path(os.environ.get("SC2PATH", Path.home() / "StarCraftII"))
    if not game.is_dir():
        return f"StarCraft II is not at {game} (SC2PATH): {INSTALL}"
    return None


def _check() -> None:
    from robench.envs import EnvError

    reason = missing()
    if reason is not None:
        raise EnvError(reason)


def env_class():
    """The ``StarCraft2Env`` class (or ``$ROBENCH_SC2_ENV``'s)."""
    _check()
    module, _, name = os.environ.get("ROBENCH_SC2_ENV", DEFAULT_CLASS).partition(":")
    return getattr(importlib.import_module(module), name)


def map_names() -> list[str]:
    cls = env_class()
    if hasattr(cls, "MAP_NAMES"):
        return list(cls.MAP_NAMES)
    from smac.env.starcraft2.maps.smac_maps import map_param_registry

    return sorted(map_param_registry)


def canonical_map(name: str) -> str:
    if name not in map_names():
        raise KeyError(f"unknown SMAC map {name!r} for backend sc2")
    return name


class Games:
    """Some copies of the game, stepped one after the other (in a worker or in-process)."""

    def __init__(self, map_name: str, indices: list[int]):
        self.map_name, self.indices = map_name, indices
        self.envs = None
        self.done = np.zeros(len(indices), dtype=bool)
        self.timeout = np.zeros(len(indices), dtype=bool)
        self.won = np.zeros(len(indices), dtype=bool)
        self.crashed = np.zeros(len(indices), dtype=bool)

    def _observe(self) -> dict[str, np.ndarray]:
        return {"obs": np.stack([np.asarray(e.get_obs(), dtype=np.float32) for e in self.envs]),
                "state": np.stack([np.asarray(e.get_state(), dtype=np.float32) for e in self.envs]),
                "avail": np.stack([np.asarray(e.get_avail_actions(), dtype=bool) for e in self.envs])}

    def reset(self, seed: int) -> dict[str, np.ndarray]:
        if self.envs is None:
            cls = env_class()
            self.envs = [cls(map_name=self.map_name, seed=int((seed * 1_000_003 + k) % 2**31), continuing_episode=True)
                         for k in self.indices]
        for env in self.envs:
            env.reset()
        self.done[:], self.timeout[:], self.won[:], self.crashed[:] = False, False, False, False
        return self._observe()

    def step(self, actions: np.ndarray) -> dict[str, np.ndarray]:
        reward = np.zeros(len(self.envs), np.float32)
        for j, env in enumerate(self.envs):
            if self.done[j]:
                continue  # frozen: same observation, zero reward; done, timeout and won stay as they ended
            r, terminated, info = env.step([int(a) for a in actions[j]])
            reward[j], self.done[j] = r, bool(terminated)
            self.crashed[j] = bool(terminated) and "battle_won" not in info  # SMAC's (0, True, {}) on a game error
            self.timeout[j], self.won[j] = bool(info.get("episode_limit", False)), bool(info.get("battle_won", False))
        return {**self._observe(), "reward": reward, "done": self.done.copy(), "timeout": self.timeout.copy(),
                "won": self.won.copy(), "crashed": self.crashed.copy()}

    def close(self) -> None:
        for env in self.envs or []:
            env.close()


class SC2Env(PooledEnv):
    """B lockstep copies of a SMAC map (``robench.envs.protocol.BatchedEnv``)."""

    def __init__(self, map_name: str, batch_size: int, device: str | torch.device = "cpu", n_workers: int | None = None):
        self.map_name = canonical_map(map_name)
        self.batch_size = batch_size
        self.device = torch.device(device)
        probe = env_class()(map_name=self.map_name)  # reads the map's sizes; launches no game
        try:
            env_info = probe.get_env_info()
            enemies, enemy_width = probe.get_obs_enemy_feats_size()
            others, ally_width = probe.get_obs_ally_feats_size()
            low, high = smac_bounds(enemies, enemy_width, others, ally_width, probe.get_obs_own_feats_size(),
                                    probe.get_obs_move_feats_size())
        finally:
            probe.close()
        self.order = np.array(smac_action_order(env_info["n_actions"] - 1))
        self._info = EnvInfo(n_agents=env_info["n_agents"], obs_dim=env_info["obs_shape"],
                             state_dim=env_info["state_shape"], n_actions=len(self.order),
                             episode_limit=env_info["episode_limit"], map_name=self.map_name, backend="sc2",
                             obs_layout=LAYOUT)
        self.obs_low, self.obs_high = torch.from_numpy(low).to(self.device), torch.from_numpy(high).to(self.device)
        self._pool = CopyPool(Games, (self.map_name,), batch_size, workers() if n_workers is None else n_workers,
                              "StarCraft II")
        self._alive = np.ones((batch_size, self._info.n_agents), dtype=bool)
        self._return = np.zeros(batch_size, np.float32)

    def info(self) -> EnvInfo:
        return self._info

    def _observation(self, out: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        """SMAC's mask in SMAX's action order; an agent SMAC offers only the no-op is dead: it offers stop."""
        smac_avail = out["avail"]
        self._alive = ~(smac_avail[..., 0] & ~smac_avail[..., 1:].any(-1))
        avail = smac_avail[..., self.order]
        avail[..., STOP] |= ~self._alive
        dev = self.device
        return {"obs": torch.from_numpy(out["obs"]).to(dev), "state": torch.from_numpy(out["state"]).to(dev),
                "avail": torch.from_numpy(avail).to(dev)}

    def reset(self, seed: int) -> Observation:
        out = self._pool.call("reset", seed)
        self._return[:] = 0
        return Observation(**self._observation(out))

    def step(self, actions: torch.Tensor) -> StepResult:
        smac_actions = np.where(self._alive, self.order[actions.detach().cpu().numpy()], 0)
        out = self._pool.call("step", smac_actions, per_copy=True)
        self._return += out["reward"]
        dev = self.device
        t = lambda x: torch.from_numpy(x).to(dev)  # noqa: E731
        done, crashed = t(out["done"]), t(out["crashed"])
        return StepResult(**self._observation(out), reward=t(out["reward"]), done=done,
                          terminated=done & ~t(out["timeout"]) & ~crashed, won=t(out["won"]),
                          crashed=crashed, episode_return=t(self._return.copy()))


def make(map_name: str, batch_size: int, device: str | torch.device = "cpu", obs_layout: str | None = None) -> SC2Env:
    if obs_layout not in (None, LAYOUT):
        raise KeyError(f"the sc2 backend has SMAC's observation layout, {LAYOUT!r}, not {obs_layout!r}")
    return SC2Env(map_name, batch_size, device)
