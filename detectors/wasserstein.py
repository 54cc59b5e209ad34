"""Wasserstein-1 distance (docs/statistics.md) of every numeric feature, in units of the reference's spread."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import numpy.typing as npt

from detectors._ecdf import distances, map_features
from detectors._validate import FloatArray, sample_pairs, scales


def wasserstein(ref_sorted: Sequence[npt.ArrayLike], cur: Sequence[npt.ArrayLike],
                ref_std: npt.ArrayLike) -> FloatArray:
    """Return ``scipy.stats.wasserstein_distance(ref, cur) / ref_std`` for each feature.

    A constant reference (``ref_std`` 0), or a non-finite ``ref_std``, divides by 1. A feature
    with an empty sample on either side gives NaN. To get the KS test as well, use
    :func:`detectors.ks.ks_wasserstein`, which shares the work.

    Parameters
    ----------
    ref_sorted
        One reference sample per numeric feature, missing values removed, sorted ascending.
    cur
        One window sample per numeric feature, missing values removed, any order.
    ref_std
        The reference's population standard deviation (``np.std``, ddof 0) per feature.

    Examples
    --------
    >>> rng = np.random.default_rng(5)
    >>> ref = np.sort(rng.normal(10.0, 2.0, size=5000))
    >>> cur = rng.normal(11.0, 2.0, size=3000)
    >>> [round(float(v), 6) for v in wasserstein([ref, ref], [cur, cur[:1]], [float(np.std(ref)), 0.0])]
    [0.472438, 7.482779]
    """
    refs, curs = sample_pairs(ref_sorted, cur)
    scale = scales(ref_std, len(refs))

    def one(i: int) -> float:
        return distances(refs[i], curs[i], with_ks=False).wasserstein / float(scale[i])

    return np.array(map_features(one, [r.size + c.size for r, c in zip(refs, curs)]), dtype=np.float64)
