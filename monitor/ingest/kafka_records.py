"""A faster record reader for kafka-python's consumer: a whole v2 record batch parsed in one loop.

kafka-python parses every record of a fetched batch with one Python call per field (a varint
decoder per length, a ``DefaultRecord`` object per record) and then wraps it in a
``ConsumerRecord``: about 8 us of the loop's thread per record, the daemon's largest cost after
decoding JSON. :func:`read_batch` parses the same bytes (message format v2, after
decompression) with the varints decoded inline, and builds the ``ConsumerRecord`` directly:
about a quarter of the time, and the very same records.

:class:`FastPartitionRecords` is kafka-python's ``Fetcher.PartitionRecords`` with the per-record
loop of message format v2 replaced by :func:`read_batch`. Everything else is kafka-python's own:
CRC checks, aborted-transaction and control-batch handling, the position after compacted
batches, legacy (v0/v1) batches, deserializers. :func:`install` puts it on one consumer's fetcher
(not on the class: nothing else in the process changes), and declines, logging why, when the
installed kafka-python does not have the internals it relies on; the consumer then parses as
before. ``tests/monitor/test_kafka_records.py`` compares both readers record by record.

Examples
--------
>>> from kafka.record.memory_records import MemoryRecordsBuilder, MemoryRecords
>>> builder = MemoryRecordsBuilder(magic=2, compression_type=0, batch_size=1 << 20)
>>> _ = builder.append(timestamp=1000, key=b"k", value=b'{"x": 1}', headers=[("h", b"v")])
>>> _ = builder.append(timestamp=1005, key=None, value=None, headers=[])
>>> builder.close()
>>> batch = MemoryRecords(builder.buffer()).next_batch()
>>> [(r.offset, r.timestamp, r.key, r.value, r.headers) for r in read_batch(batch, "t", 0, -1)]
[(0, 1000, b'k', b'{"x": 1}', [('h', b'v')]), (1, 1005, None, None, [])]
"""

from __future__ import annotations

import logging
from typing import Any, Iterator

from kafka.consumer.fetcher import ConsumerRecord, Fetcher
from kafka.errors import CorruptRecordError
from kafka.protocol.consumer import IsolationLevel
from kafka.record.default_records import DefaultRecordBatch

from monitor.ingest.source import UNREADABLE_DETAIL, UnreadableBatch

log = logging.getLogger(__name__)

unreadable_batches = 0
"""Batches skipped as unreadable in this process so far: a source scans its values for markers only when it grew."""

_BatchParts = tuple[bytes, int]


def _batch_bytes(batch: DefaultRecordBatch) -> _BatchParts:
    """The batch's records section, decompressed, and where it starts (kafka-python's own decompression)."""
    batch._maybe_uncompress()  # noqa: SLF001 - the codecs stay kafka-python's
    return bytes(batch._buffer), batch._pos  # noqa: SLF001


