"""Population stability index (docs/statistics.md) of every feature's binned counts at once."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from detectors._validate import FloatArray, count_pair

DEFAULT_FLOOR = 1e-4
"""Proportions below this are raised to it before the logarithm (docs/statistics.md)."""


def psi(ref_counts: npt.ArrayLike, cur_counts: npt.ArrayLike, floor: float = DEFAULT_FLOOR) -> FloatArray:
    """Return the population stability index of each row of binned counts.

    Per row, ``r = ref / ref.sum()`` and ``c = cur / cur.sum()`` over all columns (the missing
    bin included); proportions below ``floor`` are raised to ``floor``; and
    ``PSI = sum((c - r) * ln(c / r))``. Zero padding columns contribute nothing, since there
    ``c == r == floor``. A row whose reference or window total is 0 gives NaN.

    Parameters
    ----------
    ref_counts
        Reference counts, shape ``(features, bins)``: column 0 missing values, then the value
        bins, then zero padding.
    cur_counts
        Window counts in the same layout and shape.
    floor
        Smallest proportion used in the logarithm; must be positive.

    Examples
    --------
    >>> rng = np.random.default_rng(7)
    >>> ref = rng.multinomial(1000, [0.0, 0.5, 0.3, 0.2], size=2)
    >>> cur = rng.multinomial(1000, [0.1, 0.3, 0.3, 0.3], size=2)
    >>> [round(float(v), 6) for v in psi(ref, cur)]
    [0.833498, 0.81279]
    >>> psi([[0, 5, 5]], [[0, 0, 0]]).tolist()
    [nan]
    """
    if not (isinstance(floor, (int, float)) and math.isfinite(floor) and floor > 0):
        raise ValueError(f"floor: expected a positive finite proportion, got {floor!r}")
    ref, cur = count_pair(ref_counts, cur_counts)
    ref_total = ref.sum(axis=1, keepdims=True)
    cur_total = cur.sum(axis=1, keepdims=True)
    empty = (ref_total[:, 0] == 0) | (cur_total[:, 0] == 0)
    r = np.maximum(ref / np.where(ref_total == 0, 1.0, ref_total), floor)
    c = np.maximum(cur / np.where(cur_total == 0, 1.0, cur_total), floor)
    out: FloatArray = np.sum((c - r) * np.log(c / r), axis=1)
    out[empty] = np.nan
    return out
