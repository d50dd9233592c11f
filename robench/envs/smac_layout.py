"""SMAC's observation layout computed from a SMAX state (``--obs smac``).

StarCraft's SMAC (oxwhirl/smac, ``StarCraft2Env.get_obs_agent`` with its defaults:
``obs_all_health``, ``obs_own_health``, no pathing grid, no terrain height, no time step, no
last actions of allies) gives agent i, when alive, the concatenation of

  * move flags [4]: north, south, east, west — whether a step of one unit in that direction
    stays inside the map (SMAC's ``can_move`` on an open pathing grid:
    north ``y + 1 < H``, south ``y > 0``, east ``x + 1 < W``, west ``x > 0``);
  * per enemy e [5 + shield + type bits], zero unless e is alive and within the sight range r of
    agent i: available_to_attack (the attack action's availability, i.e. in shooting range),
    d/r, Δx/r, Δy/r, health/health_max, (shield / shield_max), (unit type one-hot);
  * per other ally j in increasing index [5 + shield + type bits]: visible (1), d/r, Δx/r, Δy/r,
    health/health_max, (shield / shield_max), (unit type);
  * own [1 + shield + type bits]: health/health_max, (shield / shield_max), (unit type);

and all zeros when dead.  The sight range is SMAC's, r = 9 for every unit (``unit_sight_range``;
SMAX gives stalkers and marauders 10).  Shield slots exist where SMAC has them (Protoss units:
stalkers, zealots).  SMAX keeps one health pool per unit, equal to SC2's hp + shield (stalker
80 + 80 = 160, zealot 100 + 50 = 150, checked at construction); StarCraft II damages shields
first, so the pool H splits as hp = min(H, hp_max), shield = min(H − hp_max, 0 … shield_max) —
exact while SMAX subtracts damage from the pool, approximate in what SMAX does not model (SC2's
shield regeneration and its hp armour).  Unit-type bits exist only on heterogeneous maps (SMAC's
``unit_type_bits``: the number of distinct allied unit types when it exceeds one), allies in
SMAX's type order (stalker before zealot, as SMAC's ``stalker_id``, ``zealot_id``); SMAC types
enemies by the game's ids, so on stalker-and-zealot maps an enemy zealot takes bit 0
(``unit_type - 73``).  3m's observation has 4 + 3·5 + 2·5 + 1 = 30 coordinates.  Shooting
ranges, the attack flag (SMAX's mask: in range at d < range, where SMAC's mask takes d ≤ range)
and the map size are SMAX's own.
"""
from __future__ import annotations

import numpy as np

PROTOSS = ("stalker", "zealot")
"""SMAX unit types that carry shields in StarCraft II (SMAC gives them a shield slot)."""
HP_SHIELD = {"stalker": (80.0, 80.0), "zealot": (100.0, 50.0)}
"""SC2's (hp_max, shield_max) of the Protoss units (SMAC's ``unit_max_shield``; SMAX's pool is their sum)."""
SIGHT_RANGE = 9.0
"""SMAC's ``unit_sight_range``: the same for every unit."""
ENEMY_TYPE_ORDER = {frozenset({"stalker", "zealot"}): ("zealot", "stalker")}
"""Enemy unit-type bit order where SMAC's differs from the allies' (its ``get_unit_type_id`` for
enemies: the game's ids, zealot 73 before stalker 74)."""
MOVE, STOP, ATTACK = 4, 4, 5
"""SMAX's ally actions: 0–3 moves, 4 stop, 5 + e attack enemy e."""
SMAC_MOVES = {"north": 2, "south": 3, "east": 4, "west": 5}
SMAC_STOP, SMAC_ATTACK = 1, 6
"""StarCraft's SMAC actions: 0 no-op (dead agents only), 1 stop, 2–5 north, south, east, west,
6 + e attack enemy e."""


def smac_action_order(n_actions: int) -> list[int]:
    """For each of SMAX's ``n_actions`` ally actions, the index of the same action in SMAC's
    action space: SMAX moves 0–3 are north, east, south, west (JaxMARL's
    ``_decode_movement_action``: unit vectors (0, 1), (1, 0), (0, −1), (−1, 0)), 4 stop, 5 + e attack e."""
    moves = [SMAC_MOVES[d] for d in ("north", "east", "south", "west")]
    return moves + [SMAC_STOP] + [SMAC_ATTACK + e for e in range(n_actions - ATTACK)]


