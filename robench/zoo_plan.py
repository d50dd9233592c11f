"""What the model zoo should hold: the planned runs of ``robench zoo build`` / ``zoo status``
and whether each is in the zoo.

A *run* is one (map, learner, defense, seed) protagonist with every other setting at its
default (``TrainConfig``, the defense's ``Config``), the map's recipe (``MapRecipe``: 2 M steps
from scratch on SMAX; on CAV its own rollout settings and, on ``merge_safe``, a warm start from
``merge``) unless the build overrides ``steps``, and the defense's zoo recipe
(``Defense.zoo_learner``, ``Defense.ZOO_SHARES``).  Its entry is
``<zoo>/<map>/<learner>_<defense>[_p<P>]_s<seed>`` (``runs.checkpoint_name``), with any co-trained
adversaries inside it.  Planning compares each run's *resolved* configuration with
the manifest already in the zoo:

  * done    — a manifest with the same resolved configuration (training settings and every
              defense option, defaults included): never retrained;
  * stale   — a manifest whose configuration differs (e.g. other steps): retrained only with
              ``--retrain-stale`` (the old entry is replaced in one rename);
  * missing — no entry: trained (a fine-tuning defense, ROMANCE-p, once its NoAdv run of the
              same map, learner and seed is in the zoo; until then the run reports "blocked").

Order: maps as given (3m first), then defenses (registry order, or as given), then learners —
the paper's 3m rows complete first.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from robench.checkpoint import CheckpointError, checkpoint_dirs, read_manifest
from robench.envs import backend_of, canonical_map, paper_eps, train_layout
from robench.errors import RobenchError
from robench.learners.learner import LearnerConfig
from robench.manifest import Manifest, train_config_record
from robench.regime import Regime
from robench.runs import checkpoint_name, pretrained_start, share_tag
from robench.threat import DEFAULT_THREAT
from robench.train import TrainConfig, resolve_regime

DEFAULT_RUN_MINUTES = 20.0
"""Projected 2-core minutes of a run of a defense with no finished run in the zoo yet."""


@dataclass(frozen=True)
class MapRecipe:
    """The zoo's training recipe on one map: ``steps`` env steps per run, every row (NoAdv
    included) starting from the zoo's NoAdv run of the same learner and seed on ``warm_start``
    where one is named (planned, so trained, before the map's rows), and the map's own rollout
    batch, exploration schedule and target-network period where given (None = the defaults of
    ``TrainConfig`` and ``LearnerConfig``)."""

    steps: int = TrainConfig.steps
    warm_start: str | None = None
    n_envs: int | None = None
    """B, env copies per round: with ``updates_per_rollout`` fixed, a smaller B means more gradient
    steps per env step (12 per B episodes)."""
    explore_anneal_steps: int | None = None
    target_update_episodes: int | None = None

    def train_overrides(self) -> dict[str, int]:
        """The ``TrainConfig`` fields the recipe sets besides ``steps``."""
        return {k: v for k, v in (("n_envs", self.n_envs), ("explore_anneal_steps", self.explore_anneal_steps))
                if v is not None}

    def learner_overrides(self) -> dict[str, int]:
        """The ``LearnerConfig`` fields the recipe sets."""
        return {} if self.target_update_episodes is None else {"target_update_episodes": self.target_update_episodes}


CAV_ROLLOUT = dict(n_envs=8, target_update_episodes=50)
"""CAV runs: 8 env copies per round (12 gradient steps per 8 episodes, 4× the SMAX protocol's per
env step) and a target copy every 50 episodes, the settings of the earlier ``merge`` →
``merge_safe`` lineage (commit 2f001fc) that scored 40.1 on ``merge_safe``."""

MAP_RECIPES: dict[str, MapRecipe] = {
    "merge": MapRecipe(steps=1_000_000, explore_anneal_steps=30_000, **CAV_ROLLOUT),
    "merge_safe": MapRecipe(steps=100_000, warm_start="merge", explore_anneal_steps=20_000, **CAV_ROLLOUT),
}
"""Maps whose recipe is not the SMAX protocol's 2 M steps from scratch.  CAV: a ``merge_safe``
run learns little from scratch (VDN NoAdv: return 8 at 300 000 steps, 100 episodes), while an
earlier NoAdv policy trained 445 000 steps on ``merge`` with these rollout settings — no
supervisor look-ahead there, so cheaper per step — scored 40.1 on ``merge_safe`` after 99 000
more steps; at 400 000 ``merge`` steps the recipe's lineage reached 27.9, its ``merge`` curve
still rising; at 1 M it scores 53.5 with no crash in 500 ``merge_safe`` episodes
(docs/evidence/cav-budget.md)."""


def map_recipe(map_name: str) -> MapRecipe:
    """The zoo's recipe on ``map_name`` (``MAP_RECIPES``; the SMAX protocol's otherwise)."""
    return MAP_RECIPES.get(map_name, MapRecipe())


@dataclass(frozen=True)
class ZooRun:
    map: str
    learner: str
    defense: str
    seed: int
    steps: int | None = None
    """Override of ``TrainConfig.steps`` (None = the default)."""
    attack_prob: float | None = None
    """An attacked share other than the defense's default (``Defense.ZOO_SHARES``), or None."""

    def config(self, zoo: Path | None = None) -> TrainConfig:
        """The run's TrainConfig: the defaults with the map's recipe (``map_recipe``) and the
        defense's zoo recipe (``Defense.zoo_learner``: the regularisers' reward scale on SMAX).  On
        a map with a warm start every row starts from the zoo's NoAdv run of that map, same
        learner and seed; elsewhere a defense that fine-tunes (ROMANCE-p) starts from the NoAdv run
        of its own map (both planned before the row, and trained in an earlier wave: ``runs_to_train``)."""
        from defenses import DEFENSES

        backend = backend_of(self.map)
        recipe = map_recipe(self.map)
        learner = LearnerConfig(mixer=self.learner,  # a defense's own recipe wins over the map's
                                **{**recipe.learner_overrides(), **DEFENSES[self.defense].zoo_learner(backend)})
        cfg = TrainConfig(env=self.map, backend=backend, defense=self.defense, seed=self.seed,
                          threat=DEFAULT_THREAT.at(paper_eps(self.map)), learner=learner, attack_prob=self.attack_prob,
                          steps=recipe.steps if self.steps is None else self.steps, **recipe.train_overrides())
        return cfg if zoo is None else pretrained_start(cfg, zoo, recipe.warm_start)

    def path(self, zoo: Path) -> Path:
        return Path(zoo) / self.map / checkpoint_name(self.config())

    @property
    def label(self) -> str:
        share = "" if self.attack_prob is None else f"_{share_tag(self.attack_prob)}"
        return f"{self.map}/{self.learner}/{self.defense}{share}/s{self.seed}"


