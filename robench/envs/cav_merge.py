"""On-ramp merging of 3 CAVs among 1–4 HDVs (Chen et al. 2023, IEEE T-ITS 24(11); their
github.com/DongChen06/MARL_CAVs ``merge_env_v1``), as a subclass of the stock highway-env
``MergeEnv`` (imported only where this backend runs).

Road (Chen et al.): one main lane, a ramp joining it; sections before / converging / merging /
after of ``ENDS`` = 220, 100, 100, 100 m; the merging lane ``("b", "c", 1)`` spans
x ∈ [320, 420] m and ends at an obstacle (L = 420, its end; l = 100, its length).
Spawn: slots at 10, 50, …, 210 m on the main road and 5, 45, …, 205 m on the ramp, drawn without
replacement; ⌊n/2⌋ of each kind (CAV, HDV) on the main road, the rest on the ramp; position noise
U(−1.5, 1.5) m, initial speed U(25, 27) m/s; HDVs are highway-env's IDM vehicles.
Per-agent reward (Chen et al.):
    r_i = −200·crashed + 1·clip(lmap(v, [10, 30] → [0, 1]), 0, 1)
          + 4·(−exp(−(x − L)² / (10·l)))       while on the merging lane
          + 4·min(0, log(headway / (1.2·v)))    (v > 0; headway to the nearest vehicle ahead in the
                                                 lane and its next lane, 60 m when none)
Team reward = mean over the CAVs.  Policy 5 Hz, simulation 15 Hz, 100 policy steps; the episode
terminates at the first CAV crash.

Safety supervisor (config ``safety_supervisor``; on in Chen et al.'s env by default, off here unless
the map asks for it — map ``merge_safe``): before each policy step the CAVs' proposed meta-actions are
checked in priority order (ramp vehicles nearest the merging lane's end first, then main-road vehicles
by their headway cost, most negative first).  A CAV's action is checked by simulating a copy of the
road for ``SUPERVISOR_FRAMES`` = 15 simulation frames (1 s, Chen et al.'s 5 policy steps × 3 frames)
with the actions decided so far; if the CAV crashes in that rollout, every available action is
simulated and the one that survives longest, then keeps the largest minimum distance to any other
vehicle or object ("safety room"), replaces it.  Only the CAVs at risk are checked: a CAV is at risk
when, by bounds on every object's speed over the horizon, some object could close the longitudinal gap
to it (``_at_risk``); when none is, no rollout is run.  The learner sees its own
(proposed) actions and the reward of the executed ones, as in Chen et al.  This is our reading of
their description, not their code.

Observation: highway-env's Kinematics (config below), computed by ``KinematicsArray`` on numpy
rows instead of the stock pandas frames — the same numbers (a test compares them), at a fraction
of the cost: the stock observation was ≈ 80 % of a policy step.  The road's lanes compute their
coordinates on plain floats (``MergeStraightLane``, ``MergeSineLane``: bit for bit the stock values)
and its closest-lane query avoids per-lane calls (``MergeNetwork``); docs/performance.md.
"""
from __future__ import annotations

import copy

import numpy as np
from highway_env import utils
from highway_env.envs.common.observation import KinematicObservation
from highway_env.envs.merge_env import MergeEnv
from highway_env.road.lane import LineType, SineLane, StraightLane
from highway_env.road.road import Road, RoadNetwork
from highway_env.vehicle.objects import Obstacle

ENDS = (220.0, 100.0, 100.0, 100.0)
"""Before, converging, merging, after (m)."""
MAIN_SLOTS = (10.0, 50.0, 90.0, 130.0, 170.0, 210.0)
RAMP_SLOTS = (5.0, 45.0, 85.0, 125.0, 165.0, 205.0)
N_CAV = 3
HDV_RANGE = (1, 4)
MERGE_LANE = ("b", "c", 1)
HEADWAY_NONE = 60.0
SUPERVISOR_FRAMES = 15
SUPERVISOR_RADIUS = 45.0
"""m: the vehicles a rollout keeps around each CAV at risk (1 s of closing at 40 m/s plus a length)."""
SUPERVISOR_HEADING_COS = float(np.cos(np.pi / 4 + 0.1))
"""Lower bound on the cosine of a vehicle's heading: the steering controller clips its heading command
to π/4 off the lane's, and no lane here is steeper than the ramp's sine (≈ 0.1 rad)."""