def smac_bounds(n_enemies: int, enemy_width: int, n_others: int, ally_width: int, own_width: int,
                move_width: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature [low, high] of SMAC's observation: relative positions (the 3rd and 4th entry of
    each enemy and ally block) in [−1, 1], everything else in [0, 1]."""
    def block(width: int) -> list[float]:
        return [-1.0 if k in (2, 3) else 0.0 for k in range(width)]

    low = np.array([0.0] * move_width + block(enemy_width) * n_enemies + block(ally_width) * n_others
                   + [0.0] * own_width, dtype=np.float32)
    return low, np.ones_like(low)


class SmacLayout:
    """Static sizes of the layout for one SMAX scenario, and the observation function."""

    def __init__(self, env):
        smax = env._env
        self.n_allies, self.n_enemies = env.num_allies, env.num_enemies
        self.width, self.height = float(smax.map_width), float(smax.map_height)
        if smax.scenario is None or getattr(smax, "smacv2_unit_type_generation", False):
            raise KeyError("the SMAC observation layout needs a map with fixed unit types (not a SMACv2 map)")
        types = np.asarray(smax.scenario)
        self.types = types
        names = list(smax.unit_type_names)
        ally_types = sorted(set(types[: self.n_allies].tolist()))
        self.type_bits = len(ally_types) if len(ally_types) > 1 else 0
        self.type_index = {t: k for k, t in enumerate(ally_types)}
        self.shield_ally = int(any(names[t] in PROTOSS for t in types[: self.n_allies]))
        self.shield_enemy = int(any(names[t] in PROTOSS for t in types[self.n_allies:]))
        self.enemy_width = 5 + self.shield_enemy + self.type_bits
        self.ally_width = 5 + self.shield_ally + self.type_bits
        self.own_width = 1 + self.shield_ally + self.type_bits
        self.obs_dim = 4 + self.n_enemies * self.enemy_width + (self.n_allies - 1) * self.ally_width + self.own_width
        others = [[j for j in range(self.n_allies) if j != i] for i in range(self.n_allies)]
        self.others = np.array(others, dtype=np.int32).reshape(self.n_allies, self.n_allies - 1)
        order = ENEMY_TYPE_ORDER.get(frozenset(names[t] for t in ally_types))
        enemy_index = self.type_index if order is None else {names.index(name): k for k, name in enumerate(order)}
        onehot = np.zeros((len(types), self.type_bits), dtype=np.float32)
        for u, t in enumerate(types):
            index = self.type_index if u < self.n_allies else enemy_index
            if self.type_bits and t in index:
                onehot[u, index[t]] = 1.0
        self.type_onehot = onehot
        pool = np.asarray(smax.unit_type_health)[types].astype(np.float32)
        split = np.array([HP_SHIELD.get(names[t], (pool[u], 0.0)) for u, t in enumerate(types)], dtype=np.float32)
        if not np.allclose(split.sum(1), pool):
            raise KeyError("SMAX's health pools are not SC2's hp + shield: the SMAC layout cannot split them")
        self.hp_max, self.shield_max = split[:, 0], split[:, 1]
        self.sight = np.full(self.n_allies, SIGHT_RANGE, dtype=np.float32)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature [low, high] of the layout (``smac_bounds``)."""
        return smac_bounds(self.n_enemies, self.enemy_width, self.n_allies - 1, self.ally_width, self.own_width)

    def observe(self, inner, avail):
        """[N, D] SMAC observations of the allies from SMAX's inner state and the allies' [N, A]
        available-action mask (JAX; traced inside the step kernel)."""
        import jax.numpy as jnp

        n, m = self.n_allies, self.n_enemies
        pos, alive = inner.unit_positions, inner.unit_alive
        hp_max, shield_max = jnp.asarray(self.hp_max), jnp.asarray(self.shield_max)
        hp = jnp.minimum(inner.unit_health, hp_max)  # SC2 damages shields first
        health = hp / hp_max
        shield = jnp.clip(inner.unit_health - hp_max, 0.0, shield_max) / jnp.maximum(shield_max, 1.0)
        rel = pos[None, :, :] - pos[:n, None, :]  # [n, U, 2]: unit u relative to ally i
        dist = jnp.linalg.norm(rel, axis=-1)
        sight = jnp.asarray(self.sight)[:, None]
        seen = (dist < sight) & alive[None, :]
        me = alive[:n, None]
        x, y = pos[:n, 0], pos[:n, 1]
        move = jnp.stack([y + 1 < self.height, y > 0, x + 1 < self.width, x > 0], -1).astype(jnp.float32)
        types = jnp.asarray(self.type_onehot)

        def unit_block(first: jnp.ndarray, idx, shields: int) -> jnp.ndarray:
            """[n, k, width] features of units ``idx`` [n, k] as seen by each ally."""
            take = lambda a: jnp.take_along_axis(a, idx, axis=1)  # noqa: E731
            d, rx, ry = take(dist), take(rel[..., 0]), take(rel[..., 1])
            r = sight
            parts = [first, d / r, rx / r, ry / r, health[idx]]
            if shields:
                parts.append(shield[idx])
            feats = jnp.stack(parts, -1)
            if self.type_bits:
                feats = jnp.concatenate([feats, types[idx]], -1)
            return jnp.where((take(seen) & me)[..., None], feats, 0.0)

        enemy_idx = jnp.broadcast_to(jnp.arange(n, n + m), (n, m))
        enemies = unit_block(avail[:, ATTACK:ATTACK + m].astype(jnp.float32), enemy_idx, self.shield_enemy)
        ally_idx = jnp.asarray(self.others)
        allies = unit_block(jnp.ones(ally_idx.shape, jnp.float32), ally_idx, self.shield_ally)
        own = [health[:n, None]] + ([shield[:n, None]] if self.shield_ally else [])
        if self.type_bits:
            own.append(types[:n])
        own = jnp.concatenate(own, -1)
        obs = jnp.concatenate([move, enemies.reshape(n, -1), allies.reshape(n, -1), own], -1)
        return jnp.where(me, obs, 0.0)
