"""Two-sample empirical CDF kernel shared by the KS and Wasserstein statistics.

Both statistics compare the empirical CDFs ``F1`` (reference) and ``F2`` (window) on the union
of the two samples' points, right-continuous (``side="right"``), as ``scipy.stats.ks_2samp``
and ``scipy.stats.wasserstein_distance`` do. The reference arrives sorted, so after one sort of
the window a single ``searchsorted`` gives, for every window point, how many reference points
lie at or below it; both statistics follow from those counts without building the merged
sample:

- ``F1 - F2`` is a step function. Its minimum is reached at a window point (just after ``F2``
  steps up) and its maximum either at a window point or at the last reference point before
  one, so the KS statistic only needs the window's points. Each candidate is computed as
  ``count1 / n1 - count2 / n2``, the same floating-point operations on the same counts as
  scipy, so the statistic is bit-for-bit scipy's.
- The Wasserstein-1 distance is the area between the CDFs. With equal sample sizes it is the
  mean absolute difference of the sorted samples (the area measured along the probability
  axis); otherwise it is summed over the intervals between consecutive points of the union,
  each starting at a reference point or at a window point.

Features are spread over a few threads (numpy's sort, searchsorted and ufunc loops release the
GIL). Each feature is computed on its own, so the result does not depend on the scheduling.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Sequence, TypeVar

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
T = TypeVar("T")

_PARALLEL_MIN_POINTS = 200_000  # below this many points in all, threads cost more than they save


@dataclass(frozen=True)
class Distances:
    """KS statistic and Wasserstein-1 distance of one feature (NaN when a side is empty)."""

    ks: float
    wasserstein: float


def distances(ref_sorted: FloatArray, cur: FloatArray, with_ks: bool = True) -> Distances:
    """Return the KS statistic and the Wasserstein-1 distance between two samples.

    The KS statistic is bit-for-bit the ``d`` of ``scipy.stats.ks_2samp`` before its exact-mode
    rounding; the distance equals ``scipy.stats.wasserstein_distance`` to rounding. NaN when
    either sample is empty or holds a NaN (as scipy's default ``nan_policy="propagate"``).

    Parameters
    ----------
    ref_sorted
        The reference sample, sorted ascending.
    cur
        The window sample, any order.
    with_ks
        Whether the KS statistic is wanted (NaN when not, which can save the search).

    Examples
    --------
    >>> distances(np.array([0.0, 1.0, 2.0]), np.array([2.0, 3.0]))
    Distances(ks=0.6666666666666666, wasserstein=1.5)
    """
    n1, n2 = ref_sorted.size, cur.size
    if n1 == 0 or n2 == 0:
        return Distances(float("nan"), float("nan"))
    window = np.sort(cur)
    if np.isnan(window[-1]) or np.isnan(ref_sorted[-1]):  # NaN sorts last
        return Distances(float("nan"), float("nan"))
    if not np.all(ref_sorted[1:] >= ref_sorted[:-1]):
        raise ValueError("ref_sorted: the reference sample must be sorted ascending")
    if n1 == n2 and not with_ks:
        return Distances(float("nan"), float(np.mean(np.abs(ref_sorted - window))))
    # 1. Reference points at or below (right) and strictly below (left) each window point.
    right: IntArray = np.searchsorted(ref_sorted, window, side="right")
    tied = ref_sorted[np.maximum(right - 1, 0)] == window
    tied &= right > 0
    any_tied = bool(tied.any())
    left: IntArray = np.searchsorted(ref_sorted, window, side="left") if any_tied else right
    repeated = window[1:] == window[:-1]
    any_repeated = bool(repeated.any())
    # 2. F1 - F2 at each window point, and just before it.
    ranks = np.arange(1, n2 + 1, dtype=np.int64)
    at = right / n1 - ranks / n2
    before = left / n1 - (ranks - 1) / n2
    if any_repeated:  # within a run of equal window values only the run's ends are real points
        ks = max(float(np.abs(at[np.append(~repeated, True)]).max()),
                 float(before[np.insert(~repeated, 0, True)].max()))
    else:
        ks = max(float(np.abs(at).max()), float(before.max()))
    # 3. Area between the CDFs.
    if n1 == n2:
        area = float(np.mean(np.abs(ref_sorted - window)))
    else:
        area = _area(ref_sorted, window, left, right, np.abs(at), tied if any_tied else None)
    return Distances(ks, area)


def _area(ref: FloatArray, window: FloatArray, left: IntArray, right: IntArray, gap_at_window: FloatArray,
          tied: npt.NDArray[np.bool_] | None) -> float:
    """Sum ``|F1 - F2| * length`` over the intervals between consecutive points of the union.

    Each interval starts at a reference point or at a window point and ends at the next point of
    either sample; a window point equal to a reference point starts no interval of its own.
    ``gap_at_window`` is ``|F1 - F2|`` at each window point.
    """
    n1, n2 = ref.size, window.size
    top = max(float(ref[-1]), float(window[-1]))  # the last point: F1 = F2 = 1, length 0
    ref_next = np.append(ref, top)
    window_next = np.append(window, top)
    # Window points at or below each reference point: those whose `left` count is <= its index.
    at_or_below = np.cumsum(np.bincount(left, minlength=n1 + 1)[:n1])
    length = np.minimum(ref_next[1:], window_next[at_or_below]) - ref
    gap = np.abs(np.arange(1, n1 + 1, dtype=np.int64) / n1 - at_or_below / n2)
    total = float(np.sum(gap * length))
    length = np.minimum(window_next[1:], ref_next[right]) - window
    if tied is not None:
        length[tied] = 0.0
    return total + float(np.sum(gap_at_window * length))


def map_features(fn: Callable[[int], T], sizes: Sequence[int]) -> list[T]:
    """Return ``[fn(i) for i in range(len(sizes))]``, over threads when the work is large enough.

    Each thread takes every ``workers``-th feature, so the split depends only on the sizes, and
    each result is computed alone, so the output does not depend on the scheduling.

    Parameters
    ----------
    fn
        Computes feature ``i``.
    sizes
        Points per feature (reference plus window), to decide whether threads pay off.

    Examples
    --------
    >>> map_features(lambda i: i * i, [3, 3, 3])
    [0, 1, 4]
    """
    count = len(sizes)
    workers = min(count, _cpu_count())
    if workers <= 1 or sum(sizes) < _PARALLEL_MIN_POINTS:
        return [fn(i) for i in range(count)]

    def run(start: int) -> list[tuple[int, T]]:
        return [(i, fn(i)) for i in range(start, count, workers)]

    results: dict[int, T] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="driftd-ecdf") as pool:
        for part in pool.map(run, range(workers)):
            results.update(part)
    return [results[i] for i in range(count)]


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
