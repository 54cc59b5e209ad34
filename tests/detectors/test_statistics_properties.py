"""Properties every statistic keeps on arbitrary inputs (hypothesis), checked against scipy where it defines them."""

from __future__ import annotations

import warnings

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import ks_2samp, wasserstein_distance

from detectors.chisquare import chisquare
from detectors.jensenshannon import jensenshannon
from detectors.ks import ks, ks_wasserstein
from detectors.psi import psi
from detectors.wasserstein import wasserstein

SETTINGS = settings(max_examples=100, deadline=None)


@st.composite
def count_pairs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Reference and window count matrices (features x bins); rows may be empty, bins may be empty."""
    features = draw(st.integers(1, 6))
    bins = draw(st.integers(1, 9))
    counts = st.integers(0, 60) | st.just(0)
    ref = draw(arrays(np.int64, (features, bins), elements=counts))
    cur = draw(arrays(np.int64, (features, bins), elements=counts))
    return ref, cur


@st.composite
def sample_pairs(draw: st.DrawFn) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per-feature samples, often tied (small integers) or tiny, sometimes empty."""
    features = draw(st.integers(1, 4))
    values = st.integers(-3, 3).map(float) | st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
    refs, curs = [], []
    for _ in range(features):
        refs.append(np.sort(np.array(draw(st.lists(values, max_size=40)), dtype=float)))
        curs.append(np.array(draw(st.lists(values, max_size=40)), dtype=float))
    return refs, curs


def permute(data: st.DataObject, n: int) -> np.ndarray:
    return np.array(data.draw(st.permutations(range(n))), dtype=np.int64)


# -- binned statistics ---------------------------------------------------------------------------

@SETTINGS
@given(count_pairs())
def test_psi_is_non_negative_and_zero_on_identical_rows(pair: tuple[np.ndarray, np.ndarray]) -> None:
    ref, cur = pair
    value = psi(ref, cur)
    defined = (ref.sum(axis=1) > 0) & (cur.sum(axis=1) > 0)
    assert np.all(value[defined] >= 0) and np.isnan(value[~defined]).all()
    same = psi(ref, ref)
    assert np.all(same[ref.sum(axis=1) > 0] == 0.0)


@SETTINGS
@given(count_pairs())
def test_jensenshannon_is_within_0_and_1(pair: tuple[np.ndarray, np.ndarray]) -> None:
    ref, cur = pair
    value = jensenshannon(ref, cur)
    defined = (ref.sum(axis=1) > 0) & (cur.sum(axis=1) > 0)
    assert np.all((value[defined] >= 0) & (value[defined] <= 1))
    assert np.all(jensenshannon(ref, ref)[ref.sum(axis=1) > 0] == 0.0)


@SETTINGS
@given(count_pairs())
def test_chisquare_pvalue_is_a_probability(pair: tuple[np.ndarray, np.ndarray]) -> None:
    ref, cur = pair
    stat, pvalue = chisquare(ref, cur)
    defined = (ref.sum(axis=1) > 0) & (cur.sum(axis=1) > 0)
    assert np.all((pvalue[defined] >= 0) & (pvalue[defined] <= 1)) and np.all(stat[defined] >= 0)
    assert np.isnan(pvalue[~defined]).all() and np.isnan(stat[~defined]).all()


@SETTINGS
@given(count_pairs(), st.data())
def test_binned_statistics_follow_their_rows(pair: tuple[np.ndarray, np.ndarray], data: st.DataObject) -> None:
    ref, cur = pair
    order = permute(data, ref.shape[0])
    for fn in (psi, jensenshannon):
        np.testing.assert_array_equal(fn(ref[order], cur[order]), fn(ref, cur)[order])
    for got, want in zip(chisquare(ref[order], cur[order]), chisquare(ref, cur)):
        np.testing.assert_array_equal(got, want[order])


@SETTINGS
@given(count_pairs(), st.integers(1, 5))
def test_zero_padding_columns_change_nothing(pair: tuple[np.ndarray, np.ndarray], extra: int) -> None:
    ref, cur = pair
    pad = np.zeros((ref.shape[0], extra), dtype=np.int64)
    wide_ref, wide_cur = np.hstack([ref, pad]), np.hstack([cur, pad])
    for fn in (psi, jensenshannon):
        np.testing.assert_allclose(fn(wide_ref, wide_cur), fn(ref, cur), rtol=1e-12, atol=1e-15)
    for got, want in zip(chisquare(wide_ref, wide_cur), chisquare(ref, cur)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300)


# -- sample statistics ---------------------------------------------------------------------------

@SETTINGS
@given(sample_pairs())
def test_ks_and_wasserstein_match_scipy_on_small_tied_samples(pair: tuple[list[np.ndarray], list[np.ndarray]]) -> None:
    refs, curs = pair
    stat, pvalue, dist = ks_wasserstein(refs, curs, np.ones(len(refs)))
    for i, (r, c) in enumerate(zip(refs, curs)):
        if r.size == 0 or c.size == 0:
            assert np.isnan([stat[i], pvalue[i], dist[i]]).all()
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # scipy's exact-to-asymptotic fallback notice
            want = ks_2samp(r, c)
        assert 0.0 <= stat[i] <= 1.0 and 0.0 <= pvalue[i] <= 1.0 and dist[i] >= 0.0
        np.testing.assert_allclose([stat[i], pvalue[i]], [want.statistic, want.pvalue], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(dist[i], wasserstein_distance(r, c), rtol=1e-9, atol=1e-12)


@SETTINGS
@given(sample_pairs(), st.data())
def test_sample_statistics_follow_their_features(pair: tuple[list[np.ndarray], list[np.ndarray]],
                                                 data: st.DataObject) -> None:
    refs, curs = pair
    order = permute(data, len(refs))
    std = np.array([np.std(r) if r.size else np.nan for r in refs])
    stat, pvalue = ks(refs, curs)
    moved = ks([refs[i] for i in order], [curs[i] for i in order])
    np.testing.assert_array_equal(moved[0], stat[order])
    np.testing.assert_array_equal(moved[1], pvalue[order])
    np.testing.assert_array_equal(wasserstein([refs[i] for i in order], [curs[i] for i in order], std[order]),
                                  wasserstein(refs, curs, std)[order])
