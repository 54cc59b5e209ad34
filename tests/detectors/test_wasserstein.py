"""Wasserstein distance against scipy.stats.wasserstein_distance divided by the reference's np.std."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from detectors.wasserstein import wasserstein

RTOL, ATOL = 1e-9, 1e-12


def scipy_rows(refs: list[np.ndarray], curs: list[np.ndarray]) -> np.ndarray:
    out = []
    for r, c in zip(refs, curs):
        if r.size == 0 or c.size == 0:
            out.append(np.nan)
            continue
        std = float(np.std(r))
        out.append(wasserstein_distance(r, c) / (std if std > 0 else 1.0))
    return np.array(out)


def assert_matches_scipy(refs: list[np.ndarray], curs: list[np.ndarray]) -> None:
    refs = [np.sort(r) for r in refs]
    std = np.array([np.std(r) if r.size else np.nan for r in refs])
    np.testing.assert_allclose(wasserstein(refs, curs, std), scipy_rows(refs, curs), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("sizes", [
    [(500, 300), (300, 500), (1, 7), (9, 1), (1, 1), (400, 400)],
    [(20_000, 5_000), (12_000, 12_000), (15_000, 1), (100_000, 100_000), (100_000, 37_123)],
])
@pytest.mark.parametrize("shift", [0.0, 0.3])
def test_continuous_samples_match_scipy(sizes: list[tuple[int, int]], shift: float) -> None:
    rng = np.random.default_rng(hash((tuple(sizes), shift)) % 2**32)
    refs = [rng.normal(5.0, 2.0, size=n1) for n1, _ in sizes]
    curs = [rng.normal(5.0 + shift, 2.5, size=n2) for _, n2 in sizes]
    assert_matches_scipy(refs, curs)


@pytest.mark.parametrize("n1, n2", [(400, 300), (300, 300), (30_000, 20_000)])
def test_tied_and_constant_samples_match_scipy(n1: int, n2: int) -> None:
    rng = np.random.default_rng(n1 * 7 + n2)
    refs = [rng.integers(0, 5, size=n1).astype(float), np.round(rng.normal(size=n1), 1),
            np.full(n1, 2.0), np.full(n1, 2.0), rng.integers(0, 3, size=n1).astype(float)]
    curs = [rng.integers(1, 7, size=n2).astype(float), np.round(rng.normal(0.1, 1.0, size=n2), 1),
            rng.choice([1.0, 2.0, 3.0], size=n2), np.full(n2, 2.0), np.full(n2, 9.0)]
    assert_matches_scipy(refs, curs)


def test_a_constant_or_unknown_spread_divides_by_one() -> None:
    ref = np.array([1.0, 1.0, 1.0])
    cur = np.array([2.0, 4.0])
    got = wasserstein([ref, ref, ref], [cur, cur, cur], np.array([0.0, np.nan, np.inf]))
    np.testing.assert_allclose(got, [2.0, 2.0, 2.0], rtol=RTOL)


def test_empty_samples_give_nan() -> None:
    got = wasserstein([np.array([]), np.array([1.0, 2.0]), np.array([])],
                      [np.array([1.0]), np.array([]), np.array([])], np.ones(3))
    assert np.isnan(got).all()


def test_identical_samples_give_zero() -> None:
    ref = np.sort(np.random.default_rng(3).normal(size=20_000))
    assert wasserstein([ref], [ref[::-1].copy()], [1.0])[0] == 0.0


def test_ref_std_must_have_one_value_per_feature() -> None:
    with pytest.raises(ValueError, match="ref_std"):
        wasserstein([np.array([1.0])], [np.array([1.0])], np.ones(2))
