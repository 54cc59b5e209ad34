"""PSI against an independent per-row implementation of docs/statistics.md, on counts binned from raw values.

The helpers here bin raw values exactly as docs/statistics.md says (numpy only, no driftd code), and are
shared by the JS, chi-square and property tests.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pytest

from detectors.psi import psi

RTOL, ATOL = 1e-9, 1e-12
FLOOR = 1e-4


# -- docs/statistics.md binning, from raw values ---------------------------------------------------------

def numeric_rows(pairs: Sequence[tuple[np.ndarray, np.ndarray]], bins: int = 10,
                 width: int | None = None) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Reference and window count rows for numeric features, and each row's real width.

    Inner edges are ``np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1))[1:-1])`` over the
    reference's non-missing values; a value goes to ``searchsorted(edges, v, "right") + 1``;
    NaN goes to column 0. Rows are zero-padded to ``width`` (default: the widest row).
    """
    rows_ref, rows_cur = [], []
    for ref, cur in pairs:
        ref, cur = np.asarray(ref, dtype=float), np.asarray(cur, dtype=float)
        present = ref[~np.isnan(ref)]
        edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1))[1:-1]) if present.size else np.array([])
        rows_ref.append(_count(ref, edges))
        rows_cur.append(_count(cur, edges))
    return _pad(rows_ref, rows_cur, width)


