"""Judge a window summary against a reference profile: every statistic, every column, at once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from detectors.binning import CATEGORICAL, NUMERIC, FloatArray
from detectors.chisquare import chisquare
from detectors.jensenshannon import jensenshannon
from detectors.ks import ks_wasserstein
from detectors.profile import ReferenceProfile
from detectors.psi import psi
from detectors.summary import WindowSummary

STATISTICS: Mapping[str, frozenset[str]] = {
    "psi": frozenset({NUMERIC, CATEGORICAL}),
    "ks": frozenset({NUMERIC}),
    "wasserstein": frozenset({NUMERIC}),
    "jensenshannon": frozenset({NUMERIC, CATEGORICAL}),
    "chisquare": frozenset({CATEGORICAL}),
}
"""The statistics of docs/statistics.md and the column kinds each applies to."""

PVALUE_STATISTICS = frozenset({"ks", "chisquare"})
"""Statistics whose rule threshold is a p-value (drift when below) rather than a distance (drift when above)."""


@dataclass(frozen=True)
class Comparison:
    """Per-column statistic values of one window: ``values[stat][i]`` belongs to ``columns[i]``.

    A statistic that does not apply to a column's kind, or that cannot be computed (an empty
    window, an all-missing column), is NaN there.
    """

    columns: tuple[str, ...]
    kinds: tuple[str, ...]
    values: Mapping[str, FloatArray]
    pvalues: Mapping[str, FloatArray]
    missing_ratio: FloatArray
    events: int = 0
    extra: Mapping[str, object] = field(default_factory=dict)


def compare(profile: ReferenceProfile, summary: WindowSummary, statistics: Sequence[str]) -> Comparison:
    """Compute the named statistics for every column of ``summary`` against ``profile``.

    Parameters
    ----------
    profile
        The reference.
    summary
        A window over the same layout.
    statistics
        Names from :data:`STATISTICS`.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> profile = ReferenceProfile.build({"x": rng.normal(size=5000)}, {"x": "numeric"})
    >>> window = profile.window()
    >>> window.update({"x": rng.normal(0.5, 1.0, size=2000)})
    >>> result = compare(profile, window, ["psi", "ks"])
    >>> round(float(result.values["psi"][0]), 4) > 0.1, float(result.pvalues["ks"][0]) < 1e-6
    (True, True)
    """
    unknown = [s for s in statistics if s not in STATISTICS]
    if unknown:
        raise ValueError(f"unknown statistics {unknown}; valid: {', '.join(STATISTICS)}")
    if summary.layout != profile.layout:
        raise ValueError("the window summary was not built over this profile's layout")
    layout = profile.layout
    kinds = np.array([c.kind for c in layout.columns])
    size = len(layout.columns)
    values: dict[str, FloatArray] = {}
    pvalues: dict[str, FloatArray] = {}
    if "psi" in statistics:
        values["psi"] = psi(profile.counts, summary.counts)
    if "jensenshannon" in statistics:
        values["jensenshannon"] = jensenshannon(profile.counts, summary.counts)
    if "chisquare" in statistics:
        stat, p = _on_rows(layout.categorical, size, lambda rows: chisquare(profile.counts[rows], summary.counts[rows]))
        values["chisquare"], pvalues["chisquare"] = stat, p
    if "ks" in statistics or "wasserstein" in statistics:
        numeric = list(layout.numeric)
        ks_stat, ks_p, wd = ks_wasserstein(profile.samples, summary.samples, profile.std[numeric])
        for name, arr in (("ks", ks_stat), ("wasserstein", wd)):
            if name in statistics:
                values[name] = _scatter(numeric, size, arr)
        if "ks" in statistics:
            pvalues["ks"] = _scatter(numeric, size, ks_p)
    for name in values:  # a statistic is NaN where it does not apply to the column's kind
        values[name] = np.where(np.isin(kinds, list(STATISTICS[name])), values[name], np.nan)
    return Comparison(layout.names, tuple(kinds.tolist()), values, pvalues, summary.missing_ratio(), summary.n)


def _scatter(rows: Sequence[int], size: int, values: FloatArray) -> FloatArray:
    out = np.full(size, np.nan)
    out[list(rows)] = values
    return out


def _on_rows(rows: Sequence[int], size: int, fn) -> tuple[FloatArray, FloatArray]:  # type: ignore[no-untyped-def]
    if not rows:
        return np.full(size, np.nan), np.full(size, np.nan)
    stat, p = fn(list(rows))
    return _scatter(rows, size, stat), _scatter(rows, size, p)