def read_batch(batch: DefaultRecordBatch, topic: str, partition: int, leader_epoch: int,
               sizes: list[int] | None = None) -> list[Any]:
    """Every record of a v2 batch as kafka-python's ``ConsumerRecord``, with no deserializers.

    Field for field what kafka-python yields: offset, timestamp (the batch's max timestamp under
    LogAppendTime), timestamp type, key, value, headers, checksum None (v2 has one per batch) and
    the serialized sizes. A record whose fields do not fill its declared length, or bytes left over
    after the last record, raise ``CorruptRecordError`` as kafka-python does. ``sizes``, if given,
    receives each record's size in bytes (kafka-python's ``record.size_in_bytes``).
    """
    buf, pos = _batch_bytes(batch)
    header = batch._header_data  # noqa: SLF001 - unpacked once by kafka-python
    base_offset, first_timestamp, max_timestamp, count = header[0], header[7], header[8], header[12]
    ts_type = batch.timestamp_type
    log_append = ts_type == DefaultRecordBatch.LOG_APPEND_TIME
    records: list[Any] = []
    append = records.append
    size = (sizes if sizes is not None else []).append
    new, record = tuple.__new__, ConsumerRecord  # a namedtuple's own __new__ is a Python call: skip it
    try:
        for _ in range(count):
            # Each varint below is zigzag-encoded, little-endian base 128; most fit in one byte. The five
            # copies of the decoding loop are on purpose: a function call per varint is most of what made
            # kafka-python's reader slow (_varint serves the rare headers).
            x = buf[pos]
            pos += 1
            if x & 0x80:
                x &= 0x7F
                shift = 7
                while True:
                    b = buf[pos]
                    pos += 1
                    x |= (b & 0x7F) << shift
                    if not b & 0x80:
                        break
                    shift += 7
            length = (x >> 1) ^ -(x & 1)
            start = pos
            pos += 1  # attributes: unused in v2 records
            x = buf[pos]
            pos += 1
            if x & 0x80:
                x &= 0x7F
                shift = 7
                while True:
                    b = buf[pos]
                    pos += 1
                    x |= (b & 0x7F) << shift
                    if not b & 0x80:
                        break
                    shift += 7
            timestamp = max_timestamp if log_append else first_timestamp + ((x >> 1) ^ -(x & 1))
            x = buf[pos]
            pos += 1
            if x & 0x80:
                x &= 0x7F
                shift = 7
                while True:
                    b = buf[pos]
                    pos += 1
                    x |= (b & 0x7F) << shift
                    if not b & 0x80:
                        break
                    shift += 7
            offset = base_offset + ((x >> 1) ^ -(x & 1))
            x = buf[pos]
            pos += 1
            if x & 0x80:
                x &= 0x7F
                shift = 7
                while True:
                    b = buf[pos]
                    pos += 1
                    x |= (b & 0x7F) << shift
                    if not b & 0x80:
                        break
                    shift += 7
            key_size = (x >> 1) ^ -(x & 1)
            if key_size >= 0:
                key = buf[pos:pos + key_size]
                pos += key_size
            else:
                key, key_size = None, -1
            x = buf[pos]
            pos += 1
            if x & 0x80:
                x &= 0x7F
                shift = 7
                while True:
                    b = buf[pos]
                    pos += 1
                    x |= (b & 0x7F) << shift
                    if not b & 0x80:
                        break
                    shift += 7
            value_size = (x >> 1) ^ -(x & 1)
            if value_size >= 0:
                value = buf[pos:pos + value_size]
                pos += value_size
            else:
                value, value_size = None, -1
            if buf[pos] == 0:  # no headers: the usual case
                pos += 1
                headers: list[tuple[str, bytes | None]] = []
                header_size = -1
            else:
                headers, header_size, pos = _read_headers(buf, pos)
            if pos - start != length or pos > len(buf):
                raise CorruptRecordError(f"Invalid record size: expected to read {length} bytes in record "
                                         f"payload, but instead read {pos - start}")
            size(length)
            append(new(record, (topic, partition, leader_epoch, offset, timestamp, ts_type, key, value, headers, None,
                                key_size, value_size, header_size)))
    except (ValueError, IndexError) as exc:
        raise CorruptRecordError(f"Found invalid record structure: {exc!r}") from exc
    if pos != len(buf):
        raise CorruptRecordError(f"{len(buf) - pos} unconsumed bytes after all records consumed")
    return records


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    x = 0
    shift = 0
    while True:
        b = buf[pos]
        pos += 1
        x |= (b & 0x7F) << shift
        if not b & 0x80:
            return (x >> 1) ^ -(x & 1), pos
        shift += 7


def _read_headers(buf: bytes, pos: int) -> tuple[list[tuple[str, bytes | None]], int, int]:
    """A record's headers, their serialized size as kafka-python counts it, and the position after them."""
    count, pos = _varint(buf, pos)
    if count < 0:
        raise CorruptRecordError(f"Found invalid number of record headers {count}")
    headers: list[tuple[str, bytes | None]] = []
    size = 0
    for _ in range(count):
        key_len, pos = _varint(buf, pos)
        if key_len < 0:
            raise CorruptRecordError(f"Invalid negative header key size {key_len}")
        key = buf[pos:pos + key_len].decode("utf-8")
        pos += key_len
        value_len, pos = _varint(buf, pos)
        if value_len >= 0:
            value: bytes | None = buf[pos:pos + value_len]
            pos += value_len
        else:
            value = None
        headers.append((key, value))
        size += len(key.encode("utf-8")) + (len(value) if value is not None else 0)
    return headers, (size if headers else -1), pos


