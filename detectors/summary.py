"""Window summaries: what a window keeps of its events, bounded in size and mergeable.

A :class:`WindowSummary` holds, for a :class:`~detectors.layout.Layout`, the bin counts of every
column (missing bin included), a uniform reservoir sample of every numeric column's finite values
(for KS and Wasserstein), and a bounded table of the categorical values the reference never saw.
Its size does not depend on how many events it has seen. Summaries merge: counts add, and
reservoirs merge by keeping the ``capacity`` smallest random priority keys of both (priority
sampling), which is again a uniform sample of the union.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from detectors.binning import FloatArray, IntArray
from detectors.layout import Layout
from detectors.serial import pack, unpack

_U64 = np.uint64


def priority_keys(seed: int, first: int, n: int) -> np.ndarray:
    """Pseudo-random uint64 priority keys of events ``first .. first+n-1`` (SplitMix64 of the index).

    Deterministic from ``(seed, index)`` alone, so a summary restored from a checkpoint draws the
    same keys it would have drawn without the restart.

    Parameters
    ----------
    seed
        Stream seed.
    first
        Index of the first event.
    n
        How many keys.

    Examples
    --------
    >>> priority_keys(7, 0, 3).tolist() == priority_keys(7, 0, 5)[:3].tolist()
    True
    """
    with np.errstate(over="ignore"):
        z = (np.arange(first, first + n, dtype=np.uint64) + _U64(seed & 0xFFFFFFFFFFFFFFFF)) * _U64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
        return z ^ (z >> _U64(31))


def _keep_smallest(values: FloatArray, keys: np.ndarray, capacity: int) -> tuple[FloatArray, np.ndarray]:
    if values.size <= capacity:
        return values, keys
    keep = np.argpartition(keys, capacity - 1)[:capacity]
    return values[keep], keys[keep]


class WindowSummary:
    """Bounded, mergeable summary of one window's events for one layout.

    Parameters
    ----------
    layout
        The reference's columns and bins.
    capacity
        Reservoir size per numeric column (CONTRACT §3 default 100,000).
    max_unseen
        How many distinct unseen categorical values are remembered per column, for reporting.
    seed
        Seed of the reservoir priority keys.

    Examples
    --------
    >>> from detectors.layout import Column, Layout
    >>> layout = Layout((Column("x", "numeric", np.array([0.0])),))
    >>> a = WindowSummary.zero(layout, capacity=10)
    >>> a.update({"x": np.array([-1.0, 1.0, np.nan])})
    >>> b = WindowSummary.zero(layout, capacity=10)
    >>> b.update({"x": np.array([2.0])})
    >>> m = a.merge(b)
    >>> m.n, m.counts.tolist(), sorted(m.samples[0].tolist())
    (4, [[1, 1, 2]], [-1.0, 1.0, 2.0])
    """

    def __init__(self, layout: Layout, counts: IntArray, samples: list[FloatArray], keys: list[np.ndarray],
                 unseen: list[dict[str, int]], n: int, capacity: int, max_unseen: int, seed: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity: expected a positive integer, got {capacity!r}")
        self.layout = layout
        self.counts = counts
        # Reservoirs are kept as chunks and consolidated (k smallest keys) only when they grow past
        # twice the capacity or are read, so filling one costs O(n) rather than a copy per batch.
        self._values: list[list[FloatArray]] = [[v] for v in samples]
        self._keys: list[list[np.ndarray]] = [[k] for k in keys]
        self._held = [int(v.size) for v in samples]
        self._limit: list[int | None] = [None] * len(samples)
        self.unseen = unseen
        self.n = n
        self.capacity = capacity
        self.max_unseen = max_unseen
        self.seed = seed

    @classmethod
    def zero(cls, layout: Layout, capacity: int = 100_000, max_unseen: int = 100, seed: int = 0) -> "WindowSummary":
        """The empty summary: the neutral element of :meth:`merge`."""
        return cls(layout, layout.zero_counts(),
                   [np.empty(0, dtype=np.float64) for _ in layout.numeric],
                   [np.empty(0, dtype=np.uint64) for _ in layout.numeric],
                   [{} for _ in layout.categorical], 0, capacity, max_unseen, seed)

    def update(self, batch: Mapping[str, np.ndarray], n: int | None = None) -> None:
        """Add a batch of ``n`` events given as columns of equal length (a missing column is all missing)."""
        n = _batch_length(batch) if n is None else n
        if n == 0:
            return
        codes = self.layout.encode(batch)
        self.counts += self.layout.count_codes(codes, n)
        keys = priority_keys(self.seed, self.n, n)
        for j, row in enumerate(self.layout.numeric):
            values = batch.get(self.layout.columns[row].name)
            if values is not None:
                self._sample(j, np.asarray(values, dtype=np.float64), keys)
        for j, row in enumerate(self.layout.categorical):
            column_codes = codes[row]
            if column_codes is not None:
                self._note_unseen(j, row, np.asarray(batch[self.layout.columns[row].name], dtype=object), column_codes)
        self.n += n

    def _sample(self, j: int, values: FloatArray, keys: np.ndarray) -> None:
        ok = np.isfinite(values)
        new_values, new_keys = values[ok], keys[ok]
        limit = self._limit[j]
        if limit is not None:  # full: only keys below the largest kept one can enter
            below = new_keys < limit
            new_values, new_keys = new_values[below], new_keys[below]
        if new_values.size == 0:
            return
        self._values[j].append(new_values)
        self._keys[j].append(new_keys)
        self._held[j] += int(new_values.size)
        if self._held[j] >= 2 * self.capacity:
            self._consolidate(j)

    def _consolidate(self, j: int) -> None:
        if len(self._values[j]) > 1 or self._held[j] > self.capacity:
            values, keys = _keep_smallest(np.concatenate(self._values[j]), np.concatenate(self._keys[j]),
                                          self.capacity)
            self._values[j], self._keys[j] = [values], [keys]
            self._held[j] = int(values.size)
        if self._held[j] >= self.capacity:
            self._limit[j] = int(self._keys[j][0].max())

    @property
    def samples(self) -> list[FloatArray]:
        """The reservoir sample of each numeric column (layout order of the numeric columns)."""
        for j in range(len(self._values)):
            self._consolidate(j)
        return [v[0] for v in self._values]

    @property
    def keys(self) -> list[np.ndarray]:
        """The priority keys of the reservoir samples."""
        for j in range(len(self._keys)):
            self._consolidate(j)
        return [k[0] for k in self._keys]

    def _note_unseen(self, j: int, row: int, values: np.ndarray, codes: np.ndarray) -> None:
        unseen_values = values[codes == self.layout.columns[row].nbins]
        if unseen_values.size == 0:
            return
        table = self.unseen[j]
        names, counts = np.unique(unseen_values.astype(str), return_counts=True)
        for name, count in zip(names.tolist(), counts.tolist()):
            if name in table or len(table) < self.max_unseen:
                table[name] = table.get(name, 0) + int(count)

    def merge(self, other: "WindowSummary") -> "WindowSummary":
        """A new summary of both windows' events; neither input changes."""
        if other.layout != self.layout:
            raise ValueError("cannot merge summaries of different layouts (different reference profiles)")
        capacity = min(self.capacity, other.capacity)
        samples, keys = [], []
        ours, others = (self.samples, self.keys), (other.samples, other.keys)
        for j in range(len(self.layout.numeric)):
            v, k = _keep_smallest(np.concatenate([ours[0][j], others[0][j]]),
                                  np.concatenate([ours[1][j], others[1][j]]), capacity)
            samples.append(v)
            keys.append(k)
        unseen = []
        for mine, theirs in zip(self.unseen, other.unseen):
            table = dict(mine)
            for name, count in theirs.items():
                if name in table or len(table) < self.max_unseen:
                    table[name] = table.get(name, 0) + count
            unseen.append(table)
        return WindowSummary(self.layout, self.counts + other.counts, samples, keys, unseen, self.n + other.n,
                             capacity, self.max_unseen, self.seed)

    def missing_ratio(self) -> FloatArray:
        """Share of missing values per column (NaN for an empty window)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(self.counts[:, 0] / self.counts.sum(axis=1), dtype=np.float64)

    @property
    def nbytes(self) -> int:
        """Bytes held by the summary's arrays and tables (bounded by capacity, not by events seen)."""
        arrays = self.counts.nbytes + sum(a.nbytes for a in self.samples) + sum(k.nbytes for k in self.keys)
        return arrays + sum(sum(len(name) + 8 for name in t) for t in self.unseen)

    def to_bytes(self) -> bytes:
        """Serialise for a checkpoint (the layout is not included: it belongs to the profile)."""
        arrays: dict[str, np.ndarray] = {"counts": self.counts}
        for j, (sample, keys) in enumerate(zip(self.samples, self.keys)):
            arrays[f"sample/{j}"] = sample
            arrays[f"keys/{j}"] = keys
        header: dict[str, Any] = {"n": self.n, "capacity": self.capacity, "max_unseen": self.max_unseen,
                                  "seed": self.seed, "unseen": self.unseen, "columns": list(self.layout.names)}
        return pack("summary", header, arrays)

    @classmethod
    def from_bytes(cls, layout: Layout, blob: bytes) -> "WindowSummary":
        """Inverse of :meth:`to_bytes` for the same layout."""
        _, header, arrays = unpack(blob, "summary")
        if tuple(header["columns"]) != layout.names:
            raise ValueError(f"summary columns {header['columns']} do not match the profile's {list(layout.names)}")
        m = len(layout.numeric)
        return cls(layout, arrays["counts"], [arrays[f"sample/{j}"] for j in range(m)],
                   [arrays[f"keys/{j}"] for j in range(m)], [dict(t) for t in header["unseen"]],
                   int(header["n"]), int(header["capacity"]), int(header["max_unseen"]), int(header["seed"]))


def _batch_length(batch: Mapping[str, np.ndarray]) -> int:
    lengths = {len(v) for v in batch.values()}
    if len(lengths) > 1:
        raise ValueError(f"batch columns have different lengths: {sorted(lengths)}")
    return lengths.pop() if lengths else 0
