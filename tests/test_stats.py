"""rftlib.stats: intervals against published and reference values, coverage, bootstrap determinism."""
import math

import numpy as np
import pytest
from scipy.stats import binomtest

from rftlib import stats
from rftlib.core.errors import RftError

# Newcombe (Statistics in Medicine 1998, 17:857), Table II: Wilson score intervals without continuity
# correction for his four examples, to 4 decimals.
NEWCOMBE_WILSON = [((81, 263), (0.2553, 0.3662)), ((15, 148), (0.0624, 0.1605)),
                   ((0, 20), (0.0000, 0.1611)), ((1, 29), (0.0061, 0.1718))]


@pytest.mark.parametrize(("counts", "expected"), NEWCOMBE_WILSON)
def test_wilson_matches_published_values(counts, expected):
    low, high = stats.wilson_interval(*counts)
    assert (round(low, 4), round(high, 4)) == expected


def test_wilson_matches_scipy_and_vectorises():
    k, n = np.array([0, 3, 50, 249, 250]), np.array([250, 250, 250, 250, 250])
    low, high = stats.wilson_interval(k, n, confidence=0.9)
    for i in range(len(k)):
        ref = binomtest(int(k[i]), int(n[i])).proportion_ci(confidence_level=0.9, method="wilson")
        assert low[i] == pytest.approx(ref.low, abs=1e-12) and high[i] == pytest.approx(ref.high, abs=1e-12)
    assert low[0] == 0.0 and high[-1] == 1.0
    assert all(math.isnan(v) for v in stats.wilson_interval(0, 0))
    with pytest.raises(RftError, match="0 <= k <= n"):
        stats.wilson_interval(5, 3)
    with pytest.raises(RftError, match="confidence"):
        stats.wilson_interval(1, 3, confidence=95)


def test_paired_interval_is_narrower_than_unpaired_and_reduces_to_it_without_correlation():
    rng = np.random.default_rng(0)
    first = rng.random(300) < 0.7
    second = first.copy()
    flip = rng.choice(300, 30, replace=False)
    second[flip] = ~second[flip]  # the same model 30 points later: strongly correlated outcomes
    diff, low, high = stats.paired_difference_interval(first, second)
    cdiff, clow, chigh = stats.difference_interval_from_counts(first.sum(), second.sum(), 300)
    assert diff == pytest.approx(cdiff) and low < diff < high and clow < low and high < chigh
    # Two independent halves: the correlation is ~0 and the two intervals nearly agree.
    a, b = rng.random(2000) < 0.6, rng.random(2000) < 0.5
    paired, counts = stats.paired_difference_interval(a, b), stats.difference_interval_from_counts(a.sum(), b.sum(), 2000)
    assert np.allclose(paired, counts, atol=2e-3)
    # Identical outcomes: a difference of exactly 0 with a non-empty interval around it.
    d, lo, hi = stats.paired_difference_interval(first, first)
    assert d == 0 and lo < 0 < hi


def test_paired_interval_covers_the_true_difference_about_95_percent_of_the_time():
    # Paired outcomes with known marginals 0.80 and 0.75 (true difference 0.05), n = 250.
    rng = np.random.default_rng(1)
    covered = 0
    trials = 400
    for _ in range(trials):
        u = rng.random(250)
        first, second = u < 0.80, (u < 0.70) | ((u >= 0.80) & (u < 0.85))
        _, low, high = stats.paired_difference_interval(first, second)
        covered += low <= 0.05 <= high
    # Seeds 1-6 gave 0.94-0.965; the unpaired interval (correlation ignored) covers 99%, so it fails here.
    assert 0.92 <= covered / trials <= 0.98, covered / trials


def test_mean_interval_is_a_student_t_interval():
    mean, low, high, n = stats.mean_interval([0.5, 0.6, 0.7, float("nan")])
    assert (mean, n) == (pytest.approx(0.6), 3)
    assert high - mean == pytest.approx(4.302652729911275 * 0.1 / math.sqrt(3))  # t_{0.975, 2} = 4.3027
    mean, low, high, n = stats.mean_interval([0.4])
    assert mean == 0.4 and n == 1 and math.isnan(low) and math.isnan(high)


def test_bootstrap_is_deterministic_given_its_seed():
    draw = lambda seed: stats.resample_indices(stats.bootstrap_rng(seed), 50, 20)  # noqa: E731
    assert np.array_equal(draw(3), draw(3)) and not np.array_equal(draw(3), draw(4))
    samples = np.random.default_rng(0).normal(size=10_000)
    low, high = stats.percentile_interval(samples)
    assert low == pytest.approx(-1.96, abs=0.06) and high == pytest.approx(1.96, abs=0.06)
    with pytest.raises(RftError, match="non-negative integer"):
        stats.bootstrap_rng(-1)