def merging_cost(x: float, end: float = sum(ENDS[:3]), length: float = ENDS[2]) -> float:
    """−exp(−(x − L)² / (10·l)): → −1 at the merging lane's end."""
    return -float(np.exp(-((x - end) ** 2) / (10 * length)))


def headway_cost(headway: float, speed: float, time_headway: float = 1.2) -> float:
    """min(0, log(headway / (t_h · v))); 0 for a standing vehicle."""
    if speed <= 0:
        return 0.0
    return min(0.0, float(np.log(headway / (time_headway * speed))))


def agent_reward(crashed: bool, speed: float, on_merge_lane: bool, x: float, headway: float) -> float:
    """Chen et al.'s per-CAV reward (module docstring)."""
    scaled = float(np.clip(utils.lmap(speed, [10, 30], [0, 1]), 0, 1))
    merge = merging_cost(x) if on_merge_lane else 0.0
    return -200.0 * crashed + 1.0 * scaled + 4.0 * merge + 4.0 * headway_cost(headway, speed)


class KinematicsArray(KinematicObservation):
    """``KinematicObservation.observe`` for the features presence, x, y, vx, vy without pandas.

    Rows: the observer (absolute), then up to ``vehicles_count − 1`` nearest objects from
    ``road.close_objects_to`` (its order and filter), each relative to the observer; a feature
    with a range is mapped by lmap(v, [lo, hi] → [−1, 1]) = −1 + (v − lo)·2 / (hi − lo) (clipped
    to [−1, 1] when ``clip``); missing rows are zeros."""

    COLUMNS = ("presence", "x", "y", "vx", "vy")

    def __init__(self, env, **config) -> None:
        super().__init__(env, **config)
        if list(self.features) != list(self.COLUMNS):
            raise ValueError(f"KinematicsArray observes {self.COLUMNS}, not {self.features}")

    def observe(self) -> np.ndarray:
        ego = self.observer_vehicle
        others = self.env.road.close_objects_to(
            ego, self.env.PERCEPTION_DISTANCE, count=self.vehicles_count - 1, see_behind=self.see_behind,
            sort=self.order == "sorted", vehicles_only=not self.include_obstacles)
        rows = np.array([[1.0, *o.position, *o.velocity] for o in [ego, *others]], dtype=np.float64)
        if not self.absolute:
            rows[1:, 1:] -= rows[0, 1:]
        if self.normalize:
            for feature, (low, high) in (self.features_range or {}).items():
                j = self.COLUMNS.index(feature)
                rows[:, j] = -1 + (rows[:, j] - low) * 2 / (high - low)
                if self.clip:
                    rows[:, j] = np.clip(rows[:, j], -1, 1)
        obs = np.zeros((self.vehicles_count, len(self.COLUMNS)), dtype=np.float32)
        obs[: len(rows)] = rows
        if self.order == "shuffled":
            self.env.np_random.shuffle(obs[1:])
        return obs


class MergeStraightLane(StraightLane):
    """``StraightLane`` whose lane coordinates — asked for every vehicle several times a simulation
    frame (closest lane, steering, neighbours, collisions) — are computed on plain floats:
        s = (p − start)·d,   r = (p − start)·d⊥
    (d the unit direction, d⊥ its left normal), the stock ``np.dot`` of the same numbers."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._frame = tuple(float(v) for v in (*self.start, *self.direction, *self.direction_lateral))

    def local_coordinates(self, position: np.ndarray) -> tuple[float, float]:
        sx, sy, dx, dy, lx, ly = self._frame
        x, y = float(position[0]) - sx, float(position[1]) - sy
        return x * dx + y * dy, x * lx + y * ly


class MergeSineLane(SineLane, MergeStraightLane):
    """``SineLane`` on ``MergeStraightLane``'s float coordinates: r = r_straight − A·sin(ω·s + φ)."""


