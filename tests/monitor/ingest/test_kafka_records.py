"""The fast record reader yields exactly what kafka-python's own reader yields, batch for batch, record for record."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka import TopicPartition
from kafka.consumer.fetcher import Fetcher
from kafka.errors import CorruptRecordError
from kafka.record.memory_records import MemoryRecords, MemoryRecordsBuilder

from monitor.ingest import kafka_records
from monitor.ingest.kafka_records import FastPartitionRecords, install, read_batch
from monitor.ingest.source import UnreadableBatch

TP = TopicPartition("events", 3)
GZIP = 1

Record = tuple[int, bytes | None, bytes | None, list[tuple[str, bytes | None]]]


def batch_bytes(records: list[Record], *, offset: int = 0, magic: int = 2, compression: int = 0) -> bytes:
    builder = MemoryRecordsBuilder(magic=magic, compression_type=compression, batch_size=1 << 24, offset=offset)
    for timestamp, key, value, headers in records:
        assert builder.append(timestamp=timestamp, key=key, value=value,
                              headers=headers if magic == 2 else []) is not None
    builder.close()
    return bytes(builder.buffer())


def unpack(cls: Any, buffer: bytes, fetch_offset: int = 0, take: int | None = None, **kwargs: Any) -> Any:
    parts = cls(fetch_offset, TP, MemoryRecords(buffer), **kwargs)
    return parts, parts.take(take)


def both(buffer: bytes, **kwargs: Any) -> tuple[list[Any], list[Any]]:
    theirs, expected = unpack(Fetcher.PartitionRecords, buffer, **kwargs)
    ours, got = unpack(FastPartitionRecords, buffer, **kwargs)
    assert (ours.next_fetch_offset, ours.records_read, ours.bytes_read, ours.leader_epoch) == \
        (theirs.next_fetch_offset, theirs.records_read, theirs.bytes_read, theirs.leader_epoch)
    return expected, got


def json_events(n: int, start: int = 0) -> list[Record]:
    return [(1_700_000_000_000 + i, None, b'{"model": "m", "timestamp": %d, "x": %d}' % (i, i), [])
            for i in range(start, start + n)]


@pytest.mark.parametrize("compression", [0, GZIP], ids=["none", "gzip"])  # kafka-python codecs: gzip needs no extra
def test_plain_batches_read_the_same(compression: int) -> None:
    buffer = (batch_bytes(json_events(300), compression=compression)
              + batch_bytes(json_events(200, 300), offset=300, compression=compression))
    expected, got = both(buffer)
    assert len(got) == 500 and got == expected
    assert [r.offset for r in got] == list(range(500))


def test_keys_nulls_headers_and_large_varints_read_the_same() -> None:
    records: list[Record] = [
        (0, b"", b"", []),
        (1, b"key", None, [("h", b"v"), ("empty", b""), ("null", None)]),
        (2**40, None, b"x" * 70_000, [("\u00e9t\u00e9", b"\x00\xff")]),  # multi-byte varints, a non-ASCII key
        (-5, b"k" * 200, b"v", [("h" * 300, b"w" * 300)]),
    ]
    expected, got = both(batch_bytes(records))
    assert got == expected
    assert got[1].headers == [("h", b"v"), ("empty", b""), ("null", None)] and got[1].value is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**50), st.none() | st.binary(max_size=300),
                          st.none() | st.binary(max_size=3000),
                          st.lists(st.tuples(st.text(max_size=20), st.none() | st.binary(max_size=50)), max_size=3)),
                min_size=1, max_size=40),
       st.integers(0, 2**31 - 100), st.sampled_from([0, GZIP]))
def test_any_batch_reads_the_same(records: list[Record], base: int, compression: int) -> None:
    expected, got = both(batch_bytes(records, offset=base, compression=compression), fetch_offset=base)
    assert got == expected and len(got) == len(records)


def test_a_fetch_from_inside_a_batch_skips_the_records_before_it() -> None:
    buffer = batch_bytes(json_events(100), offset=1000)
    expected, got = both(buffer, fetch_offset=1040)
    assert got == expected and got[0].offset == 1040 and len(got) == 60


def test_take_in_steps_moves_the_position_record_by_record() -> None:
    buffer = batch_bytes(json_events(50)) + batch_bytes(json_events(50, 50), offset=50)
    theirs = Fetcher.PartitionRecords(0, TP, MemoryRecords(buffer))
    ours = FastPartitionRecords(0, TP, MemoryRecords(buffer))
    for _ in range(4):
        assert ours.take(30) == theirs.take(30)
        assert ours.next_fetch_offset == theirs.next_fetch_offset
    assert not ours and not theirs  # both drained after the last record


def test_legacy_message_sets_read_the_same() -> None:
    for magic in (0, 1):
        buffer = batch_bytes([(1000 + i, b"k%d" % i, b"v%d" % i, []) for i in range(20)], magic=magic)
        expected, got = both(buffer)
        assert got == expected and len(got) == 20


def test_log_append_time_uses_the_batch_max_timestamp() -> None:
    buffer = bytearray(batch_bytes(json_events(5)))
    attributes_at = 21  # base offset (8), length (4), leader epoch (4), magic (1), crc (4)
    struct.pack_into(">h", buffer, attributes_at, struct.unpack_from(">h", buffer, attributes_at)[0] | 0x08)
    expected, got = both(bytes(buffer), check_crcs=False)  # the flipped bit breaks the CRC
    assert got == expected
    assert {r.timestamp for r in got} == {1_700_000_000_004} and got[0].timestamp_type == 1


def test_a_corrupt_record_makes_its_batch_one_stand_in_where_kafka_python_raises() -> None:
    buffer = bytearray(batch_bytes(json_events(3)))
    buffer[61] = 0x7E  # the first record's length varint, now 63: not what its fields take
    data = bytes(buffer) + batch_bytes(json_events(2, 3), offset=3)
    with pytest.raises(CorruptRecordError):
        Fetcher.PartitionRecords(0, TP, MemoryRecords(data), check_crcs=False).take()
    parts = FastPartitionRecords(0, TP, MemoryRecords(data), check_crcs=False)
    got = parts.take()
    assert [r.offset for r in got] == [2, 3, 4] and parts.next_fetch_offset == 5
    stand_in = got[0].value
    assert isinstance(stand_in, UnreadableBatch) and "CorruptRecordError" in stand_in.detail
    assert (stand_in.first_offset, stand_in.next_offset, stand_in.raw) == (0, 3, bytes(buffer))
    assert [r.value for r in got[1:]] == [v for _, _, v, _ in json_events(2, 3)]


@pytest.mark.parametrize("fault", ["crc", "codec"])
def test_an_unreadable_batch_between_good_ones_is_skipped(fault: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad CRC, or a payload its codec cannot decompress (as a broker stores what a broken producer sent)."""
    import kafka.record.default_records as default_records

    if fault == "crc":
        middle = bytearray(batch_bytes(json_events(4, 2), offset=2))
        middle[-1] ^= 0xFF
    else:
        monkeypatch.setattr(default_records, "gzip_encode", lambda data: b"\x1f\x8bnot gzip at all")
        middle = bytearray(batch_bytes(json_events(4, 2), offset=2, compression=GZIP))
        monkeypatch.undo()
    data = batch_bytes(json_events(2)) + bytes(middle) + batch_bytes(json_events(3, 6), offset=6)
    before = kafka_records.unreadable_batches
    parts = FastPartitionRecords(0, TP, MemoryRecords(data))
    got = parts.take()
    assert [r.offset for r in got] == [0, 1, 5, 6, 7, 8] and parts.next_fetch_offset == 9
    assert [type(r.value) for r in got].count(UnreadableBatch) == 1 and isinstance(got[2].value, UnreadableBatch)
    assert kafka_records.unreadable_batches == before + 1


