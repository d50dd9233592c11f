"""A stand-in for StarCraft II behind SMAC's ``StarCraft2Env`` API (a test double of the game,
not of robench): marines on a 32 × 32 open map, SMAC's action space, SMAC's observation and
state formulas (oxwhirl/smac ``get_obs_agent``, ``get_state`` with ``state_last_action``), SMAC's
``(reward, terminated, info)`` step with ``battle_won`` and ``episode_limit``, seeded at
construction.  Selected with ``ROBENCH_SC2_ENV=sc2_standin:StandInStarCraft2Env``.

Dynamics (simple, deterministic given the seed): a move is 2 map units in its direction if it
stays on the map; an attack hits its target for 9 if the target is alive and within the
shooting range; each alive enemy then shoots the nearest ally in range, else walks 2
towards it (the enemy hits for 5).  Reward: damage dealt + 10 per kill + 200 for the win, divided by the maximum
(SMAC's ``reward_scale_rate`` 20 normalisation)."""
from __future__ import annotations

import numpy as np

MAPS = {"3m": (3, 3, 60), "2m": (2, 2, 40)}
"""map → (allies, enemies, episode limit)."""
SIZE, SIGHT, SHOOT, HEALTH, DAMAGE, ENEMY_DAMAGE, MOVE = 32.0, 9.0, 6.0, 45.0, 9.0, 5.0, 2.0
N_NO_ATTACK = 6
DIRECTIONS = {2: (0.0, 1.0), 3: (0.0, -1.0), 4: (1.0, 0.0), 5: (-1.0, 0.0)}
"""SMAC's move actions: north, south, east, west."""


