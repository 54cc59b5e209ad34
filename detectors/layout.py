"""The column layout shared by a reference profile and the window summaries judged against it."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Mapping, Sequence

import numpy as np

from detectors.binning import CATEGORICAL, NUMERIC, FloatArray, IntArray, Vocabulary, numeric_codes


_FEW_EDGES = 64
_BLOCK_ROWS = 1 << 16


def _count_edges(values: FloatArray, edges: FloatArray) -> np.ndarray:
    """Codes of a (events x columns) matrix: 1 + edges reached (= searchsorted side="right"), 0 if not finite."""
    codes = np.empty(values.shape, dtype=np.uint8)
    for start in range(0, values.shape[0], _BLOCK_ROWS):  # bounded temporaries for large reference files
        block = values[start:start + _BLOCK_ROWS]
        out = codes[start:start + _BLOCK_ROWS]
        out.fill(1)
        for e in range(edges.shape[1]):
            np.add(out, block >= edges[:, e], out=out, casting="unsafe")
        out[~np.isfinite(block)] = 0
    return codes


@dataclass(frozen=True, eq=False)
class Column:
    """One binned column: a numeric one with inner edges, or a categorical one with a vocabulary."""

    name: str
    kind: str
    edges: FloatArray = field(default_factory=lambda: np.empty(0, dtype=np.float64))
    vocab: Vocabulary | None = None

    def __post_init__(self) -> None:
        if self.kind == CATEGORICAL and self.vocab is None:
            raise ValueError(f"column {self.name!r}: a categorical column needs a vocabulary")
        if self.kind not in (NUMERIC, CATEGORICAL):
            raise ValueError(f"column {self.name!r}: kind must be numeric or categorical, got {self.kind!r}")

    @property
    def nbins(self) -> int:
        """Value bins (the missing bin not included)."""
        if self.vocab is not None:
            return self.vocab.nbins
        return int(self.edges.size) + 1

    def codes(self, values: np.ndarray) -> IntArray:
        """Bin codes of a batch of values (0 = missing)."""
        if self.kind == NUMERIC:
            return numeric_codes(np.asarray(values, dtype=np.float64), self.edges)
        assert self.vocab is not None
        return self.vocab.codes(np.asarray(values, dtype=object))

    def describe(self) -> dict[str, Any]:
        """JSON-able description (edges go separately as an array)."""
        out: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.vocab is not None:
            out["categories"] = list(self.vocab.categories)
        return out

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Column) and self.name == other.name and self.kind == other.kind
                and self.vocab == other.vocab and np.array_equal(self.edges, other.edges))

    def __hash__(self) -> int:
        return hash((self.name, self.kind, self.vocab, self.edges.tobytes()))


@dataclass(frozen=True)
class Layout:
    """Ordered columns; counts of every column fit in one ``(len(columns), width)`` matrix.

    Row ``i`` of a count matrix belongs to ``columns[i]``: column 0 counts missing values, columns
    ``1..nbins`` the value bins, the rest is zero padding.

    Examples
    --------
    >>> layout = Layout((Column("age", "numeric", np.array([30.0, 50.0])),
    ...                  Column("plan", "categorical", vocab=Vocabulary(("gold",)))))
    >>> layout.width, layout.numeric, layout.categorical
    (4, (0,), (1,))
    """

    columns: tuple[Column, ...]

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate column names: {', '.join(dupes)}")

    @cached_property
    def width(self) -> int:
        """Columns of a count matrix: the missing bin plus the widest column's value bins."""
        return 1 + max((c.nbins for c in self.columns), default=1)

    @cached_property
    def names(self) -> tuple[str, ...]:
        """Column names in row order."""
        return tuple(c.name for c in self.columns)

    @cached_property
    def numeric(self) -> tuple[int, ...]:
        """Rows of the numeric columns."""
        return tuple(i for i, c in enumerate(self.columns) if c.kind == NUMERIC)

    @cached_property
    def categorical(self) -> tuple[int, ...]:
        """Rows of the categorical columns."""
        return tuple(i for i, c in enumerate(self.columns) if c.kind == CATEGORICAL)

    def zero_counts(self) -> IntArray:
        """An all-zero count matrix of this layout."""
        return np.zeros((len(self.columns), self.width), dtype=np.int64)

    def encode(self, batch: Mapping[str, np.ndarray]) -> list[np.ndarray | None]:
        """Bin codes of every column of a batch, in row order (None for a column absent from the batch).

        Numeric columns are binned together: with few edges, counting the edges each value reaches
        over a (events x columns) matrix is several times faster than a binary search per column.
        """
        codes: list[np.ndarray | None] = [None] * len(self.columns)
        rows = [row for row in self.numeric if batch.get(self.columns[row].name) is not None]
        if rows and self._edge_matrix.shape[1] <= _FEW_EDGES:
            matrix = np.column_stack([np.asarray(batch[self.columns[r].name], dtype=np.float64) for r in rows])
            binned = _count_edges(matrix, self._edge_matrix[[self.numeric.index(r) for r in rows]])
            for j, row in enumerate(rows):
                codes[row] = binned[:, j]
        elif rows:
            for row in rows:
                codes[row] = self.columns[row].codes(batch[self.columns[row].name])
        for row in self.categorical:
            values = batch.get(self.columns[row].name)
            if values is not None:
                codes[row] = self.columns[row].codes(values)
        return codes

    @cached_property
    def _edge_matrix(self) -> FloatArray:
        """Inner edges of the numeric columns, one row each, padded with +inf (which no finite value reaches)."""
        widest = max((self.columns[r].edges.size for r in self.numeric), default=0)
        edges = np.full((len(self.numeric), widest), np.inf)
        for j, row in enumerate(self.numeric):
            column_edges = self.columns[row].edges
            edges[j, :column_edges.size] = column_edges
        return edges

    def count_codes(self, codes: Sequence[np.ndarray | None], n: int) -> IntArray:
        """Count matrix of encoded columns; an absent column is all missing."""
        counts = self.zero_counts()
        for row, column_codes in enumerate(codes):
            if column_codes is None:
                counts[row, 0] = n
            else:
                counts[row] = np.bincount(column_codes, minlength=self.width)
        return counts

    def count(self, batch: Mapping[str, np.ndarray], n: int) -> IntArray:
        """Bin a batch of columns into a count matrix; a column absent from the batch is all missing."""
        return self.count_codes(self.encode(batch), n)

    def describe(self) -> list[dict[str, Any]]:
        """JSON-able description of every column (numeric edges are stored as arrays)."""
        return [c.describe() for c in self.columns]

    def edge_arrays(self) -> dict[str, FloatArray]:
        """The numeric columns' edges, keyed for :mod:`detectors.serial`."""
        return {f"edges/{i}": self.columns[i].edges for i in self.numeric}

    @classmethod
    def restore(cls, described: list[dict[str, Any]], arrays: Mapping[str, np.ndarray]) -> "Layout":
        """Inverse of :meth:`describe` plus :meth:`edge_arrays`."""
        columns = []
        for i, spec in enumerate(described):
            if spec["kind"] == NUMERIC:
                columns.append(Column(spec["name"], NUMERIC, np.asarray(arrays[f"edges/{i}"], dtype=np.float64)))
            else:
                columns.append(Column(spec["name"], CATEGORICAL, vocab=Vocabulary(tuple(spec["categories"]))))
        return cls(tuple(columns))
