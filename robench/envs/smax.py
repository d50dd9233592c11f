"""SMAX backend: JaxMARL's JAX re-implementation of SMAC against its heuristic enemy.

One jitted, ``vmap``-ed function steps all B copies at once; finished copies are frozen with
``jnp.where`` on the state pytree.  We call ``step_env`` (no auto-reset) so the outcome of
an episode is read off its own final state: ``won`` = every enemy dead and at least one ally
alive *after* the final transition (SMAX's ``step`` would already have swapped in a fresh
episode).  Observation features are bounded per feature (relative positions and last
movements in [-1, 1], everything else in [0, 1]); the global state is rescaled to O(1).
"""
from __future__ import annotations

import contextlib
import functools
import os
import sys

import numpy as np
import torch

from robench.envs.protocol import EnvInfo, Observation, StepResult
from robench.envs.smac_layout import SmacLayout
from robench.runtime import configure_jax

configure_jax()
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402


@contextlib.contextmanager
def _discard_stdout():
    """Point file descriptor 1 at /dev/null for a while: jaxmarl prints import chatter
    (bypassing ``sys.stdout`` redirection) that must not reach ``--json`` output or turn a
    one-line error into three.  jaxmarl's import also rebinds ``sys.stdout`` / ``sys.stderr`` to
    the interpreter's originals (its mabrax module), undoing any redirection the caller holds:
    the objects in place before are put back."""
    streams = sys.stdout, sys.stderr
    sys.stdout.flush()
    saved = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)
        sys.stdout, sys.stderr = streams


with _discard_stdout():
    from jaxmarl.environments.smax import (  # noqa: E402
        HeuristicEnemySMAX,
        Scenario,
        map_name_to_scenario,
        register_scenario,
    )
    from jaxmarl.environments.smax.smax_env import MAP_NAME_TO_SCENARIO  # noqa: E402

STALKER, ZEALOT = 2, 3
register_scenario(
    "3s_vs_3z",
    Scenario(jnp.array([STALKER] * 3 + [ZEALOT] * 3, dtype=jnp.uint8), 3, 3, False, False),
)
LAYOUTS = ("unit_list", "smac")
"""Observation layouts: SMAX's unit list (its default), SMAC's (``robench.envs.smac_layout``)."""
ALIASES = {"3s_3z": "3s_vs_3z"}
"""The paper calls SMAC's ``3s_vs_3z`` map ``3s_3z``."""


def map_names() -> list[str]:
    """Every map this backend can build (SMAX's scenarios plus ours, aliases included)."""
    return sorted(set(MAP_NAME_TO_SCENARIO) | set(ALIASES))


def canonical_map(name: str) -> str:
    """Resolve an alias; raise ``KeyError`` with the known names for an unknown map."""
    name = ALIASES.get(name, name)
    if name not in MAP_NAME_TO_SCENARIO:
        raise KeyError(f"unknown SMAX map {name!r}; known: {', '.join(map_names())}")
    return name


def _feature_bounds(env) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature [low, high] of SMAX's unit-list observation."""
    signed = {"position_x", "position_y", "last_movement_x", "last_movement_y"}
    unit_low = [-1.0 if f in signed else 0.0 for f in env.unit_features]
    n_other = env.num_allies - 1 + env.num_enemies
    # own position is absolute / map size, hence in [0, 1]
    own_low = [0.0 for _ in env.own_features]
    low = np.array(unit_low * n_other + own_low, dtype=np.float32)
    return low, np.ones_like(low)


def _state_scale(env) -> np.ndarray:
    """Divisors that bring SMAX's world state to O(1): positions by the map size,
    weapon cooldowns by the longest cooldown, unit types by the number of types."""
    per_unit = np.ones(len(env.own_features), dtype=np.float32)
    per_unit[1], per_unit[2] = env.map_width, env.map_height
    per_unit[3] = float(np.max(np.asarray(env.unit_type_weapon_cooldowns)))
    n = env._env.num_agents  # allies and enemies
    teams = np.ones(n, dtype=np.float32)
    types = np.full(n, max(1, len(env.unit_type_names) - 1), dtype=np.float32)
    return np.concatenate([np.tile(per_unit, n), teams, types])