class StandInStarCraft2Env:
    MAP_NAMES = tuple(MAPS)
    SCENE: dict | None = None
    """Tests may fix the next reset's scene: {"allies": [(x, y, health)], "enemies": [...]}."""
    launches = 0
    ENEMY_SPEED = MOVE
    """Tests may hold the enemy still (0) to reach the time limit."""
    FAIL_AT: int | None = None
    """Tests may make the game fail at this step of every episode (SMAC's answer: ``(0, True, {})``)."""

    def __init__(self, map_name: str = "3m", seed: int | None = None, continuing_episode: bool = False, **kwargs):
        self.continuing_episode = continuing_episode
        self.n_agents, self.n_enemies, self.episode_limit = MAPS[map_name]
        self.n_actions = N_NO_ATTACK + self.n_enemies
        self.seed = seed
        self.rng = None
        self.received: list[list[int]] = []

    # --- sizes (no game needed) -------------------------------------------------------------
    def get_obs_move_feats_size(self) -> int:
        return 4

    def get_obs_enemy_feats_size(self) -> tuple[int, int]:
        return self.n_enemies, 5

    def get_obs_ally_feats_size(self) -> tuple[int, int]:
        return self.n_agents - 1, 5

    def get_obs_own_feats_size(self) -> int:
        return 1

    def get_obs_size(self) -> int:
        return 4 + 5 * self.n_enemies + 5 * (self.n_agents - 1) + 1

    def get_state_size(self) -> int:
        return 4 * self.n_agents + 3 * self.n_enemies + self.n_agents * self.n_actions

    def get_env_info(self) -> dict:
        return {"state_shape": self.get_state_size(), "obs_shape": self.get_obs_size(), "n_actions": self.n_actions,
                "n_agents": self.n_agents, "episode_limit": self.episode_limit}

    # --- episodes ---------------------------------------------------------------------------
    def reset(self):
        if self.rng is None:  # "launch": the game's random stream starts from the seed
            self.rng = np.random.RandomState(self.seed)
            StandInStarCraft2Env.launches += 1
        scene = StandInStarCraft2Env.SCENE
        if scene is None:
            ys = 16 + self.rng.uniform(-3, 3, size=self.n_agents + self.n_enemies)
            self.pos = np.array([[8 + self.rng.uniform(-1, 1), y] for y in ys[: self.n_agents]]
                                + [[20 + self.rng.uniform(-1, 1), y] for y in ys[self.n_agents:]])
            self.health = np.full(self.n_agents + self.n_enemies, HEALTH)
        else:
            units = scene["allies"] + scene["enemies"]
            self.pos = np.array([[x, y] for x, y, _ in units], dtype=float)
            self.health = np.array([h for _, _, h in units], dtype=float)
        self.t = 0
        self.last_action = np.zeros((self.n_agents, self.n_actions))
        return self.get_obs(), self.get_state()

    def _alive(self, u: int) -> bool:
        return self.health[u] > 0

    def get_avail_agent_actions(self, i: int) -> list[int]:
        avail = [0] * self.n_actions
        if not self._alive(i):
            avail[0] = 1  # dead: no-op only
            return avail
        avail[1] = 1
        for a, (dx, dy) in DIRECTIONS.items():
            x, y = self.pos[i] + MOVE * np.array([dx, dy])
            avail[a] = int(0 <= x < SIZE and 0 <= y < SIZE)
        for e in range(self.n_enemies):
            u = self.n_agents + e
            if self._alive(u) and np.linalg.norm(self.pos[u] - self.pos[i]) <= SHOOT:
                avail[N_NO_ATTACK + e] = 1
        return avail

    def get_avail_actions(self) -> list[list[int]]:
        return [self.get_avail_agent_actions(i) for i in range(self.n_agents)]

    def get_obs_agent(self, i: int) -> np.ndarray:
        """SMAC's ``get_obs_agent`` (obs_all_health, obs_own_health, no last actions)."""
        move, enemy = np.zeros(4), np.zeros((self.n_enemies, 5))
        ally, own = np.zeros((self.n_agents - 1, 5)), np.zeros(1)
        if self._alive(i):
            avail = self.get_avail_agent_actions(i)
            move[:] = avail[2:6]
            x, y = self.pos[i]
            for e in range(self.n_enemies):
                u = self.n_agents + e
                ex, ey = self.pos[u]
                d = float(np.hypot(ex - x, ey - y))
                if d < SIGHT and self._alive(u):
                    enemy[e] = [avail[N_NO_ATTACK + e], d / SIGHT, (ex - x) / SIGHT, (ey - y) / SIGHT, self.health[u] / HEALTH]
            for k, j in enumerate(j for j in range(self.n_agents) if j != i):
                ax, ay = self.pos[j]
                d = float(np.hypot(ax - x, ay - y))
                if d < SIGHT and self._alive(j):
                    ally[k] = [1.0, d / SIGHT, (ax - x) / SIGHT, (ay - y) / SIGHT, self.health[j] / HEALTH]
            own[0] = self.health[i] / HEALTH
        return np.concatenate([move, enemy.ravel(), ally.ravel(), own]).astype(np.float32)

    def get_obs(self) -> list[np.ndarray]:
        return [self.get_obs_agent(i) for i in range(self.n_agents)]

    def get_state(self) -> np.ndarray:
        """SMAC's ``get_state``: allies (health, cooldown, x, y relative to the centre), enemies
        (health, x, y), then every agent's last action one-hot."""
        centre = SIZE / 2
        allies = [[self.health[i] / HEALTH, 0.0, (self.pos[i, 0] - centre) / SIZE, (self.pos[i, 1] - centre) / SIZE]
                  if self._alive(i) else [0.0] * 4 for i in range(self.n_agents)]
        enemies = [[self.health[u] / HEALTH, (self.pos[u, 0] - centre) / SIZE, (self.pos[u, 1] - centre) / SIZE]
                   if self._alive(u) else [0.0] * 3 for u in range(self.n_agents, self.n_agents + self.n_enemies)]
        return np.concatenate([np.ravel(allies), np.ravel(enemies), self.last_action.ravel()]).astype(np.float32)

    def step(self, actions: list[int]):
        self.received.append(list(actions))
        if self.FAIL_AT is not None and self.t + 1 >= self.FAIL_AT:  # the game's connection broke
            return 0, True, {}
        dealt = 0.0
        avail = self.get_avail_actions()  # what the agents were offered
        for i, a in enumerate(actions):
            if not avail[i][a]:
                raise AssertionError(f"agent {i} took unavailable action {a}")
            self.last_action[i] = np.eye(self.n_actions)[a]
            if a in DIRECTIONS:
                self.pos[i] += MOVE * np.array(DIRECTIONS[a])
            elif a >= N_NO_ATTACK:
                u = self.n_agents + a - N_NO_ATTACK
                if not self._alive(u):  # killed earlier in this step: the shot is wasted
                    continue
                hit = min(DAMAGE, self.health[u])
                self.health[u] -= hit
                dealt += hit + (10.0 if self.health[u] <= 0 else 0.0)
        for u in range(self.n_agents, self.n_agents + self.n_enemies):
            targets = [i for i in range(self.n_agents) if self._alive(i)]
            if not self._alive(u) or not targets:
                continue
            near = min(targets, key=lambda i: np.linalg.norm(self.pos[i] - self.pos[u]))
            gap = self.pos[near] - self.pos[u]
            if np.linalg.norm(gap) <= SHOOT:
                self.health[near] = max(0.0, self.health[near] - ENEMY_DAMAGE)
            else:
                self.pos[u] += self.ENEMY_SPEED * gap / np.linalg.norm(gap)
        self.t += 1
        won = not any(self._alive(u) for u in range(self.n_agents, self.n_agents + self.n_enemies))
        lost = not any(self._alive(i) for i in range(self.n_agents))
        timeout = self.t >= self.episode_limit and not (won or lost)
        max_reward = self.n_enemies * (HEALTH + 10.0) + 200.0
        reward = (dealt + (200.0 if won else 0.0)) / (max_reward / 20.0)
        info = {"battle_won": won}
        if timeout and self.continuing_episode:  # SMAC reports the time-out only then
            info["episode_limit"] = True
        return reward, won or lost or timeout, info

    def close(self) -> None:
        pass
