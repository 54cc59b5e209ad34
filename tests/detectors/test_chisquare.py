"""Chi-square contingency test against scipy.stats.chi2_contingency on each row's non-empty bins."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pytest
from scipy.stats import chi2_contingency

from detectors.chisquare import chisquare
from tests.detectors.test_psi import categorical_rows, mixed_pairs, numeric_rows

RTOL, ATOL = 1e-9, 1e-12


def scipy_rows(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    stats, pvalues = [], []
    for r, c in zip(ref, cur):
        if r.sum() == 0 or c.sum() == 0:
            stats.append(np.nan)
            pvalues.append(np.nan)
            continue
        table = np.vstack([r, c])
        result = chi2_contingency(table[:, table.sum(axis=0) > 0])
        stats.append(float(result.statistic))
        pvalues.append(float(result.pvalue))
    return np.array(stats), np.array(pvalues)


def assert_matches_scipy(ref: np.ndarray, cur: np.ndarray) -> None:
    stat, pvalue = chisquare(ref, cur)
    want_stat, want_p = scipy_rows(ref, cur)
    np.testing.assert_allclose(stat, want_stat, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(pvalue, want_p, rtol=RTOL, atol=ATOL)


def test_categorical_features_match_scipy() -> None:
    rng = np.random.default_rng(21)
    cats = np.array(["a", "b", "c", "d", "e", "f"])
    pairs: list[tuple[Sequence[str | None], Sequence[str | None]]] = [
        (list(rng.choice(cats, size=2000)), list(rng.choice(cats, size=600))),                  # no drift
        (list(rng.choice(cats, size=2000, p=[0.5, 0.2, 0.1, 0.1, 0.05, 0.05])),
         list(rng.choice(np.append(cats, ["g", "h"]), size=300))),                             # drift, unseen
        ([None] * 20 + ["a"] * 80, [None] * 40 + ["a"] * 10),                                  # 1 dof: Yates
        (["a"] * 50 + ["b"] * 50, ["a"] * 50 + ["b"] * 50),                                     # 1 dof, equal
        (["a"] * 100, ["a"] * 3),                                                               # 0 dof
        (["a"] * 30 + ["b"] * 3, ["b"] * 2),                                                    # small counts
        (["a"] * 30, ["zzz"]),                                                                  # one-value window
    ]
    ref, cur, _ = categorical_rows(pairs, width=12)
    assert_matches_scipy(ref, cur)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_numeric_bins_match_scipy(seed: int) -> None:
    ref, cur, _ = numeric_rows(mixed_pairs(seed), width=14)
    assert_matches_scipy(ref, cur)


def test_degrees_of_freedom_edge_cases() -> None:
    ref = np.array([[0, 40, 0, 0], [0, 40, 60, 0], [0, 5, 0, 0], [3, 0, 0, 0], [0, 1, 1, 0]])
    cur = np.array([[0, 10, 0, 0], [0, 30, 20, 0], [0, 0, 5, 0], [0, 0, 0, 0], [0, 1, 1, 0]])
    stat, pvalue = chisquare(ref, cur)
    assert (stat[0], pvalue[0]) == (0.0, 1.0)  # one kept bin: scipy's degenerate case
    assert np.isnan(stat[3]) and np.isnan(pvalue[3])
    assert_matches_scipy(ref[[0, 1, 2, 4]], cur[[0, 1, 2, 4]])


def test_padding_columns_change_nothing() -> None:
    pairs = mixed_pairs(8)
    ref, cur, _ = numeric_rows(pairs)
    wide_ref, wide_cur, _ = numeric_rows(pairs, width=ref.shape[1] + 6)
    for a, b in zip(chisquare(wide_ref, wide_cur), chisquare(ref, cur)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-300)


def test_no_features_gives_empty_results() -> None:
    stat, pvalue = chisquare(np.zeros((0, 5), dtype=np.int64), np.zeros((0, 5), dtype=np.int64))
    assert stat.shape == pvalue.shape == (0,)
