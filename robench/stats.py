"""Statistics on evaluation results: small pure functions on arrays (rliable style).

Shapes are stated per function.  Conventions from the paper's tables (docs/methods.md):
AVG over attack columns is mean ± *population* std (ddof = 0); significance is a one-sided
Wilcoxon rank-sum test (``scipy.stats.ranksums``, alternative "greater") of a reference row
against each other row, on a stated unit (per-attack cell values, per-episode outcomes, or
per-seed values).

Beyond the paper (Agarwal et al., NeurIPS 2021, "Deep RL at the edge of the statistical
precipice"), on a score matrix X [n seeds × m tasks] whose replication unit is the training
seed: the interquartile mean and the probability of improvement are rliable's own functions
(``rliable.metrics``, called directly); the stratified bootstrap resamples seeds with
replacement within each task, as rliable's ``StratifiedBootstrap`` does (its ``library``
module needs ``arch``, whose releases rliable accepts do not import under pandas 3, so the
resampling is written here); small n also gets the t-interval.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from rliable import metrics as rly
from scipy import stats as sps


def mean_std(x: np.ndarray) -> tuple[float, float]:
    """Mean and population std (ddof = 0) of a 1-D array — the paper's "AVG ± std"."""
    x = np.asarray(x, dtype=float)
    return float(x.mean()), float(x.std(ddof=0))


def ranksum_greater(ref: np.ndarray, other: np.ndarray) -> float:
    """One-sided Wilcoxon rank-sum p-value for H1: ``ref`` tends to be larger than ``other``."""
    return float(sps.ranksums(np.asarray(ref, float), np.asarray(other, float), alternative="greater").pvalue)


def welch_greater(a: np.ndarray, b: np.ndarray) -> float | None:
    """One-sided Welch t-test p-value of mean(a) > mean(b) (unequal variances; ``scipy.stats.ttest_ind``
    with ``equal_var=False``); None where either sample has fewer than two values or both are
    constant (no test exists)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or len(b) < 2 or (a.var() == 0 and b.var() == 0):
        return None
    return float(sps.ttest_ind(a, b, equal_var=False, alternative="greater").pvalue)


def holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm–Bonferroni step-down adjusted p-values [K] for K tests (monotone, capped at 1)."""
    p = np.asarray(pvalues, dtype=float)
    k = p.size
    order = np.argsort(p)
    adjusted = np.empty(k)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (k - rank) * p[i])
        adjusted[i] = min(1.0, running)
    return adjusted


def bootstrap_ci(x: np.ndarray, n_boot: int = 2000, alpha: float = 0.05, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap (1 − α) interval of the mean of a 1-D sample, seeded."""
    x = np.asarray(x, dtype=float)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    return float(np.quantile(means, alpha / 2)), float(np.quantile(means, 1 - alpha / 2))


def worst_case(values: np.ndarray) -> float:
    """Robustness as the minimum over attack columns."""
    return float(np.min(values))


def eps_auc(eps: np.ndarray, values: np.ndarray) -> float:
    """Area under the metric-vs-ε curve (trapezoid), normalised by the ε span: a mean level."""
    eps, values = np.asarray(eps, float), np.asarray(values, float)
    order = np.argsort(eps)
    eps, values = eps[order], values[order]
    if eps.size == 1:
        return float(values[0])
    return float(np.trapezoid(values, eps) / (eps[-1] - eps[0]))


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean of all entries of X [n, m] (the 25 % trimmed mean): ``rliable.metrics.aggregate_iqm``."""
    return float(rly.aggregate_iqm(np.asarray(scores, dtype=float)))


def aggregate_mean(scores: np.ndarray) -> float:
    """Mean over tasks of the per-task mean over seeds: ``rliable.metrics.aggregate_mean``."""
    return float(rly.aggregate_mean(np.asarray(scores, dtype=float)))


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y) = mean over tasks m of the Mann–Whitney probability that a seed of X beats a seed
    of Y on task m (ties count ½); X [n_x, m], Y [n_y, m]: ``rliable.metrics.probability_of_improvement``."""
    return float(rly.probability_of_improvement(np.asarray(x, dtype=float), np.asarray(y, dtype=float)))


def stratified_bootstrap_ci(scores: np.ndarray, statistic: Callable[[np.ndarray], Any], reps: int = 2000,
                            alpha: float = 0.05, seed: int = 0) -> tuple[Any, Any] | None:
    """Percentile (1 − α) interval of ``statistic`` over ``reps`` stratified bootstrap replicates of
    X [n, m]: each replicate draws n seeds with replacement *within every task* independently.
    A statistic returning an array [k] (a whole profile) gets one interval per entry, as two
    arrays, from the same replicates.  None when n < 2 (one seed: no seed interval exists)."""
    x = np.asarray(scores, dtype=float)
    n, m = x.shape
    if n < 2:
        return None
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, n, size=(reps, n, m))
    replicates = np.array([statistic(np.take_along_axis(x, r, axis=0)) for r in rows])
    low, high = np.quantile(replicates, alpha / 2, axis=0), np.quantile(replicates, 1 - alpha / 2, axis=0)
    return (float(low), float(high)) if replicates.ndim == 1 else (low, high)


def t_interval(x: np.ndarray, alpha: float = 0.05) -> tuple[float, float] | None:
    """Student-t (1 − α) interval of the mean of n seed values, x̄ ± t_{1−α/2, n−1} s / √n (s with
    ddof = 1).  None when n < 2."""
    x = np.asarray(x, dtype=float)
    if x.size < 2:
        return None
    half = float(sps.t.ppf(1 - alpha / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return float(x.mean()) - half, float(x.mean()) + half


def robustness_profile(scores: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """For each threshold τ, the share of (seed, cell) entries of X [n, m] above τ — rliable's run-score
    distribution with the (attack, ε) cells as tasks: F(τ) = 1/(n m) Σ 1[X_ij > τ]; shape [len(taus)]."""
    x = np.asarray(scores, dtype=float)
    return (x[..., None] > np.asarray(taus, dtype=float)).mean(axis=(0, 1))
