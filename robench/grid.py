"""The cross-evaluation grid: every protagonist checkpoint × attack × ε × evaluation seed.

Cells are content-addressed (``robench.store.cell_id`` of the checkpoint's content hash and
the evaluation settings), so a finished cell is never recomputed and a killed grid resumes
where it stopped.  Cells run through joblib: ``loky`` processes locally, or the ``dask`` /
``ray`` joblib backends to spread one grid over a cluster unchanged.  The ``none`` attack is
one cell per checkpoint at ε = 0; every other attack gets one cell per ε.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from robench.checkpoint import checkpoint_dirs, read_manifest
from robench.envs import DEFAULT_BACKEND, declares, paper_eps
from robench.errors import RobenchError
from robench.manifest import Manifest
from robench.rows import protocol_of, settings_of, variant_of
from robench.locks import sweep_orphans
from robench.parallel import dispatch
from robench.threat import DEFAULT_THREAT, ThreatModel

class GridError(RobenchError):
    """Bad grid request (unknown names, nothing to evaluate, unavailable backend)."""


@dataclass
class GridSpec:
    """One grid request (mirrors ``robench grid``'s options)."""

    eps: list[float]
    envs: list[str] | None = None
    """Maps to include (None = every map with checkpoints)."""
    learners: list[str] | None = None
    defenses: list[str] | None = None
    seeds: list[int] | None = None
    """Protagonist training seeds to include (None = all)."""
    attacks: list[str] = field(default_factory=lambda: ["none", "random", "fgsm"])
    episodes: int = 500
    eval_seeds: list[int] = field(default_factory=lambda: [0])
    checkpoints: Path = Path("checkpoints")
    adversaries: Path | None = None
    """Adversary checkpoints for the learned attack columns (one per env, victim learner, attack)."""
    retrain_adversaries: bool = False
    """Train a fresh adversary against each row's protagonist (per cell, beyond the paper); the
    adversary is cached under ``results/adversaries`` and shared by that row's ε cells."""
    retrain_steps: int = 100_000
    """Env steps of each retrained adversary."""
    threat: ThreatModel = DEFAULT_THREAT
    """Every attacked cell's threat model but its radius (each cell's ε is one of ``eps``): the
    attacked set M, the coordinates the attacks may touch and how ô is kept in range; clean cells
    take ``ThreatModel.clean`` (its key: ``ThreatModel.cell_key``)."""
    reference_rows: bool = False
    """Add the mask-only scripted policy's row to every SMAX (env, learner) block (``robench grid``
    does unless ``--no-reference``)."""
    results: Path = Path("results")
    jobs: int = 1
    backend: str = "loky"


@dataclass(frozen=True)
class Cell:
    cid: str
    checkpoint: str
    meta: dict[str, Any] = field(hash=False, compare=False)
    """What the cell records beside its results: its hashed key and the row's labels (defense,
    variant, protocol, seed, ...)."""


def discover(spec: GridSpec) -> list[tuple[Path, Manifest]]:
    """Protagonist checkpoints under ``spec.checkpoints`` that match the filters."""
    root = Path(spec.checkpoints)
    if not root.is_dir():
        raise GridError(f"no checkpoint directory {root}")
    found = []
    for directory in checkpoint_dirs(root):
        manifest = Manifest(read_manifest(directory))
        env = manifest.map_name
        if not manifest.is_protagonist:
            continue
        if spec.envs is not None and env not in spec.envs:
            continue
        if spec.learners is not None and manifest.learner not in spec.learners:
            continue
        if spec.defenses is not None and manifest.defense not in spec.defenses:
            continue
        if spec.seeds is not None and manifest.seed not in spec.seeds:
            continue
        found.append((directory, manifest))
    return found


def at_default_share(protagonist: Path, defense: str | None) -> bool:
    """Whether the protagonist at ``protagonist`` (a co-trained adversary's parent directory) was
    trained at its defense's default attacked share (True where there is no such protagonist)."""
    from defenses import DEFENSES

    if defense not in DEFENSES or not (protagonist / "manifest.json").is_file():
        return True
    return Manifest(read_manifest(protagonist)).regime.attack_prob == DEFENSES[defense].REGIME.attack_prob


def adversary_candidates(root: Path | None) -> dict[tuple[str, str, str, str], list[tuple[Path, str]]]:
    """(env, victim learner, attack, observation layout) → every adversary checkpoint under ``root``
    for it (an adversary perturbs the layout it was trained on), as
    (path, content hash): first those co-trained by the defense of the attack's name (the
    paper's protocol: the ATSA column is the adversary ATSA training produced on that map and
    learner), then the rest (co-trained by other defenses, or trained against a fixed victim);
    within each group, runs with default defense options before ablation variants, those
    co-trained at the defense's default attacked share before other regimes (ATSA's p = 1
    rows), then the lowest seed, then path order."""
    found: dict[tuple[str, str, str], list[tuple[Path, str]]] = {}
    if root is None:
        return found
    if not Path(root).is_dir():
        raise GridError(f"no adversary directory {root}")
    for directory in checkpoint_dirs(root):
        manifest = Manifest(read_manifest(directory))
        if not manifest.is_protagonist:
            key = (manifest.map_name, manifest.victim_learner, manifest.attack, manifest.obs_layout)
            rank = (manifest.co_trained_by != manifest.attack, bool(manifest.co_trained_variant),
                    not at_default_share(directory.parent, manifest.co_trained_by), manifest.seed or 0, str(directory))
            found.setdefault(key, []).append((rank, directory, manifest.content_hash))
    return {key: [(path, digest) for _, path, digest in sorted(rows)] for key, rows in found.items()}


def plan(spec: GridSpec, candidates: dict[tuple[str, str, str, str], list[tuple[Path, str]]] | None = None,
         ) -> tuple[list[Cell], list[dict[str, Any]]]:
    """Every cell of the grid in a deterministic order, and the learned-attack columns that
    have no adversary (reported as missing, never silently skipped).

    Each learned column uses the first of its ``candidates`` (``adversary_candidates`` of
    ``spec.adversaries``, scanned here unless the caller already did): one adversary per
    (env, victim learner, attack, observation layout) serves the whole column, as in the paper."""
    from attacks import ATTACKS, is_clean
    from robench.store import cell_id

    if candidates is None:
        candidates = adversary_candidates(spec.adversaries)
    adversaries = {key: found[0] for key, found in candidates.items()}
    cells, missing = [], []
    for path, manifest in discover(spec):
        env, learner, variant = manifest.map_name, manifest.learner, variant_of(manifest)
        settings = settings_of(manifest)
        for attack in spec.attacks:
            adversary, retrain = None, None
            if ATTACKS[attack].learned and spec.retrain_adversaries:
                retrain = {"attack": attack, "victim": manifest.content_hash, "steps": spec.retrain_steps,
                           "threat": spec.threat.at(paper_eps(env)).to_dict(), "seed": 0}
            elif ATTACKS[attack].learned:
                adversary = adversaries.get((env, learner, attack, manifest.obs_layout))
                if adversary is None:
                    missing.append({"env": env, "learner": learner, "defense": manifest.defense,
                                    "seed": manifest.seed, "attack": attack})
                    continue
            clean = is_clean(attack)
            for threat in ([spec.threat.clean()] if clean else [spec.threat.at(eps) for eps in spec.eps]):
                for eval_seed in spec.eval_seeds:
                    key = {"checkpoint_hash": manifest.content_hash, "attack": attack, "eps": threat.eps,
                           "episodes": spec.episodes, "eval_seed": eval_seed,
                           "adversary_hash": adversary[1] if adversary else None, "retrain": retrain,
                           **({} if clean else threat.cell_key())}
                    meta = {"env": env, "backend": manifest.backend, "learner": learner,
                            "defense": manifest.defense, "variant": variant, "settings": settings,
                            "seed": manifest.seed, "threat": threat.to_dict(),
                            "protocol": protocol_of(manifest), "obs_layout": manifest.obs_layout,
                            "adversary": recorded_path(adversary[0]) if adversary else None, **key}
                    cells.append(Cell(cid=cell_id(key), checkpoint=recorded_path(path), meta=meta))
    if spec.reference_rows:
        cells += reference_cells(spec, sorted({(c.meta["env"], c.meta["backend"], c.meta["learner"]) for c in cells}))
    return cells, missing


MASK_ONLY = "mask-only"
"""The scripted reference row (``robench.diagnose.MaskOnlyPolicy``)."""


def reference_cells(spec: GridSpec, blocks: list[tuple[str, str, str]]) -> list[Cell]:
    """The mask-only scripted policy's clean cell per SMAX (env, learner) block and evaluation
    seed: it ignores observations, so its clean win rate is its win rate under every
    observation attack — the reference row of the block (``robench.diagnose``)."""
    from attacks import CLEAN
    from robench.store import cell_id

    cells = []
    for env, backend, learner in blocks:
        if not declares(backend, "win_rate"):  # SMAC-like maps only: the rule reads SMAC's action mask
            continue
        for eval_seed in spec.eval_seeds:
            key = {"scripted": MASK_ONLY, "env": env, "learner": learner, "attack": CLEAN, "eps": 0.0,
                   "episodes": spec.episodes, "eval_seed": eval_seed}
            if backend != DEFAULT_BACKEND:  # the default backend's reference cells keep the ids they had
                key["backend"] = backend
            meta = {**key, "backend": backend, "defense": MASK_ONLY, "variant": "", "seed": 0,
                    "threat": spec.threat.clean().to_dict(),
                    "protocol": "scripted", "adversary": None, "retrain": None, "checkpoint_hash": None,
                    "adversary_hash": None}
            cells.append(Cell(cid=cell_id(key), checkpoint=f"scripted:{MASK_ONLY}", meta=meta))
    return cells


def run_cell(cell: Cell, results: str) -> dict[str, Any]:
    """Compute one cell (unless finished) under its lock; return its stored metadata."""
    from robench.checkpoint import load_protagonist
    from robench.evaluate import evaluate
    from robench.store import ResultStore

    store = ResultStore(Path(results))
    with store.lock(cell.cid):
        if store.done(cell.cid):
            return store.read_meta(cell.cid)
        start = time.perf_counter()
        scripted = cell.meta.get("scripted") == MASK_ONLY
        if scripted:
            agent, manifest = mask_only_agent(cell.meta["env"], cell.meta["backend"]), None
        else:
            agent, _, manifest = load_protagonist(Path(cell.checkpoint))
        if not scripted and Manifest(manifest).content_hash != cell.meta["checkpoint_hash"]:
            raise GridError(f"{cell.checkpoint} changed since the grid was planned")
        k = cell.meta
        adversary = None
        if k["retrain"] is not None:
            k = {**k, "adversary": str(retrained_adversary(store, k["retrain"], agent, manifest))}
        if k["adversary"] is not None:
            from attacks.training import load_adversary
            from robench.checkpoint import env_info_from_manifest

            adversary = load_adversary(Path(k["adversary"]), env_info_from_manifest(manifest), seed=k["eval_seed"])
        res, out = evaluate(agent, k["env"], backend=k["backend"], attack=k["attack"],
                            threat=ThreatModel.from_dict(k["threat"]), episodes=k["episodes"], seed=k["eval_seed"],
                            adversary=adversary, obs_layout=k.get("obs_layout"))
        episodes = pd.DataFrame({"episode": range(res.episodes), "won": out.won.numpy(),
                                 "return": out.episode_return.numpy(), "crashed": out.crashed.numpy(),
                                 "length": out.length.numpy()})
        from robench import __version__

        meta = {**k, "cell_id": cell.cid, "checkpoint": cell.checkpoint,
                "win_rate": res.win_rate, "ci_low": res.ci_low, "ci_high": res.ci_high,
                "mean_return": res.mean_return, "std_return": res.std_return, "crash_rate": res.crash_rate,
                "mean_length": res.mean_length, "wall_s": round(time.perf_counter() - start, 3),
                "robench_version": __version__}
        store.write(cell.cid, meta, episodes)
        return meta


def mask_only_agent(map_name: str, backend: str = "smax"):
    """The mask-only scripted policy sized for ``map_name`` on ``backend``."""
    from robench.diagnose import MaskOnlyPolicy
    from robench.envs import make_env

    info = make_env(map_name, 1, backend).info()
    return MaskOnlyPolicy(info.obs_dim, info.n_agents, info.n_actions)


def recorded_path(path: Path) -> str:
    """A checkpoint's path as a cell records it: relative to the working directory when inside it
    (a store committed with a repository then names the repository's checkpoints wherever it is
    cloned), else as given."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def retrained_adversary(store, spec: dict[str, Any], victim, victim_manifest: dict[str, Any]) -> Path:
    """The adversary ``spec`` trained against ``victim`` under the grid's threat model at the map's
    ε, trained once and cached in the store."""
    from attacks.training import AttackTrainConfig, train_adversary
    from robench.store import cell_id

    aid = "adv-" + cell_id(spec)
    out = store.root / "adversaries" / aid
    with store.lock(aid):
        if not (out / "manifest.json").is_file():
            sweep_orphans(out.parent, aid)  # left by a killed trainer (we hold the lock)
            cfg = AttackTrainConfig(attack=spec["attack"], threat=ThreatModel.from_dict(spec["threat"]),
                                    steps=spec["steps"], seed=spec["seed"])
            train_adversary(cfg, victim, victim_manifest, out, overwrite=True)
    return out


LABELS = ("settings",)
"""Row labels a cell's metadata gained after cells were first stored; a finished cell planned
again gets them from its plan without being evaluated again."""


def finished_meta(store, cell: Cell) -> dict[str, Any]:
    """A finished cell's stored metadata, given any ``LABELS`` its plan has and it lacks."""
    meta = store.read_meta(cell.cid)
    missing = {k: cell.meta[k] for k in LABELS if k in cell.meta and k not in meta}
    return store.relabel(cell.cid, missing) if missing else meta


def run_grid(spec: GridSpec, on_cell: Callable[[dict[str, Any]], None] | None = None,
             cells: list[Cell] | None = None) -> list[dict[str, Any]]:
    """Run every unfinished cell of ``spec`` (finished ones are read back); return all metadata.

    ``cells`` = ``plan(spec)[0]`` when the caller has already planned the grid."""
    from robench.store import ResultStore

    if cells is None:
        cells, _ = plan(spec)
    if not cells:
        raise GridError(f"no protagonist checkpoints under {spec.checkpoints} match the filters")
    store = ResultStore(spec.results)
    todo = [c for c in cells if not store.done(c.cid)]
    metas = [finished_meta(store, c) for c in cells if store.done(c.cid)]
    for meta in metas:
        if on_cell:
            on_cell(meta)
    if todo:
        if spec.jobs > 1:
            os.environ.setdefault("ROBENCH_TORCH_THREADS", "1")  # inherited by the workers
        for meta in dispatch(run_cell, todo, spec.backend, spec.jobs, str(spec.results)):
            metas.append(meta)
            if on_cell:
                on_cell(meta)
    return metas


