"""Reference profiles: what a reference data set keeps for judging windows against it.

Per column: the bins and the reference's counts over them (missing bin included), the mean and
population standard deviation of a numeric column's finite values, and a sorted uniform sample of
them (up to ``sample_size``) for KS and Wasserstein. A profile serialises to deterministic bytes
with a version header; its content hash identifies it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from detectors.binning import CATEGORICAL, NUMERIC, FloatArray, IntArray, finite, numeric_edges, vocabulary
from detectors.layout import Column, Layout
from detectors.serial import pack, unpack
from detectors.summary import WindowSummary

PROFILE_VERSION = 1


@dataclass(frozen=True, eq=False)
class ReferenceProfile:
    """A reference data set reduced to bins, counts, moments and sorted samples.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = ReferenceProfile.build({"x": rng.normal(size=1000), "c": np.array(["a", "b"] * 500, dtype=object)},
    ...                            {"x": "numeric", "c": "categorical"})
    >>> p.rows, p.layout.names, int(p.counts[0, 1:11].sum()), p.counts[1, :4].tolist()
    (1000, ('x', 'c'), 1000, [0, 500, 500, 0])
    >>> ReferenceProfile.from_bytes(p.to_bytes()).content_hash() == p.content_hash()
    True
    """

    layout: Layout
    counts: IntArray
    samples: tuple[FloatArray, ...]
    mean: FloatArray
    std: FloatArray
    rows: int
    sample_size: int
    seed: int = 0

    @classmethod
    def build(cls, columns: Mapping[str, np.ndarray], kinds: Mapping[str, str], *, bins: int = 10,
              sample_size: int = 100_000, max_categories: int = 1000, seed: int = 0) -> "ReferenceProfile":
        """Build a profile from whole reference columns.

        Parameters
        ----------
        columns
            Column name -> values (numeric: floats with NaN missing; categorical: strings with None missing).
        kinds
            Column name -> ``"numeric"`` or ``"categorical"``, in the profile's column order.
        bins
            Quantile bins per numeric column.
        sample_size
            Largest sorted sample kept per numeric column.
        max_categories
            Largest vocabulary per categorical column.
        seed
            Seed of the subsample.
        """
        lengths = {len(columns[name]) for name in kinds}
        if len(lengths) != 1:
            raise ValueError(f"reference columns have different lengths: {sorted(lengths)}")
        rows = lengths.pop()
        if rows == 0:
            raise ValueError("the reference has no rows")
        layout_columns: list[Column] = []
        for name, kind in kinds.items():
            if kind == NUMERIC:
                layout_columns.append(Column(name, NUMERIC, numeric_edges(columns[name], bins)))
            elif kind == CATEGORICAL:
                layout_columns.append(Column(name, CATEGORICAL, vocab=vocabulary(columns[name], max_categories)))
            else:
                raise ValueError(f"column {name!r}: kind must be numeric or categorical, got {kind!r}")
        layout = Layout(tuple(layout_columns))
        counts = layout.count(columns, rows)
        rng = np.random.default_rng(seed)
        samples = []
        mean = np.full(len(layout.columns), np.nan)
        std = np.full(len(layout.columns), np.nan)
        for row in layout.numeric:
            values = finite(columns[layout.columns[row].name])
            if values.size:
                mean[row] = float(np.mean(values))
                std[row] = float(np.std(values))
            if values.size > sample_size:
                values = rng.choice(values, size=sample_size, replace=False)
            samples.append(np.sort(values))
        return cls(layout, counts, tuple(samples), mean, std, rows, sample_size, seed)

    def sample_of(self, name: str) -> FloatArray:
        """The sorted sample of a numeric column."""
        row = self.layout.names.index(name)
        return self.samples[self.layout.numeric.index(row)]

    def window(self, capacity: int | None = None, max_unseen: int = 100, seed: int = 0) -> WindowSummary:
        """An empty window summary over this profile's layout (reservoirs as large as the samples)."""
        return WindowSummary.zero(self.layout, capacity or self.sample_size, max_unseen, seed)

    def to_bytes(self) -> bytes:
        """Deterministic serialised form, with a format version header."""
        arrays: dict[str, np.ndarray] = {"counts": self.counts, "mean": self.mean, "std": self.std}
        arrays.update(self.layout.edge_arrays())
        for j, sample in enumerate(self.samples):
            arrays[f"sample/{j}"] = sample
        header: dict[str, Any] = {"profile_version": PROFILE_VERSION, "columns": self.layout.describe(),
                                  "rows": self.rows, "sample_size": self.sample_size, "seed": self.seed}
        return pack("profile", header, arrays)

    @classmethod
    def from_bytes(cls, blob: bytes) -> "ReferenceProfile":
        """Inverse of :meth:`to_bytes`; refuses profiles of an unknown version."""
        _, header, arrays = unpack(blob, "profile")
        if header.get("profile_version") != PROFILE_VERSION:
            raise ValueError(f"profile version {header.get('profile_version')} is not supported "
                             f"(expected {PROFILE_VERSION}); rebuild it with `driftd reference build`")
        layout = Layout.restore(header["columns"], arrays)
        samples = tuple(arrays[f"sample/{j}"] for j in range(len(layout.numeric)))
        return cls(layout, arrays["counts"], samples, arrays["mean"], arrays["std"], int(header["rows"]),
                   int(header["sample_size"]), int(header["seed"]))

    def content_hash(self) -> str:
        """SHA-256 of the serialised profile: equal content, equal hash."""
        return hashlib.sha256(self.to_bytes()).hexdigest()
