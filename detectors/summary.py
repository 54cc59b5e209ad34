"""Window summaries: what a window keeps of its events, bounded in size and mergeable.

A :class:`WindowSummary` holds, for a :class:`~detectors.layout.Layout`, the bin counts of every
column (missing bin included), a uniform reservoir sample of every numeric column's finite values
(for KS and Wasserstein), and a bounded table of the categorical values the reference never saw.
Its size does not depend on how many events it has seen. Summaries merge: counts add, and
reservoirs merge by keeping the ``capacity`` smallest random priority keys of both (priority
sampling), which is again a uniform sample of the union.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from detectors.binning import FloatArray, IntArray
from detectors.layout import Layout
from detectors.serial import pack, unpack

_U64 = np.uint64

_SLACK = 1.25
"""A reservoir is cut back to its capacity once it holds this many times it (memory vs consolidation work)."""


_SMALL_CHUNK = 256
"""Reservoir chunks of fewer entries than this on average are consolidated when a checkpoint writes them."""


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
        Reservoir size per numeric column (docs/statistics.md default 100,000).
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
        # 1.25 x the capacity (_SLACK) or are read, so filling one costs O(n) rather than a copy per batch,
        # and a full reservoir never holds more than 1.25 x what it keeps.
        self._values: list[list[FloatArray]] = [[v] for v in samples]
        self._keys: list[list[np.ndarray]] = [[k] for k in keys]
        self._held = [int(v.size) for v in samples]
        self._limit: list[int | None] = [None] * len(samples)
        self.unseen = unseen
        self.n = n
        self.capacity = capacity
        self.max_unseen = max_unseen
        self.seed = seed
        # Reservoir entries taken in since the last checkpoint blob (see :meth:`checkpoint_blob`).
        self._fresh: list[list[tuple[FloatArray, np.ndarray]]] = [[] for _ in samples]
        self._appended = 0  # entries written as deltas since the last full blob
        self._based = False  # whether a full blob was written (a restored summary writes a full one first)

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
        if self._based:  # only a summary that is checkpointed keeps what is new since its last blob
            self._fresh[j].append((new_values, new_keys))
        self._held[j] += int(new_values.size)
        if self._held[j] >= _SLACK * self.capacity:
            self._consolidate(j)

    def _consolidate(self, j: int) -> None:
        if len(self._values[j]) > 1 or self._held[j] > self.capacity:
            values, keys = _keep_smallest(np.concatenate(self._values[j]), np.concatenate(self._keys[j]),
                                          self.capacity)
            self._values[j], self._keys[j] = [values], [keys]
            self._held[j] = int(values.size)
        if self._held[j] >= self.capacity:
            largest = int(self._keys[j][0].max())
            self._limit[j] = largest
            if self._fresh[j]:  # entries above the limit can never be sampled: do not keep them for a delta
                limit = np.uint64(largest)
                kept = [(v[k <= limit], k[k <= limit]) for v, k in self._fresh[j]]
                self._fresh[j] = [(v, k) for v, k in kept if v.size]

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
        merged = WindowSummary(self.layout, self.counts, self.samples, self.keys, [dict(t) for t in self.unseen],
                               self.n, self.capacity, self.max_unseen, self.seed)
        merged._absorb(other)  # replaces its arrays, never writes into them: ours stay as they are
        return merged

    @classmethod
    def merge_all(cls, parts: Iterable["WindowSummary"]) -> "WindowSummary | None":
        """``parts[0].merge(parts[1]).merge(parts[2])...`` (None for no parts), with the same result, holding
        only the merge so far and the next part: ``parts`` may be a generator reading them one at a time,
        and the merge so far takes in each next part one column at a time instead of being copied whole.
        No part changes (a single part is returned as it is).

        Examples
        --------
        >>> from detectors.layout import Column, Layout
        >>> layout = Layout((Column("x", "numeric", np.array([0.0])),))
        >>> parts = [WindowSummary.zero(layout, capacity=2, seed=s) for s in range(3)]
        >>> for i, part in enumerate(parts):
        ...     part.update({"x": np.array([i, i + 0.5])})
        >>> merged = WindowSummary.merge_all(iter(parts))
        >>> merged.n, merged.samples[0].tolist() == parts[0].merge(parts[1]).merge(parts[2]).samples[0].tolist()
        (6, True)
        """
        merged: WindowSummary | None = None
        owned = False
        for part in parts:
            if merged is None:
                merged = part
            elif not owned:
                merged, owned = merged.merge(part), True
            else:
                merged._absorb(part)
            del part  # not held while the next one is read
        return merged

    def _absorb(self, other: "WindowSummary") -> None:
        """Become ``self.merge(other)`` in place (only for a summary nobody else holds: a merge's result)."""
        if other.layout != self.layout:
            raise ValueError("cannot merge summaries of different layouts (different reference profiles)")
        capacity = min(self.capacity, other.capacity)
        theirs = (other.samples, other.keys)
        for j in range(len(self.layout.numeric)):
            self._consolidate(j)
            v, k = _keep_smallest(np.concatenate([self._values[j][0], theirs[0][j]]),
                                  np.concatenate([self._keys[j][0], theirs[1][j]]), capacity)
            self._values[j], self._keys[j] = [v], [k]
            self._held[j] = int(v.size)
            self._limit[j] = None
        for table, theirs_table in zip(self.unseen, other.unseen):
            for name, count in theirs_table.items():
                if name in table or len(table) < self.max_unseen:
                    table[name] = table.get(name, 0) + count
        self.counts = self.counts + other.counts
        self.n += other.n
        self.capacity = capacity
        self._fresh = [[] for _ in self._fresh]
        self._appended = 0
        self._based = False

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
        self._fresh = [[] for _ in self._fresh]
        self._appended = 0
        self._based = True
        # A reservoir not yet full is written from its chunks, as the one array consolidating them would be:
        # consolidating every partial summary at each checkpoint would double its memory until the next trim.
        # Many small chunks (small batches) are consolidated all the same: their overhead would outweigh them.
        for j in range(len(self._values)):
            if self._held[j] >= self.capacity or len(self._values[j]) * _SMALL_CHUNK > self._held[j]:
                self._consolidate(j)
        return self._pack("summary", self._values, self._keys)

    def _pack(self, kind: str, samples: Sequence[FloatArray | list[FloatArray]],
              keys: Sequence[np.ndarray | list[np.ndarray]]) -> bytes:
        arrays: dict[str, np.ndarray | Sequence[np.ndarray]] = {"counts": self.counts}
        for j, (sample, key) in enumerate(zip(samples, keys)):
            arrays[f"sample/{j}"] = sample
            arrays[f"keys/{j}"] = key
        header: dict[str, Any] = {"n": self.n, "capacity": self.capacity, "max_unseen": self.max_unseen,
                                  "seed": self.seed, "unseen": self.unseen, "columns": list(self.layout.names)}
        return pack(kind, header, arrays)

    def checkpoint_blob(self) -> tuple[bool, bytes]:
        """What a checkpoint writes of this summary since the previous one: ``(full, blob)``.

        A full blob (:meth:`to_bytes`) the first time and whenever the deltas written since the
        last full one would hold more entries than the reservoirs themselves; otherwise a delta:
        the counts, ``n`` and unseen table as they are now, and only the reservoir entries taken
        in since the previous blob. A full blob followed by its deltas, in order, rebuilds the
        summary exactly (:meth:`from_parts`): every entry that was ever among the ``capacity``
        smallest keys was written, and none of the others can be among them later. So a
        checkpoint writes in proportion to what arrived, not to what the window holds.
        """
        fresh = sum(v.size for chunks in self._fresh for v, _ in chunks)
        if not self._based or self._appended + fresh > self.capacity * max(1, len(self._fresh)):
            return True, self.to_bytes()
        samples = [[v for v, _ in chunks] if chunks else np.empty(0, dtype=np.float64) for chunks in self._fresh]
        keys = [[k for _, k in chunks] if chunks else np.empty(0, dtype=np.uint64) for chunks in self._fresh]
        self._fresh = [[] for _ in self._fresh]
        self._appended += fresh
        return False, self._pack("summary-delta", samples, keys)

    @classmethod
    def from_bytes(cls, layout: Layout, blob: bytes) -> "WindowSummary":
        """Inverse of :meth:`to_bytes` for the same layout."""
        return cls.from_parts(layout, blob, ())

    @classmethod
    def from_parts(cls, layout: Layout, blob: bytes, deltas: Sequence[bytes]) -> "WindowSummary":
        """A summary from a full blob and the deltas written after it (:meth:`checkpoint_blob`), in order.

        Examples
        --------
        >>> from detectors.layout import Column, Layout
        >>> layout = Layout((Column("x", "numeric", np.array([0.0])),))
        >>> live = WindowSummary.zero(layout, capacity=3)
        >>> blobs = []
        >>> for first in range(0, 12, 4):
        ...     live.update({"x": np.arange(first, first + 4, dtype=float)})
        ...     blobs.append(live.checkpoint_blob())
        >>> [full for full, _ in blobs]
        [True, False, False]
        >>> restored = WindowSummary.from_parts(layout, blobs[0][1], [b for _, b in blobs[1:]])
        >>> restored.n, sorted(restored.samples[0].tolist()) == sorted(live.samples[0].tolist())
        (12, True)
        """
        # Reservoir arrays are read-only views of the blobs (never written in place: chunks are only
        # appended, concatenated or selected from), so a restored summary does not hold them twice.
        _, header, arrays = unpack(blob, "summary", copy=False)
        if tuple(header["columns"]) != layout.names:
            raise ValueError(f"summary columns {header['columns']} do not match the profile's {list(layout.names)}")
        m = len(layout.numeric)
        summary = cls(layout, arrays["counts"].copy(), [arrays[f"sample/{j}"] for j in range(m)],
                      [arrays[f"keys/{j}"] for j in range(m)], [dict(t) for t in header["unseen"]],
                      int(header["n"]), int(header["capacity"]), int(header["max_unseen"]), int(header["seed"]))
        for delta in deltas:
            _, header, arrays = unpack(delta, "summary-delta", copy=False)
            summary.counts = arrays["counts"].copy()
            summary.unseen = [dict(t) for t in header["unseen"]]
            summary.n = int(header["n"])
            for j in range(m):
                values, keys = arrays[f"sample/{j}"], arrays[f"keys/{j}"]
                if values.size:
                    summary._values[j].append(values)
                    summary._keys[j].append(keys)
                    summary._held[j] += int(values.size)
        for j in range(m):
            summary._consolidate(j)
        summary._fresh = [[] for _ in range(m)]
        return summary


def _batch_length(batch: Mapping[str, np.ndarray]) -> int:
    lengths = {len(v) for v in batch.values()}
    if len(lengths) > 1:
        raise ValueError(f"batch columns have different lengths: {sorted(lengths)}")
    return lengths.pop() if lengths else 0
