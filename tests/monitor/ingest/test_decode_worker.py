"""The decoding process: same results as decoding in-process, in order, and nothing lost when it dies."""

from __future__ import annotations

import os
import signal

import pytest

from monitor.ingest.decode import Decoder
from monitor.ingest.decode_worker import Decoding

MODELS = {"m": ("x", "color")}
KINDS = {"x": "numeric", "color": "categorical"}


def message(i: int) -> bytes:
    return (b'{"model": "m", "timestamp": %d, "prediction_id": "p%d", "prediction": 0.5, '
            b'"features": {"x": %d, "color": "c%d"}}' % (i, i, i, i % 3))


def batch(first: int, n: int) -> list[bytes | None]:
    return [message(i) for i in range(first, first + n)]


def decoders() -> dict[str, Decoder]:
    return {"predictions": Decoder("predictions", {}, MODELS, kinds=KINDS),
            "labels": Decoder("labels", {}, MODELS, kinds=KINDS)}


@pytest.fixture
def decoding() -> Decoding:
    d = Decoding(decoders(), process=True)
    yield d
    d.close()


def test_results_come_back_in_order_and_equal_to_in_process(decoding: Decoding) -> None:
    local = decoders()["predictions"]
    batches = [batch(k * 100, 50 + k) for k in range(6)]
    batches[3] = batches[3][:10] + [b"not json", None] + batches[3][10:]
    for k, values in enumerate(batches):
        decoding.submit("predictions", values, k)
    assert len(decoding) == 6
    for k, values in enumerate(batches):
        tag, got = decoding.next()
        want = local.decode(values)
        assert tag == k
        assert got.records.prediction_id == want.records.prediction_id
        assert got.records.features["x"].tolist() == want.records.features["x"].tolist()
        assert got.records.features["color"].tolist() == want.records.features["color"].tolist()
        assert got.records.index.tolist() == want.records.index.tolist()
        assert [(r.index, r.reason) for r in got.rejections] == [(r.index, r.reason) for r in want.rejections]
    assert len(decoding) == 0 and not decoding.in_process


def test_a_dead_child_loses_nothing(decoding: Decoding) -> None:
    decoding.submit("predictions", batch(0, 10), 0)
    _, first = decoding.next()
    # Stopped first, so the child cannot answer the next three batches before it dies (unstopped, it
    # sometimes answered all of them before the SIGKILL landed, and nothing was left to recover).
    os.kill(decoding._child.pid, signal.SIGSTOP)
    for k in range(1, 4):
        decoding.submit("predictions", batch(k * 10, 10), k)
    os.kill(decoding._child.pid, signal.SIGKILL)  # the three batches it held are decoded here
    decoding._child.join(10)
    ids = [decoding.next()[1].records.prediction_id for _ in range(3)]
    assert first.records.prediction_id == [f"p{i}" for i in range(10)]
    assert ids == [[f"p{i}" for i in range(k * 10, k * 10 + 10)] for k in (1, 2, 3)]
    assert decoding.in_process
    decoding.submit("predictions", batch(40, 2), 4)
    assert decoding.next()[1].records.prediction_id == ["p40", "p41"]


def test_discard_drops_what_was_submitted_and_the_next_batch_lines_up(decoding: Decoding) -> None:
    decoding.submit("predictions", batch(0, 5), 0)
    decoding.submit("predictions", batch(5, 5), 1)
    decoding.discard()
    assert len(decoding) == 0
    decoding.submit("predictions", batch(100, 3), 2)
    assert decoding.next()[1].records.prediction_id == ["p100", "p101", "p102"]
    assert not decoding.in_process


def test_configure_applies_to_later_batches_only(decoding: Decoding) -> None:
    decoding.submit("predictions", batch(0, 2), 0)
    decoding.configure({"predictions": Decoder("predictions", {}, {"other": ("x",)})})
    decoding.submit("predictions", batch(2, 2), 1)
    assert len(decoding.next()[1].records) == 2
    _, later = decoding.next()
    assert len(later.records) == 0 and {r.reason for r in later.rejections} == {"unknown_model"}


def test_a_hung_child_is_given_up_on_and_its_batches_decoded_here() -> None:
    d = Decoding(decoders(), process=True, result_timeout_s=1.0)
    try:
        os.kill(d._child.pid, signal.SIGSTOP)
        d.submit("predictions", batch(0, 3), 0)
        assert d.next()[1].records.prediction_id == ["p0", "p1", "p2"]
        assert d.in_process
    finally:
        d.close()


def test_in_process_decoding_needs_no_child() -> None:
    d = Decoding(decoders(), process=False)
    d.submit("labels", [b'{"model": "m", "prediction_id": "p1", "timestamp": 3, "label": 1}'], "t")
    tag, decoded = d.next()
    assert d.in_process and tag == "t" and decoded.records.label == [1.0]
    d.close()