def plan_runs(maps: list[str], learners: list[str], defenses: list[str], seeds: list[int],
              steps: int | None = None) -> list[ZooRun]:
    """Every run of the build, in build order: maps, then defenses, then learners, then seeds (a
    defense's VDN and QMIX rows of the first map are done before the next defense starts); a
    defense's extra attacked shares on the map (``Defense.ZOO_SHARES``) follow its default rows; a
    map's warm-start NoAdv runs (``MapRecipe.warm_start``) precede its rows; no run twice."""
    from defenses import DEFENSES

    runs: list[ZooRun] = []
    for m in maps:
        name = canonical_map(m, backend_of(m))
        warm = map_recipe(name).warm_start
        if warm is not None:
            runs += [ZooRun(warm, lr, "noadv", s, steps) for lr in learners for s in seeds]
        for d in defenses:
            for share in (None, *DEFENSES[d].ZOO_SHARES.get(name, ())):
                runs += [ZooRun(name, lr, d, s, steps, share) for lr in learners for s in seeds]
    return list(dict.fromkeys(runs))


def _comparable(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, default=str)


def with_defaults(config: dict[str, Any]) -> dict[str, Any]:
    """A recorded TrainConfig completed with today's defaults for the fields it predates (a field
    added later, at its default, must not turn every finished run stale)."""
    learner = {**asdict(LearnerConfig()), **config.get("learner", {})}
    return {**asdict(TrainConfig()), **train_config_record(config), "learner": learner}


REGIME_FIELDS = tuple(f.name for f in fields(Regime))
"""TrainConfig's regime overrides: compared through the resolved regime, not as written."""


CURVE_ONLY_FIELDS = ("curve_attacks", "eval_episodes")
"""TrainConfig fields that only shape the curve's evaluations, on seeds of their own (the trained
weights are the same; the zoo sets no ``stop_win_rate``): a run that differs from the zoo's in them
is not stale."""


def _config_part(config: dict[str, Any]) -> str:
    return _comparable({k: v for k, v in config.items() if k not in REGIME_FIELDS + CURVE_ONLY_FIELDS})


def same_options(defense: str, recorded: dict[str, Any], resolved: dict[str, Any]) -> bool:
    """Whether a manifest's resolved defense options equal today's, reading an option the
    manifest predates at the defense's behaviour-preserving value (``MethodConfig.added``)."""
    from defenses import DEFENSES

    added = {key: value for key, value in DEFENSES[defense].Config.added().items() if key in resolved}
    return _comparable({**added, **recorded}) == _comparable(resolved)