class MergeNetwork(RoadNetwork):
    """``RoadNetwork`` whose closest-lane query — run for every vehicle at every simulation frame —
    is highway-env's argmin over the lanes (graph order, the first of equal distances kept) of
        d = |r| + max(s − length, 0) + max(−s, 0) + |wrap_to_π(heading − lane heading at s)|,
    (s, r) the position's lane coordinates, without its per-lane method calls: the straight lanes'
    distance is computed inline, and a sine lane is skipped when a lower bound of its distance,
    max(|r_straight| − A, 0) + the longitudinal terms (|r| ≥ |r_straight| − A, the heading term ≥ 0),
    already exceeds the best distance so far (by more than a rounding margin).  The lanes are read
    on the first query: add none after it."""

    SKIP_MARGIN = 1e-9
    """m: how far a sine lane's lower bound must exceed the best distance for the lane to be skipped."""

    def get_closest_lane_index(self, position: np.ndarray, heading: float | None = None) -> tuple:
        if not hasattr(self, "_lane_table"):
            self._lane_table = self._tabulate_lanes()
        best, best_index = np.inf, None
        for index, lane, length, lane_heading, amplitude in self._lane_table:
            s, r = MergeStraightLane.local_coordinates(lane, position)
            outside = max(s - length, 0.0) + max(-s, 0.0)
            if amplitude is None:
                distance = abs(r) + outside
                if heading is not None:
                    distance += abs((heading - lane_heading + np.pi) % (2 * np.pi) - np.pi)
            elif max(abs(r) - amplitude, 0.0) + outside > best + self.SKIP_MARGIN:
                continue
            else:
                distance = lane.distance_with_heading(position, heading)
            if distance < best:
                best, best_index = distance, index
        return best_index

    def _tabulate_lanes(self) -> list[tuple]:
        """(index, lane, length, heading, sine amplitude or None) in the graph's order."""
        table = []
        for a, to in self.graph.items():
            for b, lanes in to.items():
                for k, lane in enumerate(lanes):
                    if type(lane) not in (MergeStraightLane, MergeSineLane):
                        raise TypeError(f"MergeNetwork holds MergeStraightLane and MergeSineLane, not {type(lane).__name__}")
                    amplitude = abs(float(lane.amplitude)) if isinstance(lane, SineLane) else None
                    table.append(((a, b, k), lane, float(lane.length), float(lane.heading), amplitude))
        return table


