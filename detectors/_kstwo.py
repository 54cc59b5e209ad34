"""Survival function of the two-sided one-sample Kolmogorov-Smirnov statistic, as ``scipy.stats.kstwo.sf``.

``scipy.stats.ks_2samp`` takes its asymptotic p-value from ``kstwo.sf(d, round(m*n/(m+n)))``.
For the sample sizes driftd uses (n in the tens of thousands) two of scipy's branches cost
milliseconds to tens of milliseconds per call: ``2 * smirnov(n, d)`` (the p-values of drifted
features) runs an n-term double-double sum, and the Durbin matrix branch (d close to 0) runs a
Python loop of n steps. Here those two branches are evaluated with numpy in a few hundred
microseconds, to about 1e-12 relative of scipy; every other branch calls scipy itself.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import numpy.typing as npt
from scipy.special import gammaln, smirnov
from scipy.stats import kstwo

FloatArray = npt.NDArray[np.float64]

_SMIRNOV_MAX_COMPUTE_N = 1_000_000  # scipy's smirnov() approximates above this n
_STIRLING_SERIES_MIN = 16  # use the asymptotic series for the Stirling error from this k on
_SCALE_EXPONENT = 128


def kstwo_sf(d: float, n: int) -> float:
    """Return ``scipy.stats.kstwo.sf(d, n)``: P(D_n >= d) for the two-sided one-sample KS statistic.

    Parameters
    ----------
    d
        The statistic, in [0, 1].
    n
        The (effective) sample size, a positive integer.

    Examples
    --------
    >>> round(kstwo_sf(0.008, 50000), 12), round(float(kstwo.sf(0.008, 50000)), 12)
    (0.003305231279, 0.003305231279)
    """
    x = float(d)
    if not (n > 140 and 0.0 < x < 0.5):
        return float(kstwo.sf(x, n))
    t = n * x
    if t <= 1.0 or t >= n - 1:
        return float(kstwo.sf(x, n))
    nx_squared = t * x
    if nx_squared >= 370.0:
        return 0.0
    if nx_squared >= 2.2:
        if n > _SMIRNOV_MAX_COMPUTE_N:
            return float(np.clip(2 * smirnov(n, x), 0.0, 1.0))
        return float(np.clip(2 * _smirnov_sf(n, x), 0.0, 1.0))
    if n <= 100_000 and n * x**1.5 <= 1.4:
        return float(np.clip(1.0 - _durbin_cdf(n, x), 0.0, 1.0))
    return float(kstwo.sf(x, n))  # Pelz-Good: already fast


def _smirnov_sf(n: int, x: float) -> float:
    """P(D+_n >= x), the Birnbaum-Tingey sum ``x * sum_v C(n,v) (x+v/n)^(v-1) (1-x-v/n)^(n-v)``.

    Each term is computed in log space as a binomial probability in Loader's saddle-point form, so
    no quantity much larger than ``n * x`` is ever rounded (``log C(n, v)`` itself would be ~n).
    """
    nx = n * x
    last = n - math.floor(nx) - 1  # the terms v = 0..last (scipy's lower sum)
    v = np.arange(1, last + 1, dtype=np.float64)
    rest = n - v
    log_terms = np.empty(last + 1)
    log_terms[0] = n * math.log1p(-x) - math.log(x)
    terms = log_terms[1:]
    np.add(_binomial_base(n)[:last], v * np.log1p(nx / v), out=terms)
    terms += rest * np.log1p(-nx / rest)
    terms -= np.log(x + v / n)
    top = float(log_terms.max())
    return float(math.exp(math.log(x) + top + math.log(float(np.exp(log_terms - top).sum()))))


@functools.lru_cache(maxsize=4)
def _binomial_base(n: int) -> FloatArray:
    """``log C(n, v) - [n log n - v log v - (n-v) log(n-v)]`` for v = 1..n-1, from Stirling errors.

    Depends on n only, and the KS sample sizes repeat, so a few are kept (read-only).
    """
    stirling = _stirling_error(n)
    v = np.arange(1, n, dtype=np.float64)
    base: FloatArray = stirling[n] - stirling[1:n] - stirling[n - 1:0:-1]
    base += 0.5 * np.log(n / (2 * math.pi * v * (n - v)))
    base.flags.writeable = False
    return base


def _stirling_error(n: int) -> FloatArray:
    """``log(k!) - (k + 1/2) log(k) + k - log(2 pi)/2`` for k = 0..n (entry 0 is unused)."""
    k = np.arange(n + 1, dtype=np.float64)
    k[0] = 1.0
    inv2 = 1.0 / (k * k)
    out = (1 / 12 - inv2 * (1 / 360 - inv2 * (1 / 1260 - inv2 * (1 / 1680 - inv2 / 1188)))) / k
    small = k[1:_STIRLING_SERIES_MIN]  # the series is not accurate enough below 16
    out[1:_STIRLING_SERIES_MIN] = (gammaln(small + 1) - (small + 0.5) * np.log(small) + small
                                   - 0.5 * math.log(2 * math.pi))
    out[0] = 0.0
    return out


def _durbin_cdf(n: int, x: float) -> float:
    """P(D_n < x) by Durbin's matrix method as arranged by Marsaglia, Tsang and Wang (2003)."""
    nx = n * x
    k = math.ceil(nx)
    h = k - nx
    m = 2 * k - 1
    # 1. H: 1/(i-j+1)! on and below the superdiagonal, corrected first column and last row.
    idx = np.arange(m)
    gap = idx[:, None] - idx[None, :] + 1
    inv_fact = np.exp(-gammaln(np.arange(m + 1, dtype=np.float64) + 1))
    mat = np.where(gap >= 0, inv_fact[np.clip(gap, 0, m)], 0.0)
    powers = h ** np.arange(1, m + 1, dtype=np.float64)
    mat[:, 0] = (1.0 - powers) * inv_fact[1:]
    mat[-1, :] = mat[:, 0][::-1]
    mat[-1, 0] = (1.0 - 2 * h**m + max(0.0, 2 * h - 1) ** m) * inv_fact[m]
    # 2. H^n by repeated squaring, rescaling by powers of two to stay in range.
    result = np.eye(m)
    result_exp = 0
    mat_exp = 0
    e = n
    while e:
        if e & 1:
            result = result @ mat
            result_exp += mat_exp
            if abs(result[k - 1, k - 1]) > 2.0**_SCALE_EXPONENT:
                result /= 2.0**_SCALE_EXPONENT
                result_exp += _SCALE_EXPONENT
        e >>= 1
        if e:
            mat = mat @ mat
            mat_exp *= 2
            if abs(mat[k - 1, k - 1]) > 2.0**_SCALE_EXPONENT:
                mat /= 2.0**_SCALE_EXPONENT
                mat_exp += _SCALE_EXPONENT
    corner = float(result[k - 1, k - 1])
    if corner <= 0.0:
        return 0.0
    # 3. Multiply by n!/n^n, in logs.
    log_cdf = (math.log(corner) + result_exp * math.log(2.0)
               + math.lgamma(n + 1) - n * math.log(n))
    return math.exp(log_cdf)