class FastPartitionRecords(Fetcher.PartitionRecords):  # type: ignore[misc, name-defined]
    """kafka-python's ``PartitionRecords`` with v2 record batches parsed by :func:`read_batch`.

    ``_unpack_records`` follows kafka-python 3.0's own, batch for batch: CRC check, leader epoch,
    aborted transactions under read_committed, control batches skipped, the position after the
    last batch; only the loop over a v2 batch's records differs. With deserializers it is
    kafka-python's, unchanged.
    """

    def _unpack_records(self, tp: Any, records: Any, key_deserializer: Any,
                        value_deserializer: Any) -> Iterator[Any]:
        if key_deserializer is not None or value_deserializer is not None:
            yield from super()._unpack_records(tp, records, key_deserializer, value_deserializer)
            return
        try:
            batch = records.next_batch()
            last_batch = None
            while batch is not None:
                last_batch = batch
                try:
                    parsed, sizes = self._batch(tp, batch)
                except Exception as exc:  # noqa: BLE001 - a batch the client cannot read is skipped, never fatal
                    parsed, sizes = [self._unreadable(tp, batch, exc)], [0]
                for record, size in zip(parsed, sizes):
                    self.records_read += 1
                    self.bytes_read += size
                    self.next_fetch_offset = record.offset + 1
                    yield record
                batch = records.next_batch()
            # v2 keeps a batch's last offset even when compaction removed its last record: the next
            # fetch starts after the batch, not at its last record (or the same batch comes back forever).
            if last_batch is not None and last_batch.magic == 2:
                self.next_fetch_offset = last_batch.next_offset
            self.drain()
        except StopIteration:  # a StopIteration inside a generator would end it silently (kafka-python #545)
            log.exception("StopIteration raised unpacking messageset")
            raise RuntimeError("StopIteration raised unpacking messageset")

    def _batch(self, tp: Any, batch: Any) -> tuple[list[Any], list[int]]:
        """The records of one batch (none for a control or aborted batch) and their sizes; raises if unreadable."""
        if self.check_crcs and not batch.validate_crc():
            raise CorruptRecordError(f"Record batch for partition {self.topic_partition} at offset "
                                     f"{batch.base_offset} failed crc check")
        if batch.magic != 2:
            return self._legacy(tp, batch)
        self.leader_epoch = batch.leader_epoch
        if self.isolation_level == IsolationLevel.READ_COMMITTED and batch.has_producer_id():
            self._consume_aborted_transactions_up_to(batch.last_offset)
            if self._contains_abort_marker(batch):
                self.aborted_producer_ids.discard(batch.producer_id)
            elif self._is_batch_aborted(batch):
                self.next_fetch_offset = batch.next_offset
                return [], []
        if batch.is_control_batch:
            self.next_fetch_offset = batch.next_offset
            return [], []
        sizes: list[int] = []
        return read_batch(batch, tp.topic, tp.partition, self.leader_epoch, sizes), sizes

    def _unreadable(self, tp: Any, batch: Any, exc: Exception) -> Any:
        """The stand-in record of a batch that raised: at its last offset, valued an :class:`UnreadableBatch`."""
        global unreadable_batches
        unreadable_batches += 1
        first = int(batch.base_offset)
        end = int(getattr(batch, "next_offset", first + 1))  # a v0/v1 wrapper has the offset of its last record
        detail = f"{type(exc).__name__}: {exc}"[:UNREADABLE_DETAIL]
        log.error("unreadable record batch topic=%s partition=%d offsets=%d-%d skipped: %s", tp.topic, tp.partition,
                  first, end - 1, detail)
        try:
            raw = bytes(batch._buffer)  # noqa: SLF001 - the batch as fetched, for the dead letter
        except Exception:  # noqa: BLE001 - without its bytes the dead letter is empty
            raw = b""
        return ConsumerRecord(tp.topic, tp.partition, self.leader_epoch, end - 1, -1, 0, None,
                              UnreadableBatch(detail, raw, first, end), [], None, -1, -1, -1)

    def _legacy(self, tp: Any, batch: Any) -> tuple[list[Any], list[int]]:
        """A v0/v1 message set, record by record as kafka-python reads it, and the records' sizes."""
        records, sizes = [], []
        for record in batch:
            if self.check_crcs and not record.validate_crc():
                raise CorruptRecordError(f"Record for partition {self.topic_partition} at offset {record.offset} "
                                         "failed crc check")
            key, value, headers = record.key, record.value, record.headers
            header_size = sum(len(k.encode("utf-8")) + (len(v) if v is not None else 0)
                              for k, v in headers) if headers else -1
            sizes.append(record.size_in_bytes)
            records.append(ConsumerRecord(tp.topic, tp.partition, self.leader_epoch, record.offset, record.timestamp,
                                          record.timestamp_type, key, value, headers, record.checksum,
                                          len(key) if key is not None else -1, len(value) if value is not None else -1,
                                          header_size))
        return records, sizes


def install(consumer: Any) -> bool:
    """Make ``consumer`` (a kafka-python ``KafkaConsumer``) parse v2 batches with :func:`read_batch`.

    Only this consumer's fetcher changes. Returns False, and logs why, when this kafka-python lacks
    what :class:`FastPartitionRecords` relies on; the consumer then parses records as before.
    """
    fetcher = getattr(consumer, "_fetcher", None)
    missing = [name for name in _RELIED_ON if not hasattr(Fetcher.PartitionRecords, name)]
    if fetcher is None or missing or not hasattr(DefaultRecordBatch, "_maybe_uncompress"):
        log.warning("kafka-python %s: the fast record reader is off (missing %s); records are parsed by "
                    "kafka-python", _kafka_version(), ", ".join(missing) or "Fetcher internals")
        return False
    fetcher.PartitionRecords = FastPartitionRecords
    return True


_RELIED_ON = ("_unpack_records", "_consume_aborted_transactions_up_to", "_contains_abort_marker",
              "_is_batch_aborted", "drain")


def _kafka_version() -> str:
    import kafka

    return str(getattr(kafka, "__version__", "?"))
