"""Reference profiles: the contract's bins, counts, moments and samples, and a stable serialised form."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.binning import numeric_edges
from detectors.profile import ReferenceProfile
from detectors.serial import SerialError


def contract_edges(ref: np.ndarray, bins: int = 10) -> np.ndarray:
    """docs/statistics.md, literally."""
    return np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1))[1:-1])


@pytest.mark.parametrize("data", [
    np.random.default_rng(0).normal(size=1000),
    np.random.default_rng(1).integers(0, 4, 500).astype(float),  # ties: duplicate edges merge
    np.full(50, 3.0),                                            # constant
    np.array([7.0]),                                             # one value
])
def test_edges_are_the_contracts(data):
    np.testing.assert_array_equal(numeric_edges(data), contract_edges(data))


def test_build_counts_moments_and_sample():
    rng = np.random.default_rng(3)
    x = rng.normal(5, 2, 20_000)
    x[:100] = np.nan
    c = np.array(rng.choice(["a", "b", "c"], 20_000), dtype=object)
    c[:10] = None
    p = ReferenceProfile.build({"x": x, "c": c}, {"x": "numeric", "c": "categorical"}, sample_size=1000, seed=4)
    finite = x[np.isfinite(x)]
    edges = contract_edges(finite)
    np.testing.assert_array_equal(p.layout.columns[0].edges, edges)
    expected = np.bincount(np.searchsorted(edges, finite, side="right"), minlength=edges.size + 1)
    assert p.counts[0, 0] == 100
    np.testing.assert_array_equal(p.counts[0, 1:edges.size + 2], expected)
    assert p.counts[1, 0] == 10 and p.counts[1].sum() == 20_000
    assert p.counts[1, 4] == 0  # the unseen bin of a reference is empty
    assert p.mean[0] == pytest.approx(np.mean(finite)) and p.std[0] == pytest.approx(np.std(finite))
    sample = p.sample_of("x")
    assert sample.size == 1000 and np.all(np.diff(sample) >= 0) and np.isin(sample, finite).all()


def test_small_reference_keeps_every_value_as_sample():
    x = np.array([3.0, 1.0, np.inf, 2.0, np.nan])
    p = ReferenceProfile.build({"x": x}, {"x": "numeric"})
    np.testing.assert_array_equal(p.sample_of("x"), [1.0, 2.0, 3.0])
    assert p.counts[0, 0] == 2  # NaN and inf are missing


def test_serialised_form_is_deterministic_and_round_trips():
    rng = np.random.default_rng(5)
    cols = {"x": rng.normal(size=300), "c": np.array(rng.choice(["u", "v"], 300), dtype=object)}
    kinds = {"x": "numeric", "c": "categorical"}
    a = ReferenceProfile.build(cols, kinds)
    b = ReferenceProfile.build(cols, kinds)
    assert a.to_bytes() == b.to_bytes() and a.content_hash() == b.content_hash()
    back = ReferenceProfile.from_bytes(a.to_bytes())
    assert back.layout == a.layout and back.rows == 300
    np.testing.assert_array_equal(back.counts, a.counts)
    np.testing.assert_array_equal(back.samples[0], a.samples[0])
    other = ReferenceProfile.build({**cols, "x": cols["x"] + 1}, kinds)
    assert other.content_hash() != a.content_hash()


def test_damaged_bytes_are_refused_with_a_reason():
    p = ReferenceProfile.build({"x": np.arange(10.0)}, {"x": "numeric"})
    with pytest.raises(SerialError, match="magic"):
        ReferenceProfile.from_bytes(b"garbage")
    with pytest.raises(SerialError, match="truncated"):
        ReferenceProfile.from_bytes(p.to_bytes()[:-8])


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="no rows"):
        ReferenceProfile.build({"x": np.array([])}, {"x": "numeric"})
    with pytest.raises(ValueError, match="kind"):
        ReferenceProfile.build({"x": np.arange(3.0)}, {"x": "text"})
