"""Consume and decode: takes Kafka partitions' raw bytes and hands on typed columns per batch.

The sources (:mod:`.source`'s shared base; kafka-python in :mod:`.kafka_python` with its record
reader :mod:`.kafka_records`; librdkafka in :mod:`.confluent`) poll raw batches and copy rejected
messages to the dead-letter topic; :mod:`.decode` turns a batch into :class:`~.decode.Records`
(columns, with every unusable message rejected by reason), in a child process
(:mod:`.decode_worker`) in the daemon; :mod:`.columns` gives each feature its typed numpy column.
"""