def _count(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    codes = np.where(np.isnan(values), 0, np.searchsorted(edges, values, side="right") + 1)
    return np.bincount(codes.astype(np.int64), minlength=edges.size + 2)


def categorical_rows(pairs: Sequence[tuple[Sequence[str | None], Sequence[str | None]]],
                     width: int | None = None) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Count rows for categorical features: missing, the reference's categories (sorted), unseen."""
    rows_ref, rows_cur = [], []
    for ref, cur in pairs:
        categories = sorted({v for v in ref if v is not None})
        index = {c: i + 1 for i, c in enumerate(categories)}
        unseen = len(categories) + 1

        def count(values: Sequence[str | None]) -> np.ndarray:
            codes = [0 if v is None else index.get(v, unseen) for v in values]
            return np.bincount(np.array(codes, dtype=np.int64), minlength=unseen + 1)

        rows_ref.append(count(ref))
        rows_cur.append(count(cur))
    return _pad(rows_ref, rows_cur, width)


def _pad(rows_ref: list[np.ndarray], rows_cur: list[np.ndarray], width: int | None
         ) -> tuple[np.ndarray, np.ndarray, list[int]]:
    widths = [r.size for r in rows_ref]
    full = max(widths) if width is None else width
    ref = np.zeros((len(rows_ref), full), dtype=np.int64)
    cur = np.zeros((len(rows_cur), full), dtype=np.int64)
    for i, (r, c) in enumerate(zip(rows_ref, rows_cur)):
        ref[i, : r.size] = r
        cur[i, : c.size] = c
    return ref, cur, widths


def mixed_pairs(seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Numeric features covering the shapes the contract cares about."""
    rng = np.random.default_rng(seed)
    with_missing = rng.normal(size=800)
    with_missing[rng.random(800) < 0.1] = np.nan
    shifted = rng.normal(0.4, 1.2, size=600)
    shifted[rng.random(600) < 0.3] = np.nan
    return [
        (rng.normal(size=2000), rng.normal(0.3, 1.0, size=700)),            # drift
        (rng.normal(size=2000), rng.normal(size=1500)),                     # none
        (rng.integers(0, 4, size=1000).astype(float), rng.integers(0, 6, size=400).astype(float)),  # ties
        (np.round(rng.normal(size=900), 1), np.round(rng.normal(0.2, 1, size=300), 1)),         # rounded
        (np.full(500, 3.0), rng.normal(3.0, 1.0, size=200)),                 # constant reference
        (np.full(500, 3.0), np.full(50, 3.0)),                               # constant both
        (with_missing, shifted),                                             # missing values
        (rng.normal(size=300), np.full(100, np.nan)),                        # all-missing window
        (rng.normal(size=300), np.array([0.5])),                             # one-value window
        (rng.exponential(size=1000), rng.exponential(3.0, size=1000)),       # empty value bins
        (rng.normal(size=50), rng.normal(10.0, 1.0, size=60)),               # all in the top bin
    ]


# -- the contract's PSI, per row ------------------------------------------------------------------

def contract_psi(ref_row: np.ndarray, cur_row: np.ndarray, floor: float = FLOOR) -> float:
    """docs/statistics.md: proportions over all bins, below 1e-4 raised to 1e-4, sum((c - r) ln(c / r))."""
    ref_row, cur_row = ref_row.astype(float), cur_row.astype(float)
    if ref_row.sum() == 0 or cur_row.sum() == 0:
        return float("nan")
    r = ref_row / ref_row.sum()
    c = cur_row / cur_row.sum()
    r[r < floor] = floor
    c[c < floor] = floor
    return float(np.sum((c - r) * np.log(c / r)))


def expected_psi(ref: np.ndarray, cur: np.ndarray, widths: list[int], floor: float = FLOOR) -> np.ndarray:
    return np.array([contract_psi(ref[i, :w], cur[i, :w], floor) for i, w in enumerate(widths)])


# -- tests ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_numeric_features_match_the_contract_definition(seed: int) -> None:
    ref, cur, widths = numeric_rows(mixed_pairs(seed))
    np.testing.assert_allclose(psi(ref, cur), expected_psi(ref, cur, widths), rtol=RTOL, atol=ATOL)


def test_padding_columns_change_nothing() -> None:
    pairs = mixed_pairs(3)
    ref, cur, widths = numeric_rows(pairs)
    wide_ref, wide_cur, _ = numeric_rows(pairs, width=ref.shape[1] + 7)
    np.testing.assert_allclose(psi(wide_ref, wide_cur), psi(ref, cur), rtol=1e-12, atol=0)
    np.testing.assert_allclose(psi(wide_ref, wide_cur), expected_psi(ref, cur, widths), rtol=RTOL, atol=ATOL)


def test_categorical_features_with_unseen_and_missing_categories() -> None:
    rng = np.random.default_rng(4)
    plans = np.array(["bronze", "silver", "gold"])
    ref_a = list(rng.choice(plans, size=500, p=[0.5, 0.3, 0.2]))
    cur_a = list(rng.choice(np.append(plans, "platinum"), size=300, p=[0.3, 0.3, 0.2, 0.2]))  # unseen
    ref_b: list[str | None] = [None, "x", "y", "y", "z"] * 40
    cur_b: list[str | None] = [None, None, "x", "w"] * 10  # missing share up, unseen "w"
    ref_c = ["a"] * 100  # one category
    cur_c = ["a"] * 10
    ref, cur, widths = categorical_rows([(ref_a, cur_a), (ref_b, cur_b), (ref_c, cur_c)])
    assert cur[0, widths[0] - 1] > 0 and ref[0, widths[0] - 1] == 0  # the unseen bin, window only
    got = psi(ref, cur)
    np.testing.assert_allclose(got, expected_psi(ref, cur, widths), rtol=RTOL, atol=ATOL)
    assert got[2] == 0.0


def test_rows_without_counts_are_nan_and_all_missing_rows_are_defined() -> None:
    ref = np.array([[0, 5, 5, 0], [3, 0, 0, 0], [0, 0, 0, 0], [10, 0, 0, 0]])
    cur = np.array([[0, 0, 0, 0], [0, 4, 1, 0], [0, 1, 1, 0], [7, 0, 0, 0]])
    got = psi(ref, cur)
    assert np.isnan(got[0]) and np.isnan(got[2])
    np.testing.assert_allclose(got[[1, 3]], [contract_psi(ref[1], cur[1]), 0.0], rtol=RTOL, atol=ATOL)


def test_identical_rows_give_zero() -> None:
    ref, _, _ = numeric_rows(mixed_pairs(5))
    assert np.all(psi(ref, ref)[ref.sum(axis=1) > 0] == 0.0)


def test_floor_is_a_parameter() -> None:
    ref, cur, widths = numeric_rows(mixed_pairs(6))
    np.testing.assert_allclose(psi(ref, cur, floor=1e-3), expected_psi(ref, cur, widths, floor=1e-3),
                               rtol=RTOL, atol=ATOL)


def test_a_vectorised_call_equals_row_by_row_calls() -> None:
    ref, cur, _ = numeric_rows(mixed_pairs(7))
    one_by_one = np.array([psi(ref[i : i + 1], cur[i : i + 1])[0] for i in range(ref.shape[0])])
    np.testing.assert_array_equal(psi(ref, cur), one_by_one)


def test_no_features_gives_an_empty_result() -> None:
    assert psi(np.zeros((0, 12), dtype=np.int64), np.zeros((0, 12), dtype=np.int64)).shape == (0,)


@pytest.mark.parametrize("floor", [0.0, -1.0, float("nan"), float("inf")])
def test_a_bad_floor_is_rejected_by_name(floor: float) -> None:
    with pytest.raises(ValueError, match="floor"):
        psi([[1, 2]], [[2, 1]], floor=floor)


def test_mismatched_or_negative_counts_are_rejected() -> None:
    with pytest.raises(ValueError, match="shape"):
        psi([[1, 2, 3]], [[1, 2]])
    with pytest.raises(ValueError, match="2-D"):
        psi([1, 2], [1, 2])
    with pytest.raises(ValueError, match="non-negative"):
        psi([[1, -2]], [[1, 2]])
