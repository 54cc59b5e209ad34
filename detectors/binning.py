"""Reference bins (docs/statistics.md): decile edges for numeric columns, a vocabulary for categorical ones.

Every binned column uses the same count layout: bin 0 holds missing values, bins ``1..nbins``
hold values; for a numeric column they are the intervals between the inner edges (closed on the
left, the outer ones open to -inf/+inf), for a categorical one the reference's categories in
order followed by one bin for categories the reference never saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import repeat
from typing import Sequence

import numpy as np
import numpy.typing as npt

NUMERIC = "numeric"
CATEGORICAL = "categorical"
KINDS = (NUMERIC, CATEGORICAL)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def finite(values: npt.ArrayLike) -> FloatArray:
    """Return the finite values of ``values`` as float64; NaN and +-inf count as missing.

    Parameters
    ----------
    values
        Any 1-D array-like of numbers.

    Examples
    --------
    >>> finite([1.0, float("nan"), float("inf"), 2.0]).tolist()
    [1.0, 2.0]
    """
    arr = np.asarray(values, dtype=np.float64)
    return arr[np.isfinite(arr)]


def numeric_edges(values: npt.ArrayLike, bins: int = 10) -> FloatArray:
    """Inner bin edges of a numeric reference: its quantiles, duplicates merged (docs/statistics.md).

    Parameters
    ----------
    values
        The reference values; non-finite values are ignored (they are missing).
    bins
        How many quantile bins to aim for (deciles by default).

    Examples
    --------
    >>> numeric_edges(np.arange(5.0), bins=4).tolist()
    [1.0, 2.0, 3.0]
    >>> numeric_edges([1.0, 1.0, 1.0, 1.0, 2.0], bins=4).tolist()
    [1.0]
    """
    if bins < 2:
        raise ValueError(f"bins: expected an integer >= 2, got {bins!r}")
    ref = finite(values)
    if ref.size == 0:
        return np.empty(0, dtype=np.float64)
    quantiles = np.quantile(ref, np.linspace(0.0, 1.0, bins + 1))[1:-1]
    return np.asarray(np.unique(quantiles), dtype=np.float64)


def numeric_codes(values: FloatArray, edges: FloatArray) -> IntArray:
    """Bin code of each value: 0 for missing (NaN, +-inf), else ``searchsorted(edges, v, 'right') + 1``.

    Parameters
    ----------
    values
        1-D float64 values.
    edges
        Inner edges from :func:`numeric_edges`.

    Examples
    --------
    >>> numeric_codes(np.array([0.5, 1.0, 7.0, np.nan]), np.array([1.0, 2.0])).tolist()
    [1, 2, 3, 0]
    """
    codes = np.searchsorted(edges, values, side="right").astype(np.int64) + 1
    codes[~np.isfinite(values)] = 0
    return codes


@dataclass(frozen=True)
class Vocabulary:
    """The reference's categories of one categorical column, in bin order; anything else is unseen.

    Examples
    --------
    >>> vocab = Vocabulary(("gold", "silver"))
    >>> vocab.codes(np.array(["silver", None, "bronze", "gold"], dtype=object)).tolist()
    [2, 0, 3, 1]
    >>> vocab.nbins
    3
    """

    categories: tuple[str, ...]

    @property
    def nbins(self) -> int:
        """Value bins: one per category plus the unseen bin."""
        return len(self.categories) + 1

    def _lookup(self) -> dict[object, int]:
        """Category -> bin code, with None -> 0 (built once, cached on the frozen instance)."""
        lookup = self.__dict__.get("_lookup_table")
        if lookup is None:
            lookup = {name: i + 1 for i, name in enumerate(self.categories)}
            lookup[None] = 0
            object.__setattr__(self, "_lookup_table", lookup)
        return lookup

    def codes(self, values: Sequence[object] | npt.NDArray[np.object_]) -> IntArray:
        """Bin code of each value: 0 missing (None), 1..k a known category, k+1 unseen."""
        items = values.tolist() if isinstance(values, np.ndarray) else values
        unseen = repeat(len(self.categories) + 1)
        return np.fromiter(map(self._lookup().get, items, unseen), dtype=np.int64, count=len(items))


def vocabulary(values: Sequence[object] | npt.NDArray[np.object_], max_categories: int = 1000) -> Vocabulary:
    """Build the vocabulary of a categorical reference: its most frequent categories, ties by name.

    Parameters
    ----------
    values
        The reference values (strings; None is missing and not a category).
    max_categories
        At most this many categories are kept; rarer ones fall into the unseen bin.

    Examples
    --------
    >>> vocabulary(["b", "a", "b", None, "c"], max_categories=2).categories
    ('b', 'a')
    """
    import pandas as pd

    series = pd.Series(np.asarray(values, dtype=object)).dropna()
    counts = series.value_counts(sort=False)
    ordered = sorted(counts.items(), key=lambda kv: (-int(kv[1]), str(kv[0])))
    return Vocabulary(tuple(str(k) for k, _ in ordered[:max_categories]))
