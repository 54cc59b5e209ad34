"""Fuzzing the decoder: no bytes make it raise, and it accepts exactly what docs/input.md accepts.

Two properties, each over whole batches:
- arbitrary bytes (and tombstones): decoding never raises, and every message is accepted or
  rejected once, with a reason from REASONS;
- mutations of valid messages (truncated, nested deep, a field of another type, huge numbers and
  strings, timestamps in every form): the same, and message by message the decoder agrees with
  :func:`tests.fixtures.oracle.verdict` (``json.loads`` and the reference's rules): the same
  messages accepted with the same values, the same reason for each rejected one, whichever other
  messages share the batch.

``bench/fuzz.py`` runs the same properties for millions of cases.
"""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.ingest.decode import PREDICTIONS, REASONS, Decoded, Decoder
from tests.fixtures.oracle import verdict

MODELS = {"churn": ("age", "plan")}
MAX_MESSAGE_BYTES = 20_000
MAX_VALUE_LENGTH = 64
FIELDS = ("model", "model_version", "prediction_id", "timestamp", "features", "prediction", "label")

_json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                         st.text(max_size=8))
json_value = st.recursive(_json_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)), max_leaves=8)
literal = st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999", b"9" * 400, b"1e308", b"-0",
                           b"18446744073709551616", b"9223372036854775808", b"true", b"null", b'""', b"{}", b"[]"])
timestamp = st.one_of(
    st.floats(-1e12, 1e13), st.integers(-10**13, 10**13), st.sampled_from([
        -62135596800.0, 253370764800.0, 253370764801.0, 1763800000250, 0, -1e300, 1e300]),
    st.sampled_from(["2025-11-22T08:00:00Z", "2025-11-22T08:00:00+01:00", "2025-11-22T08:00:00", "yesterday",
                     "1763800000", "0001-01-01T00:00:00+14:00", "9998-12-31T23:59:59-12:00", ""]))
text = st.one_of(st.text(max_size=10), st.text(alphabet="xé", min_size=MAX_VALUE_LENGTH - 1,
                                                max_size=MAX_VALUE_LENGTH + 1))
feature = st.one_of(st.none(), st.booleans(), st.floats(allow_nan=True), st.integers(-10**20, 10**20), text)


@st.composite
def valid_event(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = {"model": draw(st.sampled_from(["churn", "churn", "fraud"])),
                             "timestamp": draw(timestamp), "prediction": draw(feature)}
    optional = {"prediction_id": st.one_of(st.none(), st.integers(0, 10**6),
                                           st.text(alphabet="p", min_size=250, max_size=260), st.text(max_size=5)),
                "model_version": st.one_of(st.none(), st.integers(0, 99), text),
                "features": st.one_of(st.none(), st.fixed_dictionaries({}, optional={
                    "age": feature, "plan": feature, "other": json_value})),
                "label": feature, "extra": json_value}
    for key, values in optional.items():
        if draw(st.booleans()):
            event[key] = draw(values)
    return event


def _placeholder(event: dict[str, Any], key: str, raw: bytes) -> bytes:
    """The event as JSON with ``raw`` (bytes that json.dumps cannot write) as the value of ``key``."""
    marker = "\x00MARK\x00"
    if key.startswith("features.") and isinstance(event.get("features"), dict):
        event = dict(event, features=dict(event["features"], **{key.split(".", 1)[1]: marker}))
    else:
        event = dict(event, **{key.split(".", 1)[0]: marker})
    return json.dumps(event, allow_nan=True).encode().replace(json.dumps(marker).encode(), raw)


@st.composite
def mutated(draw: st.DrawFn) -> bytes | None:
    """A valid message, or one changed the ways producers get them wrong."""
    event = draw(valid_event())
    raw = json.dumps(event, allow_nan=True).encode()
    how = draw(st.sampled_from(["none", "truncate", "flip", "nest", "swap", "literal", "wrap", "tombstone"]))
    key = draw(st.sampled_from([*FIELDS, "extra", "features.age", "features.other"]))
    if how == "truncate":
        return raw[:draw(st.integers(0, len(raw)))]
    if how == "flip":
        at = draw(st.integers(0, len(raw) - 1))
        return raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1:]
    if how == "nest":
        depth = draw(st.sampled_from([2, 50, 900, 1200, 5000]))
        opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
        return _placeholder(event, key, opener * depth + (b"1" if opener != b"[" else b"") + closer * depth)
    if how == "swap":
        return _placeholder(event, key, json.dumps(draw(json_value), allow_nan=True).encode())
    if how == "literal":
        return _placeholder(event, key, draw(literal))
    if how == "wrap":
        return draw(st.sampled_from([b"\xef\xbb\xbf", b" \n\t", b"[", b""])) + raw + draw(
            st.sampled_from([b"", b" ", b"]", b"x", b"{}", b"\n"]))
    if how == "tombstone":
        return None
    return raw


def _same(a: Any, b: Any) -> bool:
    """Equal in type and value, NaN equal to NaN (True is not 1.0)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def _accounted(batch: list[bytes | None], out: Decoded) -> None:
    rejected = [r.index for r in out.rejections]
    accepted = out.records.index.tolist()
    assert sorted(rejected + accepted) == list(range(len(batch))), "each message accepted or rejected, once"
    assert all(r.reason in REASONS for r in out.rejections)


def decoder(**kinds: str) -> Decoder:
    return Decoder(PREDICTIONS, {}, MODELS, max_message_bytes=MAX_MESSAGE_BYTES, kinds=kinds,
                   max_value_length=MAX_VALUE_LENGTH)


def check_arbitrary(batch: list[bytes | None]) -> None:
    """The property over arbitrary bytes (shared with bench/fuzz.py)."""
    for d in (decoder(), decoder(age="numeric", plan="categorical")):
        _accounted(batch, d.decode(batch))


def check_mutated(batch: list[bytes | None]) -> None:
    """The property over mutated messages (shared with bench/fuzz.py)."""
    d = decoder()
    out = d.decode(batch)
    _accounted(batch, out)
    reasons = {r.index: r.reason for r in out.rejections}
    rows = {index: row for row, index in enumerate(out.records.index.tolist())}
    records = out.records
    for i, raw in enumerate(batch):
        reason, values = verdict(raw, MODELS, max_message_bytes=MAX_MESSAGE_BYTES, max_value_length=MAX_VALUE_LENGTH)
        assert reasons.get(i) == reason, f"message {i} {raw!r}: decoder says {reasons.get(i)}, reference {reason}"
        if values is None:
            continue
        row = rows[i]
        got = {"model": records.model[row], "timestamp": float(records.timestamp[row]),
               "prediction_id": records.prediction_id[row], "model_version": records.model_version[row],
               "prediction": records.prediction[row], "label": records.label[row],
               "features": {name: records.features[name][row] for name in values["features"]}}
        for key, expected in values.items():
            pairs = zip(got[key].values(), expected.values()) if key == "features" else [(got[key], expected)]
            assert all(_same(a, b) for a, b in pairs), f"message {i} {raw!r}: {key} {got[key]!r} != {expected!r}"
    typed = decoder(age="numeric", plan="categorical").decode(batch)
    _accounted(batch, typed)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.none(), st.binary(max_size=300)), min_size=1, max_size=8))
def test_no_bytes_make_the_decoder_raise(batch: list[bytes | None]) -> None:
    check_arbitrary(batch)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(mutated(), min_size=1, max_size=6))
def test_the_decoder_accepts_what_the_reference_accepts(batch: list[bytes | None]) -> None:
    check_mutated(batch)