def test_control_batches_are_skipped_and_move_the_position() -> None:
    buffer = bytearray(batch_bytes(json_events(2)))
    struct.pack_into(">h", buffer, 21, 0x20)  # the control bit on a plain batch: kafka-python skips it whole
    data = bytes(buffer) + batch_bytes(json_events(3, 2), offset=2)
    expected, got = both(data, check_crcs=False)
    assert got == expected and [r.offset for r in got] == [2, 3, 4]


def test_read_batch_reports_sizes() -> None:
    batch = MemoryRecords(batch_bytes(json_events(4))).next_batch()
    sizes: list[int] = []
    records = read_batch(batch, "t", 0, -1, sizes)
    again = [record.size_in_bytes for record in MemoryRecords(batch_bytes(json_events(4))).next_batch()]
    assert len(records) == 4 and sizes == again


def test_install_changes_only_that_consumer() -> None:
    class Consumer:
        def __init__(self) -> None:
            self._fetcher = type("FakeFetcher", (), {"PartitionRecords": Fetcher.PartitionRecords})()

    one, other = Consumer(), Consumer()
    assert install(one)
    assert one._fetcher.PartitionRecords is FastPartitionRecords
    assert other._fetcher.PartitionRecords is Fetcher.PartitionRecords
    assert Fetcher.PartitionRecords is not FastPartitionRecords
    assert not install(object())  # no fetcher: declined, parsed as before
