"""Typed columns for one model: raw decoded values -> float64 (numeric) or normalised strings (categorical).

Both the reference loader and the live path go through :func:`category_text`, so a category reads
the same whether it came from a CSV cell or a JSON value (``3`` and ``3.0`` are ``"3"``, ``true``
is ``"true"``).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from detectors.binning import NUMERIC
from detectors.layout import Layout

PREDICTION = "prediction"
"""The prediction's column beside the features: its name in a layout, and in every report of its drift."""


def category_text(value: Any) -> str | None:
    """The category a raw value stands for; None (and NaN) is missing.

    >>> [category_text(v) for v in ["gold", 3, 3.0, 2.5, True, None, float("nan")]]
    ['gold', '3', '3', '2.5', 'true', None, None]
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool) or isinstance(value, np.bool_):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return None
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    return str(value)


def numeric_column(values: Sequence[Any]) -> np.ndarray:
    """Float64 column; None, NaN and values that are not numbers are missing (NaN).

    >>> numeric_column([1, None, "2.5", "gold", True]).tolist()
    [1.0, nan, 2.5, nan, 1.0]
    """
    if isinstance(values, np.ndarray) and values.dtype == np.float64:
        return values
    try:
        return np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        return np.array([_to_float(v) for v in values], dtype=np.float64)


def categorical_column(values: Sequence[Any]) -> np.ndarray:
    """Object column of category strings (None for missing)."""
    out = np.empty(len(values), dtype=object)
    if set(map(type, values)) <= {str, type(None)}:
        out[:] = values
    else:
        out[:] = [v if type(v) is str else category_text(v) for v in values]
    return out


def typed_columns(raw: dict[str, Sequence[Any]], layout: Layout) -> dict[str, np.ndarray]:
    """Convert the raw columns that the layout knows to their kind's dtype (others are left out)."""
    out: dict[str, np.ndarray] = {}
    for column in layout.columns:
        values = raw.get(column.name)
        if values is None:
            continue
        if isinstance(values, np.ndarray) and values.dtype == (np.float64 if column.kind == NUMERIC else object):
            out[column.name] = values  # typed by the decoder already (see Decoder ``kinds``)
        else:
            out[column.name] = numeric_column(values) if column.kind == NUMERIC else categorical_column(values)
    return out


def _to_float(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return math.nan
    return math.nan