class _SmaxKernels:
    """The jitted reset/step of one (map, B): stateless, built once per process and shared by
    every :class:`SmaxEnv` of that shape (so repeated evaluations never retrace)."""

    def __init__(self, map_name: str, batch_size: int, obs_layout: str = "unit_list"):
        self.batch_size = batch_size
        self._env = HeuristicEnemySMAX(scenario=map_name_to_scenario(map_name))
        env = self._env
        self._n = env.num_allies
        self._agents = env.agents
        if obs_layout not in LAYOUTS:
            raise KeyError(f"unknown SMAX observation layout {obs_layout!r}; known: {', '.join(LAYOUTS)}")
        self._smac = SmacLayout(env) if obs_layout == "smac" else None
        self.bounds = _feature_bounds(env) if self._smac is None else self._smac.bounds()
        self._state_div = jnp.asarray(_state_scale(env))
        self.info = EnvInfo(
            n_agents=self._n,
            obs_dim=int(env.obs_size) if self._smac is None else self._smac.obs_dim,
            state_dim=int(env.state_size),
            n_actions=int(env.num_ally_actions),
            episode_limit=int(env.max_steps),
            map_name=map_name,
            backend="smax",
            obs_layout=obs_layout,
        )
        # jit bound methods (not methods with a static ``self``) so calls take JAX's C++ fast path
        self.reset = jax.jit(self._reset_kernel)
        self.step = jax.jit(self._step_kernel)

    def _observe(self, st):
        env = self._env
        avail_d = env.get_avail_actions(st)
        avail = jnp.stack([avail_d[a] for a in self._agents]).astype(bool)
        if self._smac is None:
            obs_d = env.get_obs(st)
            obs = jnp.stack([obs_d[a] for a in self._agents])
        else:
            obs = self._smac.observe(st.state, avail)
        # weapon cooldowns run below zero once ready; clip keeps the state in [-1, 1]
        state = jnp.clip(env.get_world_state(st) / self._state_div, -1.0, 1.0)
        return obs, state, avail

    def _reset_kernel(self, key):
        key, sub = jax.random.split(key)
        _, st = jax.vmap(self._env.reset)(jax.random.split(sub, self.batch_size))
        # strong dtypes everywhere, as the step kernel returns them: one compile, not two
        st = jax.tree.map(lambda x: jnp.asarray(x, dtype=x.dtype), st)
        obs, state, avail = jax.vmap(self._observe)(st)
        done = jnp.zeros(self.batch_size, dtype=bool)
        ret = jnp.zeros(self.batch_size, dtype=jnp.float32)
        # returned from the kernel so their types match the step kernel's outputs (no retrace)
        return key, st, obs, state, avail, done, ret

    def _step_kernel(self, key, st, actions, done_before, ret):
        env = self._env
        key, sub = jax.random.split(key)
        keys = jax.random.split(sub, self.batch_size)

        def one(k, s, a):
            acts = {agent: a[i] for i, agent in enumerate(self._agents)}
            _, s2, rew, _, _ = env.step_env(k, s, acts)
            return s2, rew[self._agents[0]]

        new_st, reward = jax.vmap(one)(keys, st, actions)
        # freeze copies that had already finished
        keep = lambda old, new: jnp.where(  # noqa: E731
            done_before.reshape((-1,) + (1,) * (new.ndim - 1)), old, new
        )
        new_st = jax.tree.map(keep, st, new_st)
        reward = jnp.where(done_before, 0.0, reward)
        inner = new_st.state
        n = self._n
        allies_alive = inner.unit_alive[:, :n].any(axis=1)
        enemies_alive = inner.unit_alive[:, n:].any(axis=1)
        done = inner.done | done_before
        terminated = done & (~allies_alive | ~enemies_alive)
        won = done & ~enemies_alive & allies_alive
        ret = ret + reward
        obs, state, avail = jax.vmap(self._observe)(new_st)
        return key, new_st, obs, state, avail, reward, done, terminated, won, ret


@functools.lru_cache(maxsize=None)
def _kernels(map_name: str, batch_size: int, obs_layout: str = "unit_list") -> _SmaxKernels:
    return _SmaxKernels(map_name, batch_size, obs_layout)


class SmaxEnv:
    """B lockstep copies of a SMAX map with the heuristic enemy (implements ``BatchedEnv``).

    Compilation is paid once per (map, B) per process (and skipped across processes by JAX's
    persistent cache); each instance owns only its episode state."""

    def __init__(self, map_name: str, batch_size: int, device: str | torch.device = "cpu",
                 obs_layout: str = "unit_list"):
        self.map_name = canonical_map(map_name)
        self.batch_size = int(batch_size)
        self.device = torch.device(device)
        self._k = _kernels(self.map_name, self.batch_size, obs_layout)
        low, high = self._k.bounds
        self.obs_low = torch.from_numpy(low).to(self.device)
        self.obs_high = torch.from_numpy(high).to(self.device)
        self._key = None
        self._state = None
        self._done = None
        self._return = None

    def info(self) -> EnvInfo:
        return self._k.info

    def _t(self, x) -> torch.Tensor:
        return torch.from_numpy(np.array(x)).to(self.device)

    def reset(self, seed: int) -> Observation:
        out = self._k.reset(jax.random.PRNGKey(int(seed)))
        self._key, self._state, obs, state, avail, self._done, self._return = out
        obs, state, avail = jax.device_get((obs, state, avail))
        return Observation(self._t(obs), self._t(state), self._t(avail))

    def step(self, actions: torch.Tensor) -> StepResult:
        if self._state is None:
            raise RuntimeError("step() before reset()")
        acts = actions.detach().to("cpu", torch.int32).numpy()
        out = self._k.step(self._key, self._state, acts, self._done, self._return)
        self._key, self._state, *rest = out
        self._done, self._return = rest[4], rest[7]
        obs, state, avail, reward, done, terminated, won, ret = jax.device_get(rest)
        done_t = self._t(done)
        return StepResult(
            obs=self._t(obs),
            state=self._t(state),
            avail=self._t(avail),
            reward=self._t(reward),
            done=done_t,
            terminated=self._t(terminated),
            won=self._t(won),
            crashed=torch.zeros_like(done_t),
            episode_return=self._t(ret),
        )


def make(map_name: str, batch_size: int, device: str | torch.device = "cpu", obs_layout: str | None = None) -> SmaxEnv:
    """Registry entry point (``obs_layout``: ``unit_list``, SMAX's own, or ``smac``)."""
    return SmaxEnv(map_name, batch_size, device, obs_layout or LAYOUTS[0])
