"""Chi-square test of independence (docs/statistics.md) on every feature's 2 x k table of counts at once."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.stats import chi2

from detectors._validate import FloatArray, count_pair


def chisquare(ref_counts: npt.ArrayLike, cur_counts: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Return the chi-square statistic and p-value of each row's reference-vs-window contingency table.

    Per row this equals ``scipy.stats.chi2_contingency(np.vstack([ref_row, cur_row])[:, keep])``
    with ``keep`` the bins non-empty in either row, including scipy's defaults: Yates'
    continuity correction when the table has one degree of freedom (two kept bins), and
    statistic 0.0 with p-value 1.0 when it has none (one kept bin). A row whose reference or
    window total is 0 gives NaN for both.

    Parameters
    ----------
    ref_counts
        Reference counts, shape ``(features, bins)``: column 0 missing values, then the value
        bins (for a categorical feature: its categories, then the unseen bin), then zero padding.
    cur_counts
        Window counts in the same layout and shape.

    Examples
    --------
    >>> rng = np.random.default_rng(7)
    >>> ref = rng.multinomial(1000, [0.0, 0.5, 0.3, 0.2, 0.0], size=2)
    >>> cur = rng.multinomial(500, [0.0, 0.45, 0.3, 0.2, 0.05], size=2)
    >>> stat, p = chisquare(ref, cur)
    >>> [round(float(s), 6) for s in stat], [round(float(v), 6) for v in p]
    ([53.721821, 68.469705], [0.0, 0.0])
    >>> [round(float(v), 6) for v in chisquare([[0, 40, 60]], [[0, 30, 20]])[1]]  # 1 dof: Yates
    [0.032277]
    """
    ref, cur = count_pair(ref_counts, cur_counts)
    ref_total = ref.sum(axis=1)
    cur_total = cur.sum(axis=1)
    total = ref_total + cur_total
    empty = (ref_total == 0) | (cur_total == 0)
    safe_total = np.where(empty, 1.0, total)[:, None]

    # 1. Expected counts from the margins, as scipy's expected_freq: (row sum * column sum) / total.
    column = ref + cur
    keep = column > 0
    dof = keep.sum(axis=1) - 1
    observed = np.stack([ref, cur], axis=1)  # (F, 2, B)
    expected = np.stack([ref_total[:, None] * column, cur_total[:, None] * column], axis=1) / safe_total[:, None]

    # 2. Yates' correction where a table has exactly one degree of freedom.
    yates = (dof == 1)[:, None, None]
    diff = expected - observed
    observed = np.where(yates, observed + np.minimum(0.5, np.abs(diff)) * np.sign(diff), observed)

    # 3. Pearson's statistic over the kept bins, and its chi-square tail probability.
    kept = keep[:, None, :] & (expected > 0)  # expected is 0 only in dropped bins and empty rows
    terms = np.where(kept, (observed - expected) ** 2 / np.where(kept, expected, 1.0), 0.0)
    stat: FloatArray = terms.sum(axis=(1, 2))
    pvalue = np.ones_like(stat)
    tested = dof > 0
    stat[~tested] = 0.0
    pvalue[tested] = chi2.sf(stat[tested], dof[tested])
    stat[empty] = np.nan
    pvalue[empty] = np.nan
    return stat, pvalue
