"""Statistics on evaluation results: small pure functions on arrays (rliable style).

Shapes are stated per function.  Conventions from the paper's tables (docs/methods.md):
AVG over attack columns is mean ± *population* std (ddof = 0); significance is a one-sided
Wilcoxon rank-sum test (``scipy.stats.ranksums``, alternative "greater") of a reference row
against each other row, on a stated unit (per-attack cell values, per-episode outcomes, or
per-seed values).
"""
from __future__ import annotations

import numpy as np
from scipy import stats as sps


def mean_std(x: np.ndarray) -> tuple[float, float]:
    """Mean and population std (ddof = 0) of a 1-D array — the paper's "AVG ± std"."""
    x = np.asarray(x, dtype=float)
    return float(x.mean()), float(x.std(ddof=0))


def ranksum_greater(ref: np.ndarray, other: np.ndarray) -> float:
    """One-sided Wilcoxon rank-sum p-value for H1: ``ref`` tends to be larger than ``other``."""
    return float(sps.ranksums(np.asarray(ref, float), np.asarray(other, float), alternative="greater").pvalue)


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
