"""Jensen-Shannon distance (base 2, docs/statistics.md) of every feature's binned counts at once."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.special import rel_entr

from detectors._validate import FloatArray, count_pair


def jensenshannon(ref_counts: npt.ArrayLike, cur_counts: npt.ArrayLike) -> FloatArray:
    """Return the base-2 Jensen-Shannon distance between the reference and window counts of each row.

    Equals ``scipy.spatial.distance.jensenshannon(ref_row, cur_row, base=2)`` on the raw counts
    (no floor), computed the same way for all rows at once. Bins empty in both rows, such as
    zero padding, contribute nothing. A row whose reference or window total is 0 gives NaN.
    Where rounding leaves the divergence a hair below 0 (scipy then returns NaN from the square
    root) the result is 0.0; it never exceeds 1.0.

    Parameters
    ----------
    ref_counts
        Reference counts, shape ``(features, bins)``: column 0 missing values, then the value
        bins, then zero padding.
    cur_counts
        Window counts in the same layout and shape.

    Examples
    --------
    >>> rng = np.random.default_rng(7)
    >>> ref = rng.multinomial(1000, [0.0, 0.5, 0.3, 0.2], size=2)
    >>> cur = rng.multinomial(1000, [0.1, 0.3, 0.3, 0.3], size=2)
    >>> [round(float(v), 6) for v in jensenshannon(ref, cur)]
    [0.274995, 0.261384]
    >>> jensenshannon([[0, 3, 0, 0]], [[0, 0, 2, 0]]).tolist()
    [1.0]
    """
    ref, cur = count_pair(ref_counts, cur_counts)
    ref_total = ref.sum(axis=1, keepdims=True)
    cur_total = cur.sum(axis=1, keepdims=True)
    empty = (ref_total[:, 0] == 0) | (cur_total[:, 0] == 0)
    p = ref / np.where(ref_total == 0, 1.0, ref_total)
    q = cur / np.where(cur_total == 0, 1.0, cur_total)
    m = (p + q) / 2.0
    js = np.sum(rel_entr(p, m), axis=1) + np.sum(rel_entr(q, m), axis=1)
    js /= np.log(2.0)
    out: FloatArray = np.sqrt(np.clip(js / 2.0, 0.0, 1.0))
    out[empty] = np.nan
    return out
