"""Shared argument checks for the statistic functions: count matrices and per-feature samples."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def count_pair(ref_counts: npt.ArrayLike, cur_counts: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Return reference and window count matrices as float64 (F, B) arrays of the same shape.

    Counts are integers in practice; float64 holds them exactly up to 2**53.

    Parameters
    ----------
    ref_counts, cur_counts
        Non-negative counts, one row per feature, in the bin layout of docs/statistics.md.

    Examples
    --------
    >>> r, c = count_pair([[0, 2, 3]], [[1, 1, 0]])
    >>> r.dtype.name, c.tolist()
    ('float64', [[1.0, 1.0, 0.0]])
    """
    ref = np.asarray(ref_counts, dtype=np.float64)
    cur = np.asarray(cur_counts, dtype=np.float64)
    if ref.ndim != 2 or cur.ndim != 2:
        raise ValueError(
            f"counts: expected 2-D (features, bins) arrays, got shapes {ref.shape} and {cur.shape}")
    if ref.shape != cur.shape:
        raise ValueError(f"counts: reference shape {ref.shape} differs from window shape {cur.shape}")
    if ref.size and not (np.all(ref >= 0) and np.all(cur >= 0)):  # also rejects NaN
        raise ValueError("counts: expected non-negative counts, got a negative or NaN value")
    return ref, cur


def sample_pairs(ref_sorted: Sequence[npt.ArrayLike], cur: Sequence[npt.ArrayLike]
                 ) -> tuple[list[FloatArray], list[FloatArray]]:
    """Return the per-feature samples as 1-D float64 arrays, checking both sides have as many features.

    Parameters
    ----------
    ref_sorted
        One reference sample per feature, sorted ascending.
    cur
        One window sample per feature, in any order.

    Examples
    --------
    >>> r, c = sample_pairs([[1.0, 2.0]], [np.array([3, 1])])
    >>> r[0].tolist(), c[0].dtype.name
    ([1.0, 2.0], 'float64')
    """
    if len(ref_sorted) != len(cur):
        raise ValueError(f"samples: {len(ref_sorted)} reference features but {len(cur)} window features")
    refs = [_as_1d(v, "reference", i) for i, v in enumerate(ref_sorted)]
    curs = [_as_1d(v, "window", i) for i, v in enumerate(cur)]
    return refs, curs


def _as_1d(values: npt.ArrayLike, side: str, index: int) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"samples: {side} sample {index} must be 1-D, got shape {arr.shape}")
    return arr


def scales(ref_std: npt.ArrayLike, features: int) -> FloatArray:
    """Return the divisors for the Wasserstein distance: ``ref_std``, with 1.0 where it is 0 or not finite.

    Parameters
    ----------
    ref_std
        The reference's population standard deviation per numeric feature.
    features
        How many features there are (the length ``ref_std`` must have).

    Examples
    --------
    >>> scales([2.0, 0.0, float("nan")], 3).tolist()
    [2.0, 1.0, 1.0]
    """
    std = np.asarray(ref_std, dtype=np.float64).reshape(-1)
    if std.shape != (features,):
        raise ValueError(f"ref_std: expected {features} values (one per feature), got {std.size}")
    return np.where(np.isfinite(std) & (std != 0.0), std, 1.0)
