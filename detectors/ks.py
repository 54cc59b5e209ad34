"""Two-sample Kolmogorov-Smirnov test (docs/statistics.md) of every numeric feature, optionally with Wasserstein."""

from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy as np
import numpy.typing as npt
from scipy.stats import ks_2samp

from detectors._ecdf import distances, map_features
from detectors._kstwo import kstwo_sf
from detectors._validate import FloatArray, sample_pairs, scales

MAX_EXACT_N = 10_000
"""``ks_2samp(method="auto")`` computes an exact p-value when neither sample is larger than this."""


def ks(ref_sorted: Sequence[npt.ArrayLike], cur: Sequence[npt.ArrayLike]) -> tuple[FloatArray, FloatArray]:
    """Return the two-sample KS statistic and p-value of each feature's reference and window samples.

    Each pair equals ``scipy.stats.ks_2samp(ref, cur)`` (two-sided, ``method="auto"``): when
    neither sample has more than 10,000 values scipy itself computes it (exact p-value);
    otherwise the statistic comes from placing the sorted window in the pre-sorted reference
    (bit-for-bit scipy's), and the p-value is scipy's asymptotic
    ``kstwo.sf(d, round(m*n/(m+n)))``, to about 1e-12 relative. A feature with an empty sample
    on either side gives NaN for both.

    Parameters
    ----------
    ref_sorted
        One reference sample per numeric feature, missing values removed, sorted ascending.
    cur
        One window sample per numeric feature, missing values removed, any order.

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> ref = [np.sort(rng.normal(size=20_000)), np.sort(rng.normal(size=300))]
    >>> cur = [rng.normal(0.05, 1.0, size=15_000), rng.normal(size=200)]
    >>> stat, p = ks(ref, cur)
    >>> [round(float(v), 6) for v in stat], [round(float(v), 6) for v in p]
    ([0.0252, 0.08], [3.7e-05, 0.411543])
    """
    stat, pvalue, _ = _compare(ref_sorted, cur, None)
    return stat, pvalue


def ks_wasserstein(ref_sorted: Sequence[npt.ArrayLike], cur: Sequence[npt.ArrayLike],
                   ref_std: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Return the KS statistic, KS p-value and scaled Wasserstein distance of each feature in one pass.

    Same values as :func:`ks` and :func:`detectors.wasserstein.wasserstein`, sharing the sort of
    each window sample and the evaluation of both empirical CDFs on the merged points.

    Parameters
    ----------
    ref_sorted
        One reference sample per numeric feature, missing values removed, sorted ascending.
    cur
        One window sample per numeric feature, missing values removed, any order.
    ref_std
        The reference's population standard deviation per feature; the distance is divided by
        it, or by 1 where it is 0 or not finite.

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> ref = [np.sort(rng.normal(size=20_000))]
    >>> stat, p, dist = ks_wasserstein(ref, [rng.normal(0.5, 1.0, size=15_000)], [float(np.std(ref[0]))])
    >>> round(float(stat[0]), 6), float(p[0]) < 1e-300, round(float(dist[0]), 6)
    (0.200333, True, 0.500549)
    """
    return _compare(ref_sorted, cur, ref_std)


def _compare(ref_sorted: Sequence[npt.ArrayLike], cur: Sequence[npt.ArrayLike],
             ref_std: npt.ArrayLike | None) -> tuple[FloatArray, FloatArray, FloatArray]:
    refs, curs = sample_pairs(ref_sorted, cur)
    count = len(refs)
    scale = np.ones(count) if ref_std is None else scales(ref_std, count)

    # 1. Statistic, asymptotic p-value and distance of every feature, over threads.
    def one(i: int) -> tuple[float, float, float]:
        n1, n2 = refs[i].size, curs[i].size
        found = distances(refs[i], curs[i])
        pvalue = math.nan
        if max(n1, n2) > MAX_EXACT_N and not math.isnan(found.ks):
            pvalue = asymptotic_pvalue(found.ks, n1, n2)
        return found.ks, pvalue, found.wasserstein / float(scale[i])

    rows = map_features(one, [r.size + c.size for r, c in zip(refs, curs)])
    out = np.array(rows, dtype=np.float64).reshape(count, 3)
    stat, pvalue, dist = out[:, 0].copy(), out[:, 1].copy(), out[:, 2].copy()

    # 2. Small samples: scipy's exact p-value (and its statistic, rounded to the lattice k/lcm).
    for i in range(count):
        sizes = (refs[i].size, curs[i].size)
        if 0 < min(sizes) and max(sizes) <= MAX_EXACT_N and not math.isnan(stat[i]):
            stat[i], pvalue[i] = _scipy_ks(refs[i], curs[i])
    return stat, pvalue, dist


def asymptotic_pvalue(d: float, n1: int, n2: int) -> float:
    """Return ``ks_2samp``'s asymptotic two-sided p-value for statistic ``d`` and sample sizes ``n1``, ``n2``.

    Parameters
    ----------
    d
        The KS statistic.
    n1, n2
        The two sample sizes.

    Examples
    --------
    >>> round(asymptotic_pvalue(0.006, 100_000, 100_000), 9), round(asymptotic_pvalue(0.006, 100_000, 40_000), 9)
    (0.054427496, 0.2540992)
    """
    m, n = sorted([float(n1), float(n2)], reverse=True)
    effective = m * n / (m + n)
    return float(np.clip(kstwo_sf(d, int(np.round(effective))), 0.0, 1.0))


def _scipy_ks(ref: FloatArray, cur: FloatArray) -> tuple[float, float]:
    with warnings.catch_warnings():
        # scipy falls back to the asymptotic p-value, with a warning, when the exact one fails.
        warnings.filterwarnings("ignore", message="ks_2samp: Exact calculation unsuccessful",
                                category=RuntimeWarning)
        result = ks_2samp(ref, cur)
    return float(result.statistic), float(result.pvalue)
