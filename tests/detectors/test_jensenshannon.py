"""Jensen-Shannon distance against scipy.spatial.distance.jensenshannon(base=2) on each row's real bins."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon as scipy_jensenshannon

from detectors.jensenshannon import jensenshannon
from tests.detectors.test_psi import categorical_rows, mixed_pairs, numeric_rows

RTOL, ATOL = 1e-9, 1e-12


def scipy_rows(ref: np.ndarray, cur: np.ndarray, widths: list[int]) -> np.ndarray:
    out = []
    for i, w in enumerate(widths):
        if ref[i, :w].sum() == 0 or cur[i, :w].sum() == 0:
            out.append(np.nan)
        else:
            out.append(float(scipy_jensenshannon(ref[i, :w], cur[i, :w], base=2)))
    return np.array(out)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_numeric_features_match_scipy(seed: int) -> None:
    ref, cur, widths = numeric_rows(mixed_pairs(seed), width=16)
    np.testing.assert_allclose(jensenshannon(ref, cur), scipy_rows(ref, cur, widths), rtol=RTOL, atol=ATOL)


def test_categorical_features_with_unseen_categories_match_scipy() -> None:
    rng = np.random.default_rng(11)
    ref_a = list(rng.choice(["a", "b", "c"], size=400))
    cur_a = list(rng.choice(["a", "b", "c", "d", "e"], size=100))
    ref_b: list[str | None] = ["x"] * 30 + [None] * 5
    cur_b: list[str | None] = ["y"] * 7  # all unseen
    ref, cur, widths = categorical_rows([(ref_a, cur_a), (ref_b, cur_b)], width=9)
    np.testing.assert_allclose(jensenshannon(ref, cur), scipy_rows(ref, cur, widths), rtol=RTOL, atol=ATOL)


def test_empty_rows_are_nan_identical_rows_zero_disjoint_rows_one() -> None:
    ref = np.array([[0, 3, 4, 0], [2, 3, 4, 0], [0, 0, 0, 0], [5, 0, 0, 0]])
    cur = np.array([[0, 0, 0, 0], [4, 6, 8, 0], [1, 0, 0, 0], [0, 3, 1, 0]])
    got = jensenshannon(ref, cur)
    assert np.isnan(got[0]) and np.isnan(got[2])
    assert got[1] == 0.0 and got[3] == 1.0


def test_padding_columns_change_nothing() -> None:
    pairs = mixed_pairs(4)
    ref, cur, _ = numeric_rows(pairs)
    wide_ref, wide_cur, _ = numeric_rows(pairs, width=ref.shape[1] + 5)
    np.testing.assert_allclose(jensenshannon(wide_ref, wide_cur), jensenshannon(ref, cur), rtol=1e-12, atol=1e-15)


def test_a_vectorised_call_equals_row_by_row_calls() -> None:
    ref, cur, _ = numeric_rows(mixed_pairs(5))
    one_by_one = np.array([jensenshannon(ref[i : i + 1], cur[i : i + 1])[0] for i in range(ref.shape[0])])
    np.testing.assert_array_equal(jensenshannon(ref, cur), one_by_one)
