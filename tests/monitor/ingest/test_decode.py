"""Decoding batches: good messages become columns, every bad one is rejected with its reason."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.ingest.columns import categorical_column, numeric_column
from monitor.ingest.decode import LABELS, MIXED, PREDICTIONS, Decoder

MODELS = {"churn": ("age", "plan")}


def msg(**fields) -> bytes:
    base = {"model": "churn", "timestamp": 1763800000.25, "features": {"age": 41.0, "plan": "gold"},
            "prediction": 0.8, "prediction_id": "a"}
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not ...}).encode()


def test_clean_batch_decodes_to_columns():
    out = Decoder(PREDICTIONS, {}, MODELS).decode([msg(), msg(features={"age": None, "other": 1}, prediction_id="b")])
    r = out.records
    assert not out.rejections and len(r) == 2
    assert r.features == {"age": [41.0, None], "plan": ["gold", None]}
    assert r.prediction_id == ["a", "b"] and r.timestamp.tolist() == [1763800000.25] * 2
    assert r.index.tolist() == [0, 1] and list(r.kind) == [PREDICTIONS, PREDICTIONS]


@pytest.mark.parametrize("raw, reason", [
    (b"{not json", "not_json"),
    (b"", "not_json"),
    (b"[1, 2]", "not_object"),
    (b'"text"', "not_object"),
    (msg(model=...), "missing_field"),
    (msg(timestamp=...), "missing_field"),
    (msg(prediction=...), "missing_field"),
    (msg(model=3), "bad_type"),
    (msg(timestamp=True), "bad_type"),
    (msg(features=[1, 2]), "bad_type"),
    (msg(features={"age": {"nested": 1}}), "bad_type"),
    (msg(timestamp="yesterday"), "bad_timestamp"),
    (msg(timestamp="2025-11-22T08:00:00"), "bad_timestamp"),  # RFC 3339 needs an offset
    (msg(model="unknown"), "unknown_model"),
    (msg(timestamp=1763800000250), "bad_timestamp"),  # epoch milliseconds: year 57862
    (msg(timestamp=1e300), "bad_timestamp"),
    (msg(timestamp=-1e300), "bad_timestamp"),
    (msg(timestamp="0001-01-01T00:00:00+14:00"), "bad_timestamp"),  # before year 1 in UTC
    (msg(timestamp=1e999), "bad_timestamp"),  # json.dumps writes Infinity
    (b'{"model": "churn", "timestamp": 1e999, "prediction": 1}', "bad_type"),  # overflows the parser
    (b'{"model": "churn", "timestamp": 1, "prediction": 1, "a": ' + b"[" * 5000 + b"]" * 5000 + b"}", "too_deep"),
    (b'{"model": "churn", "timestamp": 1, "prediction": 1, "a": ' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}",
     "too_deep"),
    (b'{"model": "churn", "timestamp": NaN, "prediction": 1, "a": ' + b"[" * 5000 + b"]" * 5000 + b"}", "too_deep"),
    (msg(features={"age": 1, "plan": "x" * 1025}), "oversized_value"),
    (msg(prediction="x" * 1025), "oversized_value"),
    (msg(model_version="v" * 1025), "oversized_value"),
])
def test_every_bad_message_gets_its_reason_and_the_rest_go_on(raw, reason):
    out = Decoder(PREDICTIONS, {}, MODELS).decode([msg(prediction_id="ok1"), raw, msg(prediction_id="ok2")])
    assert [(r.index, r.reason) for r in out.rejections] == [(1, reason)]
    assert out.records.prediction_id == ["ok1", "ok2"] and out.records.index.tolist() == [0, 2]


def test_oversized_and_null_messages_are_rejected_unparsed():
    d = Decoder(PREDICTIONS, {}, MODELS, max_message_bytes=200)
    out = d.decode([msg(), msg(features={"age": 1.0, "plan": "x" * 300}), None])
    assert [(r.index, r.reason) for r in out.rejections] == [(1, "oversized"), (2, "not_json")]
    assert len(out.records) == 1


def test_python_nan_and_infinity_are_missing_values_not_errors():
    raw = b'{"model": "churn", "timestamp": 1.0, "features": {"age": NaN, "plan": "gold"}, "prediction": Infinity}'
    out = Decoder(PREDICTIONS, {}, MODELS).decode([raw])
    assert not out.rejections
    assert np.isnan(out.records.features["age"][0])


def test_rfc3339_timestamps_with_offset():
    out = Decoder(PREDICTIONS, {}, MODELS).decode([msg(timestamp="2025-11-22T09:00:00+01:00"),
                                                   msg(timestamp="2025-11-22T08:00:00.5Z")])
    assert out.records.timestamp.tolist() == [1763798400.0, 1763798400.5]


def test_field_names_are_remapped_per_topic():
    raw = json.dumps({"svc": "churn", "ts": 5, "inputs": {"age": 3}, "score": 0.1, "id": 7}).encode()
    fields = {"model": "svc", "timestamp": "ts", "features": "inputs", "prediction": "score", "prediction_id": "id"}
    out = Decoder(PREDICTIONS, fields, MODELS).decode([raw])
    assert not out.rejections
    assert out.records.features["age"] == [3.0] and out.records.prediction_id == ["7"]


def test_labels_need_prediction_id_and_label():
    d = Decoder(LABELS, {}, MODELS)
    good = b'{"model": "churn", "prediction_id": "a", "timestamp": 5, "label": 1}'
    out = d.decode([good, b'{"model": "churn", "timestamp": 5, "label": 1}', b'{"model": "churn", "prediction_id": "a", "timestamp": 5}'])
    assert [r.reason for r in out.rejections] == ["missing_field", "missing_field"]
    assert out.records.label == [1.0]


def test_mixed_input_tells_kinds_apart():
    lines = [msg(), msg(prediction=...), b'{"model": "churn", "prediction_id": "a", "timestamp": 9, "label": 0}']
    out = Decoder(MIXED, {}, MODELS).decode(lines)
    assert list(out.records.kind) == ["predictions", "features", "labels"]


def test_unknown_feature_names_decode_as_free_mappings():
    out = Decoder(PREDICTIONS, {}, {"churn": None}).decode([msg(features={"new": 1, "plan": "x"})])
    assert out.records.extra_features == [{"new": 1, "plan": "x"}]


def test_fast_path_and_one_by_one_agree():
    good = [msg(prediction_id=str(i), features={"age": float(i), "plan": "p"}) for i in range(50)]
    d = Decoder(PREDICTIONS, {}, MODELS)
    fast = d.decode(good).records
    slow = d.decode(good + [b"bad"]).records  # one bad message sends the batch one by one
    assert fast.prediction_id == slow.prediction_id and fast.features == slow.features
    np.testing.assert_array_equal(fast.timestamp, slow.timestamp)


def test_the_value_length_bound_is_the_decoders_and_counts_characters():
    d = Decoder(PREDICTIONS, {}, MODELS, max_value_length=3)
    out = d.decode([msg(features={"age": "12345", "plan": "abc"}), msg(features={"age": 1, "plan": "abcd"}),
                    msg(features={"age": 1, "plan": "ééé"}), msg(label="abcd")])
    assert [(r.index, r.reason) for r in out.rejections] == [(0, "oversized_value"), (1, "oversized_value"),
                                                              (3, "oversized_value")]
    assert [r.detail.split(":")[0] for r in out.rejections] == ["features.age", "features.plan", "label"]
    assert out.records.index.tolist() == [2]
    typed = Decoder(PREDICTIONS, {}, MODELS, kinds={"age": "numeric", "plan": "categorical"}, max_value_length=3)
    out = typed.decode([msg(features={"age": "12345", "plan": "abc"}), msg(features={"age": 1, "plan": "abcd"})])
    assert [r.index for r in out.rejections] == [1]  # a numeric column keeps no text: "12345" is 12345.0


def test_timestamps_at_the_ends_of_the_printable_range():
    from monitor.ingest.decode import MAX_TIMESTAMP, MIN_TIMESTAMP
    from monitor.judge.results import rfc3339

    out = Decoder(PREDICTIONS, {}, MODELS).decode([msg(timestamp=MIN_TIMESTAMP), msg(timestamp=MAX_TIMESTAMP),
                                                   msg(timestamp=MAX_TIMESTAMP + 1), msg(timestamp=0)])
    assert [(r.index, r.reason) for r in out.rejections] == [(2, "bad_timestamp")]
    assert [rfc3339(t) for t in out.records.timestamp] == ["0001-01-01T00:00:00Z", "9999-01-01T00:00:00Z",
                                                           "1970-01-01T00:00:00Z"]
    assert rfc3339(MAX_TIMESTAMP + 365 * 86400 - 1).startswith("9999-12-31")  # a year-long window still prints


def test_prediction_ids_longer_than_the_store_keeps_are_rejected():
    out = Decoder(PREDICTIONS, {}, MODELS).decode([msg(prediction_id="x" * 256), msg(prediction_id="y" * 255)])
    assert [(r.index, r.reason) for r in out.rejections] == [(0, "bad_id")]
    assert out.records.prediction_id == ["y" * 255]


_FEATURE_VALUE = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-10**6, 10**6), st.none(),
                           st.booleans(), st.sampled_from(["2.5", "-1", "gold", "", "1e3"]), st.just(...))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.fixed_dictionaries({name: _FEATURE_VALUE for name in ("a", "b", "c", "d")}), max_size=20),
       st.sampled_from(["aaaa", "naaa", "nnna", "nnnn", "ncnc", "cnnn"]))
def test_typed_columns_equal_converting_the_raw_ones(rows, kinds_code):
    """Numeric features converted as one matrix (or column by column when that fails) equal numeric_column of the raw values."""
    names = ("a", "b", "c", "d")
    kinds = {n: {"n": "numeric", "c": "categorical"}[k] for n, k in zip(names, kinds_code) if k != "a"}
    batch = [msg(prediction_id=str(i), features={k: v for k, v in row.items() if v is not ...})
             for i, row in enumerate(rows)]
    raw = Decoder(PREDICTIONS, {}, {"churn": names}).decode(batch).records
    typed = Decoder(PREDICTIONS, {}, {"churn": names}, kinds=kinds).decode(batch).records
    assert list(typed.features) == list(names)
    for name in names:
        column, expected = typed.features[name], raw.features[name]
        if kinds.get(name) == "numeric":
            assert column.dtype == np.float64 and column.flags.c_contiguous
            np.testing.assert_array_equal(column, numeric_column(expected))
        elif kinds.get(name) == "categorical":
            assert column.tolist() == categorical_column(expected).tolist()
        else:
            assert column == expected


def test_part_and_poison_keep_every_message_once():
    """Slicing a decoded batch and rejecting one of its records as internal_error loses and doubles nothing."""
    from monitor.ingest.source import PartitionBatch

    values = [b'{"model": "m", "timestamp": %d, "prediction": 1}' % t for t in range(6)]
    values[2] = b"x"
    out = Decoder("predictions", {}, {"m": ("x",)}).decode(values)
    batch = PartitionBatch("t", 0, [10, 11, 12, 13, 14, 15], values, 16)
    for start, stop in ((0, 6), (0, 3), (2, 3), (3, 6), (5, 6)):
        part, rows = out.part(start, stop), batch.part(start, stop)
        assert len(part.records) + len(part.rejections) == stop - start == len(rows.values)
        assert rows.offsets == batch.offsets[start:stop] and rows.next_offset == rows.offsets[-1] + 1
        assert part.records.timestamp.tolist() == [t for t in range(start, stop) if t != 2]
    poisoned = out.reject(4, "internal_error", "RuntimeError: boom")
    assert poisoned.records.timestamp.tolist() == [0, 1, 3, 5]
    assert [(r.index, r.reason) for r in poisoned.rejections] == [(2, "not_json"), (4, "internal_error")]
    again = poisoned.reject(2, "unreadable_batch", "ZstdError")  # a rejection's reason replaced, not added
    assert [(r.index, r.reason) for r in again.rejections] == [(2, "unreadable_batch"), (4, "internal_error")]
    assert len(again.records) == 4


@pytest.mark.parametrize("unit, per_second", [("seconds", 1), ("milliseconds", 10**3), ("microseconds", 10**6),
                                              ("nanoseconds", 10**9)])
def test_numeric_timestamps_are_read_in_the_topics_unit(unit: str, per_second: int):
    import pickle

    decoder = Decoder("predictions", {}, {"m": ("x",)}, timestamp_unit=unit)
    second = 1_763_800_000
    values = [b'{"model": "m", "timestamp": %d, "prediction": 1}' % (second * per_second + per_second // 4),
              b'{"model": "m", "timestamp": "2025-11-22T08:26:40Z", "prediction": 1}',  # a string: as it is
              b'{"model": "m", "timestamp": %d, "prediction": 1}' % (300_000_000_000 * per_second)]  # year 11476
    for d in (decoder, pickle.loads(pickle.dumps(decoder))):  # as the decoding process gets it
        out = d.decode(values)
        assert out.records.timestamp.tolist() == pytest.approx([second + 0.25 * (per_second > 1), 1763800000.0])
        assert [(r.index, r.reason) for r in out.rejections] == [(2, "bad_timestamp")]
        assert unit in out.rejections[0].detail
        numbers_only = d.decode([values[0]])  # the all-numbers path
        assert numbers_only.records.timestamp.tolist() == pytest.approx([second + 0.25 * (per_second > 1)])
    with pytest.raises(ValueError, match="timestamp_unit"):
        Decoder("predictions", {}, {"m": ("x",)}, timestamp_unit="minutes")
