"""The score matrix: the one input of every seed-level statistic.

For one metric under one threat model, each row (env, learner, defense[variant]) owns a matrix
X [n seeds × m cells] whose columns are the attacked (attack, ε) cells and whose rows are the
training seeds — the replication unit of every interval (``robench.stats``).  The clean column
(attack ``none``) is kept apart: it is the x axis of the clean-vs-robust trade-off, not a task of
the robustness statistics.  Evaluation seeds of one cell are averaged first; episode-level
outcomes stay in the results store for the paper's per-episode test.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from attacks import CLEAN
from robench.errors import RobenchError

ROW = ["env", "learner", "defense"]


@dataclass
class ScoreMatrix:
    """``tidy``: one line per (env, learner, defense, seed, attack, ε) with its ``value``."""

    metric: str
    bounds: str
    tidy: pd.DataFrame

    def rows(self) -> list[tuple[str, str, str]]:
        return sorted(set(map(tuple, self.tidy[ROW].drop_duplicates().to_numpy())))

    def seeds(self, row: tuple[str, str, str]) -> list[int]:
        return sorted(self._of(row).seed.unique().tolist())

    def _of(self, row: tuple[str, str, str]) -> pd.DataFrame:
        t = self.tidy
        return t[(t.env == row[0]) & (t.learner == row[1]) & (t.defense == row[2])]

    def attacked_frame(self, row: tuple[str, str, str]) -> pd.DataFrame:
        """Seeds (index) × the attacked (attack, ε) cells every seed has (columns)."""
        g = self._of(row)
        return g[g.attack != CLEAN].pivot_table(index="seed", columns=["attack", "eps"], values="value").dropna(axis=1)

    def attacked(self, row: tuple[str, str, str]) -> tuple[np.ndarray, list[tuple[str, float]]]:
        """(X [n seeds, m cells], the cells as (attack, ε)): ``attacked_frame`` as an array."""
        wide = self.attacked_frame(row)
        return wide.to_numpy(), [(a, float(e)) for a, e in wide.columns]

    def clean(self, row: tuple[str, str, str]) -> pd.Series:
        """Clean score per seed (NaN-free; empty without clean cells)."""
        g = self._of(row)
        return g[g.attack == CLEAN].groupby("seed").value.mean()


def score_matrix(cells: pd.DataFrame, metric: str = "win_rate") -> ScoreMatrix:
    """The score matrix of ``cells`` (rows of ``robench.store.load_cells`` after ``variant_rows``)
    for ``metric``; cells of two threat models are refused."""
    bounds = cells["bounds"].fillna("features").unique() if "bounds" in cells.columns else np.array(["features"])
    if len(bounds) > 1:
        raise RobenchError(f"a score matrix holds one threat model; these cells have bounds {', '.join(sorted(bounds))}")
    if metric not in cells.columns:
        raise RobenchError(f"no {metric!r} in these cells")
    tidy = (cells.dropna(subset=[metric]).groupby(ROW + ["seed", "attack", "eps"], as_index=False)[metric].mean()
            .rename(columns={metric: "value"}))
    tidy["eps"] = np.where(tidy.attack == CLEAN, 0.0, tidy.eps.astype(float))
    return ScoreMatrix(metric=metric, bounds=str(bounds[0]) if len(bounds) else "features", tidy=tidy)


def _interval(ci: tuple[float, float] | None) -> tuple[float, float]:
    return (np.nan, np.nan) if ci is None else ci


def seed_summary(matrix: ScoreMatrix, reference: str | None = None, reps: int = 2000, alpha: float = 0.05,
                 seed: int = 0) -> pd.DataFrame:
    """Per row, with training seeds as the unit: n seeds; the clean score's mean and t-interval;
    over the attacked cells the mean, the IQM and the worst case (min over cells of the seed
    mean), each with a stratified-bootstrap (1 − α) interval; and the probability that the
    ``reference`` defense of the same (env, learner) improves on the row (rliable's P(X > Y) over
    the cells both rows have).  Intervals are NaN with one seed: none exists."""
    from robench.stats import aggregate_mean, iqm, probability_of_improvement, stratified_bootstrap_ci, t_interval

    def worst(x: np.ndarray) -> float:
        return float(x.mean(axis=0).min())

    out = []
    for row in matrix.rows():
        x, cells = matrix.attacked(row)
        clean = matrix.clean(row)
        entry: dict[str, object] = dict(zip(ROW, row))
        entry["n_seeds"] = len(matrix.seeds(row))
        entry["n_cells"] = len(cells)
        entry["clean"] = float(clean.mean()) if len(clean) else np.nan
        entry["clean_low"], entry["clean_high"] = _interval(t_interval(clean.to_numpy(), alpha))
        for name, stat in (("mean", aggregate_mean), ("iqm", iqm), ("worst_case", worst)):
            entry[name] = stat(x) if x.size else np.nan
            ci = stratified_bootstrap_ci(x, stat, reps, alpha, seed) if x.size else None
            entry[f"{name}_low"], entry[f"{name}_high"] = _interval(ci)
        entry["p_improvement_by_reference"] = np.nan
        if reference is not None and row[2] != reference and (row[0], row[1], reference) in matrix.rows():
            ref_x, ref_cells = matrix.attacked((row[0], row[1], reference))
            shared = [c for c in cells if c in ref_cells]
            if shared:
                pick = lambda arr, have: arr[:, [have.index(c) for c in shared]]  # noqa: E731
                entry["p_improvement_by_reference"] = probability_of_improvement(pick(ref_x, ref_cells), pick(x, cells))
        out.append(entry)
    return pd.DataFrame(out)
