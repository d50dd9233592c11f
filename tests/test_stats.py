import numpy as np
import pytest
from scipy import stats as sps

from robench.stats import bootstrap_ci, eps_auc, holm, mean_std, ranksum_greater, worst_case


def test_mean_std_is_population_std():
    x = np.array([0.99, 0.23, 0.0, 0.02, 0.0, 0.0])
    m, s = mean_std(x)
    assert m == pytest.approx(np.mean(x)) and s == pytest.approx(np.std(x, ddof=0))
    assert s != pytest.approx(np.std(x, ddof=1))


def test_ranksum_matches_scipy_and_direction():
    a, b = np.array([5.0, 6, 7, 8, 9]), np.array([1.0, 2, 3, 4, 5.5])
    # an independent computation: the Mann–Whitney U test's normal approximation without continuity
    # correction is the rank-sum z-test (no ties in continuous samples)
    independent = sps.mannwhitneyu(a, b, alternative="greater", method="asymptotic", use_continuity=False).pvalue
    assert ranksum_greater(a, b) == pytest.approx(independent, rel=1e-9)
    assert ranksum_greater(a, b) < 0.05 < ranksum_greater(b, a)


def test_holm_known_values():
    p = np.array([0.01, 0.04, 0.03, 0.2])
    # sorted 0.01, 0.03, 0.04, 0.2 → ×4, ×3, ×2, ×1 with running max
    assert np.allclose(holm(p), [0.04, 0.09, 0.09, 0.2])


def test_bootstrap_ci_brackets_mean_and_is_seeded():
    x = np.random.default_rng(1).normal(3, 1, size=400)
    lo, hi = bootstrap_ci(x, seed=7)
    assert lo < x.mean() < hi and hi - lo < 0.5
    assert (lo, hi) == bootstrap_ci(x, seed=7)


def test_worst_case_and_auc():
    assert worst_case(np.array([0.3, 0.1, 0.9])) == 0.1
    assert eps_auc(np.array([0.05, 0.25, 0.15]), np.array([1.0, 0.0, 0.5])) == pytest.approx(0.5)
    assert eps_auc(np.array([0.1]), np.array([0.7])) == 0.7


def test_wilson_interval_matches_scipys_binomtest():
    from robench.evaluate import wilson_interval

    for k, n in ((0, 10), (3, 10), (250, 500), (500, 500), (1, 1)):
        ci = sps.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        lo, hi = wilson_interval(k, n)
        assert lo == pytest.approx(ci.low, abs=1e-4) and hi == pytest.approx(ci.high, abs=1e-4), (k, n)