class ChenMergeEnv(MergeEnv):
    """highway-env's merge scenario with Chen et al.'s road, spawn rule, reward and horizon."""

    @classmethod
    def default_config(cls) -> dict:
        config = super().default_config()
        config.update({
            "observation": {"type": "MultiAgentObservation", "observation_config": {
                "type": "Kinematics", "vehicles_count": 5, "features": ["presence", "x", "y", "vx", "vy"],
                "features_range": {"x": [-150, 150], "y": [-12, 12], "vx": [-45, 45], "vy": [-45, 45]},
                "absolute": False, "normalize": True, "clip": False, "see_behind": True, "order": "sorted"}},
            "action": {"type": "MultiAgentAction", "action_config": {
                "type": "DiscreteMetaAction", "target_speeds": [10, 15, 20, 25, 30]}},
            "controlled_vehicles": N_CAV, "simulation_frequency": 15, "policy_frequency": 5, "duration": 20,
            "safety_supervisor": False,
        })
        return config

    def define_spaces(self) -> None:
        """The stock spaces, each agent observed by ``KinematicsArray`` instead of the stock type."""
        super().define_spaces()
        config = self.config["observation"]["observation_config"]
        agents = self.observation_type.agents_observation_types
        for k, vehicle in enumerate(self.controlled_vehicles):
            agents[k] = KinematicsArray(self, **config)
            agents[k].observer_vehicle = vehicle

    def step(self, action: tuple[int, ...]):
        if self.config["safety_supervisor"]:
            action = self.supervise(tuple(int(a) for a in action))
        return super().step(action)

    def supervise(self, proposed: tuple[int, ...]) -> tuple[int, ...]:
        """The executed joint action: ``proposed`` with each CAV that crashes within the horizon
        switched, in priority order, to its safest available action (module docstring).  One
        rollout of the joint action checks every CAV at risk; alternatives are simulated only for a
        CAV it crashes.  Rollouts hold only the CAVs at risk and the vehicles within
        ``SUPERVISOR_RADIUS`` of them."""
        at_risk = self._at_risk()
        if not at_risk:
            return proposed
        keep = {id(self.controlled_vehicles[k]) for k in at_risk} | {
            id(o) for k in at_risk for o in self._near(self.controlled_vehicles[k])}
        decided = list(proposed)
        outcome = self._rollout(decided, at_risk, keep)
        for k in self._priority_order(at_risk):
            if outcome[k][0] == SUPERVISOR_FRAMES:
                continue
            trials = {a: self._rollout(decided[:k] + [a] + decided[k + 1:], at_risk, keep)
                      for a in self.action_type.agents_action_types[k].get_available_actions()}
            decided[k] = max(trials, key=lambda a: trials[a][k])
            outcome = trials[decided[k]]
        return tuple(decided)

    def _priority_order(self, cavs: list[int]) -> list[int]:
        """Ramp and merging-lane CAVs first, nearest the merging lane's end first; then main-road CAVs
        by headway cost, most negative first."""
        def key(k: int) -> tuple[int, float]:
            v = self.controlled_vehicles[k]
            if v.lane_index[0] in ("j", "k") or v.lane_index == MERGE_LANE:
                return 0, -float(v.position[0])
            return 1, headway_cost(self.headway(v), v.speed)
        return sorted(cavs, key=key)

    def _speed_bounds(self, objects: list, horizon: float) -> tuple[np.ndarray, np.ndarray]:
        """Per object, bounds [v_lo, v_hi] on its speed over the horizon T (s): a CAV's speed moves
        monotonically from v toward its target speed (first-order response), which the rollout's one
        meta-action keeps or moves to the target next to v's (highway-env's ``MDPVehicle.act``); an
        HDV's moves by at most ``ACC_MAX``·T (IDM's clip; unbounded for a vehicle type without one);
        an obstacle's is 0; a crashed vehicle brakes to 0."""
        cavs = {id(v) for v in self.controlled_vehicles}
        bounds = np.zeros((len(objects), 2))
        for j, o in enumerate(objects):
            v = float(o.speed)
            if id(o) in cavs:
                near = o.speed_to_index(v)
                reachable = [v, float(o.target_speed), float(o.target_speeds[max(near - 1, 0)]),
                             float(o.target_speeds[min(near + 1, o.target_speeds.size - 1)])]
                bounds[j] = min(reachable), max(reachable)
            elif isinstance(o, Obstacle):
                bounds[j] = v, v
            else:
                acc = getattr(o, "ACC_MAX", np.inf) * horizon
                bounds[j] = max(0.0, v - acc), v + acc
            if o.crashed:
                bounds[j, 0] = 0.0
        return bounds[:, 0], bounds[:, 1]

    def _at_risk(self) -> list[int]:
        """The live CAVs that some vehicle or object could touch within the horizon T.  Each object's
        longitudinal travel over T lies in [cos θ·v_lo·T, v_hi·T] (``_speed_bounds``, θ ≤ the heading
        bound ``SUPERVISOR_HEADING_COS``), so the gap Δx between a follower f and a leader l can close
        to contact only if  Δx − reach < T·(v_hi,f − cos θ·v_lo,l),  reach = half the sum of their
        diagonals plus one frame's travel of each (highway-env checks the swept polygons); lateral
        distance is ignored, which only adds CAVs.  A CAV not at risk is safe under every action."""
        horizon, dt = SUPERVISOR_FRAMES / self.config["simulation_frequency"], 1 / self.config["simulation_frequency"]
        objects = [*self.road.vehicles, *self.road.objects]
        lo, hi = self._speed_bounds(objects, horizon)
        x = np.array([o.position[0] for o in objects])
        diagonal = np.array([o.diagonal for o in objects])
        index = {id(o): j for j, o in enumerate(objects)}
        cavs = np.array([index[id(v)] for v in self.controlled_vehicles])
        gap = x[None, :] - x[cavs, None]                                   # (CAV, object): > 0 ahead
        ahead = gap >= 0
        follower_hi = np.where(ahead, hi[cavs, None], hi[None, :])
        leader_lo = np.where(ahead, lo[None, :], lo[cavs, None])
        reach = (diagonal[cavs, None] + diagonal[None, :]) / 2 + (hi[cavs, None] + hi[None, :]) * dt
        risk = np.abs(gap) - reach < horizon * (follower_hi - SUPERVISOR_HEADING_COS * leader_lo)
        risk[np.arange(len(cavs)), cavs] = False
        return [k for k, v in enumerate(self.controlled_vehicles) if not v.crashed and risk[k].any()]

    def _near(self, vehicle) -> list:
        """The vehicles within ``SUPERVISOR_RADIUS`` of ``vehicle`` (itself excluded)."""
        return [o for o in self.road.vehicles
                if o is not vehicle and np.linalg.norm(o.position - vehicle.position) < SUPERVISOR_RADIUS]

    def _rollout(self, actions: list[int], at_risk: list[int], keep: set[int]) -> dict[int, tuple[int, float]]:
        """Simulate a copy of the road — the network shared, only the vehicles whose ids are in
        ``keep`` (the CAVs at risk and the vehicles near them) — with ``actions`` for the CAVs and the
        HDVs' own behaviour; per CAV at risk: (frames it survives, up to the horizon; its minimum
        distance to any other vehicle or object over them)."""
        network = self.road.network
        memo = {id(network): network, **{id(lane): lane for lane in network.lanes_list()},
                **{id(v): None for v in self.road.vehicles if id(v) not in keep}}
        road = copy.deepcopy(self.road, memo)
        road.vehicles = [v for v in road.vehicles if v is not None]
        copies = {k: memo[id(self.controlled_vehicles[k])] for k in at_risk}
        names = self.action_type.agents_action_types[0].actions
        for k, vehicle in enumerate(self.controlled_vehicles):
            if id(vehicle) in keep and not vehicle.crashed:
                memo[id(vehicle)].act(names[actions[k]])
        frames = dict.fromkeys(at_risk, SUPERVISOR_FRAMES)
        room = dict.fromkeys(at_risk, np.inf)
        everything = [*road.vehicles, *road.objects]
        dt = 1 / self.config["simulation_frequency"]
        for frame in range(SUPERVISOR_FRAMES):
            road.act()
            road.step(dt)
            positions = np.array([o.position for o in everything])
            for k, ego in copies.items():
                if frames[k] < SUPERVISOR_FRAMES:
                    continue
                if ego.crashed:
                    frames[k] = frame
                    continue
                gaps = np.linalg.norm(positions - ego.position, axis=1)
                room[k] = min(room[k], float(np.partition(gaps, 1)[1]))  # [0] is the ego itself
        return {k: (frames[k], room[k]) for k in at_risk}

    def _make_road(self) -> None:
        net = MergeNetwork()
        c, s, n = LineType.CONTINUOUS_LINE, LineType.STRIPED, LineType.NONE
        before, converge, merge, _ = ENDS
        net.add_lane("a", "b", MergeStraightLane([0, 0], [before + converge, 0], line_types=[c, c]))
        net.add_lane("b", "c", MergeStraightLane([before + converge, 0], [before + converge + merge, 0], line_types=[c, s]))
        net.add_lane("c", "d", MergeStraightLane([before + converge + merge, 0], [sum(ENDS), 0], line_types=[c, c]))
        amplitude = 3.25
        ljk = MergeStraightLane([0, 6.5 + 4], [before, 6.5 + 4], line_types=[c, c], forbidden=True)
        lkb = MergeSineLane(ljk.position(before, -amplitude), ljk.position(before + converge, -amplitude), amplitude,
                       2 * np.pi / (2 * converge), np.pi / 2, line_types=[c, c], forbidden=True)
        lbc = MergeStraightLane(lkb.position(converge, 0), lkb.position(converge, 0) + [merge, 0], line_types=[n, c],
                           forbidden=True)
        net.add_lane("j", "k", ljk)
        net.add_lane("k", "b", lkb)
        net.add_lane("b", "c", lbc)
        self.road = Road(network=net, np_random=self.np_random, record_history=False)
        self.road.objects.append(Obstacle(self.road, lbc.position(merge, 0)))

    def _make_vehicles(self) -> None:
        rng, road = self.np_random, self.road
        n_hdv = int(rng.integers(HDV_RANGE[0], HDV_RANGE[1] + 1))
        main = list(rng.choice(MAIN_SLOTS, size=N_CAV // 2 + n_hdv // 2, replace=False))
        ramp = list(rng.choice(RAMP_SLOTS, size=N_CAV - N_CAV // 2 + n_hdv - n_hdv // 2, replace=False))
        spots = ([("a", "b", 0, x) for x in main[: N_CAV // 2]] + [("j", "k", 0, x) for x in ramp[: N_CAV - N_CAV // 2]],
                 [("a", "b", 0, x) for x in main[N_CAV // 2:]] + [("j", "k", 0, x) for x in ramp[N_CAV - N_CAV // 2:]])
        hdv_type = utils.class_from_path(self.config["other_vehicles_type"])
        self.controlled_vehicles = []
        for kind, places in zip(("cav", "hdv"), spots):
            for a, b, lane, x in places:
                position = road.network.get_lane((a, b, lane)).position(x + rng.uniform(-1.5, 1.5), 0.0)
                speed = float(rng.uniform(25.0, 27.0))
                if kind == "cav":
                    vehicle = self.action_type.vehicle_class(road, position, speed=speed)
                    self.controlled_vehicles.append(vehicle)
                else:
                    vehicle = hdv_type(road, position, speed=speed)
                road.vehicles.append(vehicle)

    def headway(self, vehicle) -> float:
        """Distance to the nearest vehicle ahead in the vehicle's lane (and, off the merging lane,
        in its next lane); ``HEADWAY_NONE`` when there is none (Chen et al.)."""
        lanes = [vehicle.lane_index]
        if vehicle.lane_index != MERGE_LANE:
            lanes.append(self.road.network.next_lane(vehicle.lane_index, position=vehicle.position))
        gaps = [v.position[0] - vehicle.position[0] for v in self.road.vehicles
                if v is not vehicle and v.lane_index in lanes and v.position[0] > vehicle.position[0]]
        return min([HEADWAY_NONE, *gaps])

    def agent_rewards(self) -> list[float]:
        return [agent_reward(v.crashed, v.speed, v.lane_index == MERGE_LANE, v.position[0], self.headway(v))
                for v in self.controlled_vehicles]

    def _reward(self, action) -> float:
        return float(np.mean(self.agent_rewards()))

    def _rewards(self, action) -> dict[str, float]:
        return {}

    def _is_terminated(self) -> bool:
        return any(v.crashed for v in self.controlled_vehicles)

    def _is_truncated(self) -> bool:
        return self.time >= self.config["duration"] - 1e-6
