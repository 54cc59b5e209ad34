"""Judging: statistics per column, rule thresholds (p-values below, distances above), drift share."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.profile import ReferenceProfile
from monitor.judge.verdict import DriftRules, judge
from monitor.windows.tumbling import ClosedWindow

RNG = np.random.default_rng(11)
REF = {"a": RNG.normal(size=4000), "b": RNG.normal(size=4000),
       "c": np.array(RNG.choice(["x", "y"], 4000), dtype=object), "prediction": RNG.random(4000)}
KINDS = {"a": "numeric", "b": "numeric", "c": "categorical", "prediction": "numeric"}
PROFILE = ReferenceProfile.build(REF, KINDS)
ALL = ("psi", "ks", "wasserstein", "jensenshannon", "chisquare")


def window(shift_a: float = 0.0, n: int = 2000, c_choices=("x", "y")) -> ClosedWindow:
    rng = np.random.default_rng(5)
    summary = PROFILE.window()
    summary.update({"a": rng.normal(shift_a, 1, n), "b": rng.normal(size=n),
                    "c": np.array(rng.choice(list(c_choices), n), dtype=object), "prediction": rng.random(n)}, n=n)
    return ClosedWindow("m", 0.0, 3600.0, summary, "7", "watermark")


def test_no_drift_on_the_same_distribution():
    result = judge(window(), PROFILE, 3, DriftRules(ALL, {"psi": 0.2, "ks": 0.001}, 0.5))
    assert result.judged and result.drifted is False and result.drift_share == 0.0
    assert [f.name for f in result.features] == ["a", "b", "c"] and result.prediction.name == "prediction"
    assert set(result.features[0].values) == {"psi", "ks", "wasserstein", "jensenshannon"}
    assert set(result.features[2].values) == {"psi", "jensenshannon", "chisquare"}
    assert set(result.features[2].pvalues) == {"chisquare"}
    assert result.reference_version == 3 and result.model_version == "7"


def test_distance_rules_fire_above_and_pvalue_rules_below():
    result = judge(window(shift_a=1.0), PROFILE, 1, DriftRules(ALL, {"psi": 0.2, "ks": 0.001}, 0.5))
    a = result.features[0]
    assert a.drifted and {r.statistic for r in a.reasons} == {"psi", "ks"}
    psi_reason = next(r for r in a.reasons if r.statistic == "psi")
    assert psi_reason.value == a.values["psi"] > 0.2 and psi_reason.threshold == 0.2
    ks_reason = next(r for r in a.reasons if r.statistic == "ks")
    assert ks_reason.value == a.pvalues["ks"] < 0.001
    assert result.drift_share == pytest.approx(1 / 4)      # a of a, b, c, prediction
    assert result.drifted is False                         # share 0.25 < 0.5


@pytest.mark.parametrize("share, critical, drifted", [(0.25, (), True), (0.3, (), False), (0.9, ("a",), True)])
def test_model_drifts_on_share_or_critical_feature(share, critical, drifted):
    result = judge(window(shift_a=1.0), PROFILE, 1, DriftRules(ALL, {"psi": 0.2}, share, critical))
    assert result.drifted is drifted


def test_unseen_categories_drift_categorical_features():
    result = judge(window(c_choices=("x", "z")), PROFILE, 1, DriftRules(ALL, {"chisquare": 0.01, "psi": 0.2}, 0.5))
    c = result.features[2]
    assert c.drifted and c.pvalues["chisquare"] < 1e-6


def test_windows_under_min_events_are_stored_but_not_judged():
    result = judge(window(shift_a=3.0, n=50), PROFILE, 1, DriftRules(ALL, {"psi": 0.2}, 0.1, (), min_events=100))
    assert not result.judged and result.drifted is None and result.drift_share is None
    assert all(f.drifted is None and not f.reasons for f in result.features)
    assert result.features[0].values["psi"] > 0.2           # the values are still there to look at


def test_unknown_statistic_is_named():
    with pytest.raises(ValueError, match="psy.*valid: psi"):
        DriftRules(("psy",), {}, 0.5)
