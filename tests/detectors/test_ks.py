"""KS statistic and p-value against scipy.stats.ks_2samp, on both sides of its exact/asymptotic switch."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.stats import kstwo, ks_2samp

from detectors._kstwo import kstwo_sf
from detectors.ks import MAX_EXACT_N, ks, ks_wasserstein
from detectors.wasserstein import wasserstein

RTOL, ATOL = 1e-9, 1e-12


def scipy_ks(refs: list[np.ndarray], curs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    stats, pvalues = [], []
    for r, c in zip(refs, curs):
        if r.size == 0 or c.size == 0:
            stats.append(np.nan)
            pvalues.append(np.nan)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            result = ks_2samp(r, c)
        stats.append(float(result.statistic))
        pvalues.append(float(result.pvalue))
    return np.array(stats), np.array(pvalues)


def assert_matches_scipy(refs: list[np.ndarray], curs: list[np.ndarray]) -> None:
    refs = [np.sort(r) for r in refs]
    stat, pvalue = ks(refs, curs)
    want_stat, want_p = scipy_ks(refs, curs)
    np.testing.assert_allclose(stat, want_stat, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(pvalue, want_p, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("sizes", [
    [(500, 300), (300, 500), (1, 7), (9, 1), (MAX_EXACT_N, MAX_EXACT_N)],         # exact
    [(MAX_EXACT_N + 1, 50), (30, MAX_EXACT_N + 1), (20_000, 5_000), (12_000, 12_000), (15_000, 1)],  # asymptotic
    [(100_000, 100_000), (100_000, 37_123)],                                         # driftd's defaults
])
@pytest.mark.parametrize("shift", [0.0, 0.02, 0.3])
def test_continuous_samples_match_scipy(sizes: list[tuple[int, int]], shift: float) -> None:
    rng = np.random.default_rng(hash((tuple(sizes), shift)) % 2**32)
    refs = [rng.normal(size=n1) for n1, _ in sizes]
    curs = [rng.normal(shift, 1.0, size=n2) for _, n2 in sizes]
    assert_matches_scipy(refs, curs)


@pytest.mark.parametrize("n1, n2", [(400, 300), (30_000, 20_000), (20_000, 20_000)])
def test_tied_samples_match_scipy(n1: int, n2: int) -> None:
    rng = np.random.default_rng(n1 + n2)
    refs = [rng.integers(0, 5, size=n1).astype(float),                    # heavy ties, both sides
            np.round(rng.normal(size=n1), 1),                             # rounded values
            np.full(n1, 2.0),                                             # constant reference
            np.full(n1, 2.0),                                             # constant both
            rng.integers(0, 3, size=n1).astype(float)]
    curs = [rng.integers(1, 7, size=n2).astype(float),
            np.round(rng.normal(0.1, 1.0, size=n2), 1),
            rng.choice([1.0, 2.0, 3.0], size=n2),
            np.full(n2, 2.0),
            np.full(n2, 1.0)]                                             # disjoint: D = 1
    assert_matches_scipy(refs, curs)


def test_empty_samples_give_nan_and_the_others_are_unaffected() -> None:
    rng = np.random.default_rng(5)
    refs = [np.sort(rng.normal(size=50)), np.array([]), np.sort(rng.normal(size=20_000)), np.array([])]
    curs = [np.array([]), rng.normal(size=10), rng.normal(size=15_000), np.array([])]
    stat, pvalue = ks(refs, curs)
    assert np.isnan(stat[[0, 1, 3]]).all() and np.isnan(pvalue[[0, 1, 3]]).all()
    want_stat, want_p = scipy_ks(refs[2:3], curs[2:3])
    np.testing.assert_allclose([stat[2], pvalue[2]], [want_stat[0], want_p[0]], rtol=RTOL, atol=ATOL)


def test_nan_propagates_like_scipy() -> None:
    ref = np.sort(np.random.default_rng(6).normal(size=20_000))
    stat, pvalue = ks([ref, ref], [np.array([0.0, np.nan] * 6000), np.array([0.0, np.nan])])
    assert np.isnan(stat).all() and np.isnan(pvalue).all()
    assert np.isnan(ks_2samp(ref, np.array([0.0, np.nan])).pvalue)


def test_ks_wasserstein_equals_the_separate_functions() -> None:
    rng = np.random.default_rng(8)
    refs = [np.sort(rng.normal(size=n)) for n in (30_000, 800, 30_000, 0)]
    curs = [rng.normal(0.1, 1, size=n) for n in (25_000, 300, 30_000, 5)]
    std = np.array([np.std(r) if r.size else np.nan for r in refs])
    stat, pvalue, dist = ks_wasserstein(refs, curs, std)
    np.testing.assert_array_equal(stat, ks(refs, curs)[0])
    np.testing.assert_array_equal(pvalue, ks(refs, curs)[1])
    np.testing.assert_array_equal(dist, wasserstein(refs, curs, std))


def test_accepts_twenty_features_of_100k_values() -> None:
    rng = np.random.default_rng(9)
    refs = [np.sort(rng.normal(size=100_000)) for _ in range(20)]
    curs = [rng.normal(0.01 * i, 1.0, size=100_000) for i in range(20)]
    stat, pvalue, dist = ks_wasserstein(refs, curs, np.array([np.std(r) for r in refs]))
    assert stat.shape == pvalue.shape == dist.shape == (20,)
    assert np.all((0 <= stat) & (stat <= 1)) and np.all((0 <= pvalue) & (pvalue <= 1)) and np.all(dist >= 0)
    want_stat, want_p = scipy_ks(refs[:2], curs[:2])
    np.testing.assert_allclose(stat[:2], want_stat, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(pvalue[:2], want_p, rtol=RTOL, atol=ATOL)


def test_unsorted_reference_and_mismatched_features_are_rejected() -> None:
    with pytest.raises(ValueError, match="sorted"):
        ks([np.array([3.0, 1.0, 2.0])], [np.array([1.0])])
    with pytest.raises(ValueError, match="features"):
        ks([np.array([1.0])], [np.array([1.0]), np.array([2.0])])


# -- the asymptotic p-value, branch by branch ---------------------------------------------------

@pytest.mark.parametrize("n", [1, 50, 140, 141, 1_000, 5_000, 20_000, 50_000, 100_000, 100_001, 400_000])
def test_kstwo_sf_matches_scipy_on_every_branch(n: int) -> None:
    # From below 1/(2n) (sf 1) through the Durbin, Pelz-Good and Smirnov ranges to sf 0.
    points = 60 if n <= 20_000 else 16  # scipy's own smirnov() is slow for large n
    ds = np.concatenate([np.geomspace(0.2 / n, 0.999, points), [0.0, 1.0, 0.5, 1.0 / n, 2.0 / n, 331.0 / n]])
    ds = ds[(ds >= 0) & (ds <= 1)]
    got = np.array([kstwo_sf(float(d), n) for d in ds])
    want = np.array([float(kstwo.sf(d, n)) for d in ds])
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-300)