def run_status(run: ZooRun, zoo: Path) -> str:
    """``done``, ``stale`` or ``missing`` (an unreadable entry counts as stale)."""
    path = run.path(zoo)
    if not (path / "manifest.json").is_file():
        return "missing"
    try:
        manifest = Manifest(read_manifest(path))
    except (CheckpointError, RobenchError):
        return "stale"
    from defenses import DEFENSES

    cfg = run.config(zoo)
    resolved = DEFENSES[run.defense].config_for(cfg.learner.mixer, cfg.defense_options).to_dict()
    recorded = {**with_defaults(manifest.config), "obs_layout": manifest.obs_layout}
    wanted = {**asdict(cfg), "obs_layout": cfg.obs_layout or train_layout(cfg.backend)}
    if cfg.init_from is not None:  # a fine-tune's start is the parent's weights, not the path it was named by
        recorded["init_from"], wanted["init_from"] = manifest.init_from_hash, _content_hash(Path(cfg.init_from))
    same = (_config_part(recorded) == _config_part(wanted)
            and manifest.regime == resolve_regime(cfg)
            and same_options(run.defense, manifest.defense_options_resolved, resolved))
    return "done" if same else "stale"


def runs_to_train(runs: list[ZooRun], zoo: Path, retrain_stale: bool = False) -> list[list[ZooRun]]:
    """The runs a build trains, in waves: the missing ones and, with ``retrain_stale``, the stale
    ones and every run that starts from the entry of a run the build trains (a ``merge_safe`` row
    from its ``merge`` NoAdv run, ROMANCE-p from its NoAdv run: retraining the parent changes the
    weights the child starts from).  A run that starts from another run of the build is in a later
    wave than it, so parallel jobs never start a child before its parent has finished; each wave
    keeps the plan's order."""
    depth: dict[Path, int] = {}
    waves: list[list[ZooRun]] = []
    for run in runs:
        status = run_status(run, zoo)
        start = run.config(zoo).init_from
        parent = None if start is None else depth.get(Path(start).resolve())
        if status == "missing" or (retrain_stale and (status == "stale" or parent is not None)):
            level = 0 if parent is None else parent + 1
            depth[run.path(zoo).resolve()] = level
            waves += [[] for _ in range(level + 1 - len(waves))]
            waves[level].append(run)
    return waves


def _content_hash(checkpoint: Path) -> str | None:
    """The content hash of the checkpoint at ``checkpoint`` (None where there is none)."""
    try:
        return Manifest(read_manifest(checkpoint)).content_hash
    except (CheckpointError, RobenchError):
        return None


def projected_minutes(runs: list[ZooRun], zoo: Path) -> float:
    """2-core minutes still to train ``runs``: each run at the mean per-step wall time of the zoo's
    finished runs of its defense on its map — or of any defense on its map, or of its defense on
    any map, in that order (``DEFAULT_RUN_MINUTES`` per 3 M steps with none) — times its steps."""
    walls: dict[tuple[str, str], list[float]] = {}
    for directory in checkpoint_dirs(zoo):
        try:
            m = Manifest(read_manifest(directory))
        except CheckpointError:  # an entry replaced while we scan
            continue
        if m.is_protagonist and m.steps:
            walls.setdefault((m.map_name, m.defense), []).append(m.wall_time_s / 60 / m.steps)

    def pooled(keep) -> list[float]:
        return [w for key, ws in walls.items() if keep(*key) for w in ws]

    total = 0.0
    for run in runs:
        steps = run.config().steps
        per_step = (walls.get((run.map, run.defense)) or pooled(lambda m, _: m == run.map)
                    or pooled(lambda _, d: d == run.defense))
        total += steps * sum(per_step) / len(per_step) if per_step else DEFAULT_RUN_MINUTES * steps / 3_000_000
    return total


def zoo_status(runs: list[ZooRun], zoo: Path) -> dict[str, list[str]]:
    """Run labels by status (done / stale / missing)."""
    out: dict[str, list[str]] = {"done": [], "stale": [], "missing": []}
    for run in runs:
        out[run_status(run, zoo)].append(run.label)
    return out


def check_defenses(defenses: list[str]) -> list[str]:
    """``all`` → every registered defense; unknown names are one-line errors."""
    from defenses import DEFENSES

    if defenses == ["all"]:
        return list(DEFENSES)
    unknown = [d for d in defenses if d not in DEFENSES]
    if unknown:
        raise RobenchError(f"unknown defense {unknown[0]!r}; known: all, {', '.join(DEFENSES)}")
    return defenses
