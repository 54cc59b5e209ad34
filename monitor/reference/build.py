"""Reference data -> columns -> :class:`~detectors.profile.ReferenceProfile` (docs/configuration.md ``reference``).

A reference file (CSV, Parquet or JSONL) has one column per feature, plus optional ``prediction``
and ``label`` columns. Feature kinds come from the config when it lists them, otherwise from the
data: numbers are numeric, anything else (strings, bools) is categorical.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from detectors.binning import CATEGORICAL, NUMERIC
from detectors.profile import ReferenceProfile
from monitor.errors import ProfileError
from monitor.ingest.columns import PREDICTION, categorical_column, numeric_column

LABEL = "label"
FORMATS = ("csv", "parquet", "jsonl")
_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def format_of(path: Path, fmt: str | None = None) -> str:
    """The file format, given or from the file name's suffix."""
    if fmt:
        return fmt
    found = _SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise ProfileError(f"{path}: cannot tell the format from the suffix {path.suffix!r}; "
                           f"set reference.format to one of {', '.join(FORMATS)}")
    return found


def read_table(path: Path, fmt: str | None = None) -> dict[str, list[Any] | np.ndarray]:
    """Read a reference file into columns (numpy arrays or lists), naming the file in every error."""
    import pandas as pd  # only the reference loader needs pandas' readers

    kind = format_of(path, fmt)
    try:
        if kind == "csv":
            frame = pd.read_csv(path)
        elif kind == "parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_json(path, lines=True, precise_float=True)  # exact values, as the file says
    except FileNotFoundError:
        raise ProfileError(f"{path}: no such file") from None
    except Exception as exc:  # pandas and pyarrow raise many types for a bad file; name the file, keep the cause
        raise ProfileError(f"{path}: cannot read it as {kind}: {exc}") from exc
    if frame.empty:
        raise ProfileError(f"{path}: has no rows")
    return {str(c): _plain(frame[c]) for c in frame.columns}


def _plain(series: Any) -> np.ndarray:
    import pandas as pd

    if pd.api.types.is_bool_dtype(series.dtype):
        return series.to_numpy(dtype=object)
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    return series.astype(object).where(series.notna(), None).to_numpy(dtype=object)


def infer_kind(values: Sequence[Any] | np.ndarray) -> str:
    """numeric when every present value is a number (bools are not), else categorical.

    >>> infer_kind([1, 2.5, None]), infer_kind(["a", 1]), infer_kind([True, False])
    ('numeric', 'categorical', 'categorical')
    """
    arr = np.asarray(values) if not isinstance(values, np.ndarray) else values
    if arr.dtype.kind in "fiu":
        return NUMERIC
    present = [v for v in values if v is not None and not (isinstance(v, float) and np.isnan(v))]
    if present and all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
                       for v in present):
        return NUMERIC
    return CATEGORICAL


def prediction_kind(task: str, values: Sequence[Any] | np.ndarray) -> str:
    """Kind of the prediction column: numeric for regression and binary scores, categorical for classes."""
    if task == "regression":
        return NUMERIC
    if task == "multiclass_classification":
        return CATEGORICAL
    return infer_kind(values)


def profile_columns(table: Mapping[str, Any], features: Sequence[tuple[str, str]] | None, task: str,
                    source: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Pick and type the columns of a reference: the features (config order, or the table's), then the prediction.

    Returns ``(columns, kinds)`` ready for :meth:`ReferenceProfile.build`.
    """
    if features is None:
        reserved = {PREDICTION, LABEL}
        features = [(name, infer_kind(values)) for name, values in table.items() if name not in reserved]
    else:
        missing = [name for name, _ in features if name not in table]
        if missing:
            raise ProfileError(f"{source}: feature column(s) {missing} not found; columns: {sorted(table)}")
    if not features:
        raise ProfileError(f"{source}: no feature columns")
    kinds: dict[str, str] = {}
    columns: dict[str, np.ndarray] = {}
    for name, kind in features:
        if name in (PREDICTION, LABEL):
            raise ProfileError(f"{source}: {name!r} is reserved for the model's {name} and cannot be a feature")
        kinds[name] = kind
        columns[name] = numeric_column(table[name]) if kind == NUMERIC else categorical_column(table[name])
    if PREDICTION in table:
        kind = prediction_kind(task, table[PREDICTION])
        kinds[PREDICTION] = kind
        values = table[PREDICTION]
        columns[PREDICTION] = numeric_column(values) if kind == NUMERIC else categorical_column(values)
    return columns, kinds


def build_profile(table: Mapping[str, Any], features: Sequence[tuple[str, str]] | None, task: str, *,
                  source: str, bins: int = 10, sample_size: int = 100_000, max_categories: int = 1000,
                  seed: int = 0) -> ReferenceProfile:
    """Build a profile from a table of reference columns."""
    columns, kinds = profile_columns(table, features, task, source)
    try:
        return ReferenceProfile.build(columns, kinds, bins=bins, sample_size=sample_size,
                                      max_categories=max_categories, seed=seed)
    except ValueError as exc:
        raise ProfileError(f"{source}: {exc}") from exc
