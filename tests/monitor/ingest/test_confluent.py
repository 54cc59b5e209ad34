"""What only the confluent-kafka client needs proving; tests/monitor/test_source.py runs every shared scenario on it.

Here: librdkafka's own consumer errors, its settings, and choosing the client in the config.

Tansu 0.6 with librdkafka (confluent-kafka 2.16.1, librdkafka 2.16.0), beyond what
tests/fixtures/kafka.py lists for kafka-python, all of which holds here too:

- **ListOffsets "latest"** undercounts the same way through librdkafka: ``offsets_for_times``
  with -1 and ``get_watermark_offsets(cached=False)`` both answer the last batch's base offset
  + 1 (30 records in one batch: 1). The high watermark a fetch brought
  (``get_watermark_offsets(cached=True)``) is right, so ``lag`` and ``log_ends`` take the larger.
- **No OFFSET_OUT_OF_RANGE past the end**, so ``auto.offset.reset=error`` never fires on Tansu:
  a position past the log end waits silently (the out-of-range tests simulate librdkafka's
  ``_AUTO_OFFSET_RESET`` message instead).
- **Metadata auto-creates**: ``list_topics(topic)`` (``log_ends``, the dead-letter start check)
  creates a missing topic with 4 partitions, as kafka-python's metadata requests do.
- **After** ``restart()`` the group is unknown: librdkafka reports the assignment lost
  (``on_lost``), rejoins and gets the partitions again; stored offsets past the new, empty log
  wait silently (above). Connection refusals are logged by librdkafka at ERROR meanwhile.
- Group join, heartbeats, LeaveGroup on close, OffsetCommit/OffsetFetch, headers, tombstones and
  eager range assignment behave like Kafka. Measured: subscribe to first ``on_assign`` about 2.5 s
  at ``session.timeout.ms=3000`` (JoinGroup waits about half of it, as with kafka-python);
  ``close()`` with LeaveGroup ~2 ms.

The client itself, whatever the broker (each handled in monitor/ingest/confluent.py):

- librdkafka **joins the group when it subscribes** (in the constructor); kafka-python at the first
  poll. A constructed but unpolled member holds partitions it does not read.
- ``Consumer.assignment()`` **waits for librdkafka holding the GIL**; called from another thread
  while the polling thread serves a rebalance callback it deadlocked. The source records its
  assignment itself.
- **A ``consume`` call goes on after serving a rebalance callback**: the call that runs
  ``on_assign`` typically returns the first messages fetched from the new positions too (seen
  here), and by librdkafka's code (``rd_kafka_q_serve_rkmessages``) messages gathered before a
  revocation are purged only if the partition's version barrier reaches the queue before the
  call ends (not seen). The source drops a poll's messages after any rebalance and seeks back.
- An exception raised in a rebalance callback does not stop ``consume``: it gathers until its
  timeout and then discards everything, including messages of partitions just assigned (and a
  later ``close()`` hung). So the callbacks never raise to steer the client; the caller's own
  exception still comes out of ``poll`` as itself.
- After ``_AUTO_OFFSET_RESET`` librdkafka has stopped fetching the partition: ``seek`` fails
  (``_STATE``); only a new ``assign`` with the offset resumes it.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest
from confluent_kafka import KafkaError, Message

from monitor.config import ConfigError, parse_config
from monitor.config.masking import Secret
from monitor.config.model import KafkaConfig, TopicsConfig
from monitor.ingest import confluent as source_confluent
from monitor.ingest.confluent import ConfluentSource, client_settings, consumer_settings
from monitor.ingest.source import KafkaSourceError
from tests.fixtures.kafka import TansuBroker
from tests.fixtures.sources import OutOfRangeOnce, Recorder, kafka_config, open_source, poll_until


def test_other_consumer_errors_raise_a_driftd_error(kafka_broker: TansuBroker, topic_name: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """An error librdkafka does not recover from (here: authorization) stops the poll; a transient one is logged."""
    topic = kafka_broker.create_topic(topic_name)
    with open_source(kafka_config(kafka_broker, topic, "confluent"), Recorder()) as source:
        poll_until(source, lambda _: bool(source.assignment()))
        fake = OutOfRangeOnce(source._consumer, topic, 0)
        fake.error = Message(topic=topic, partition=0, error=KafkaError(KafkaError._TRANSPORT))
        monkeypatch.setattr(source, "_consumer", fake)
        assert source.poll(50) == []
        fake.error = Message(topic=topic, error=KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))
        with pytest.raises(KafkaSourceError, match="polling Kafka failed: .*[Aa]uthoriz"):
            source.poll(50)


# --- settings and selection ---------------------------------------------------------------------------


def test_settings_map_security_to_librdkafka_and_reveal_secrets_only_there() -> None:
    config = KafkaConfig(bootstrap_servers="k1:9093, k2:9093", topics=TopicsConfig("p"), group_id="g",
                         security_protocol="SASL_SSL", ssl_cafile="/ca.pem", ssl_certfile="/c.pem",
                         ssl_keyfile="/k.pem", ssl_password=Secret("key-pass"), sasl_mechanism="SCRAM-SHA-512",
                         sasl_plain_username="driftd", sasl_plain_password=Secret("sasl-pass"),
                         session_timeout_ms=9000, max_poll_records=2500, client="confluent")
    settings = consumer_settings(config, "driftd")
    assert client_settings(config, "driftd").items() <= settings.items()
    assert settings["bootstrap.servers"] == "k1:9093,k2:9093"
    assert {key: settings[key] for key in ("security.protocol", "ssl.ca.location", "ssl.certificate.location",
                                           "ssl.key.location", "ssl.key.password", "sasl.mechanisms",
                                           "sasl.username", "sasl.password")} == {
        "security.protocol": "sasl_ssl", "ssl.ca.location": "/ca.pem", "ssl.certificate.location": "/c.pem",
        "ssl.key.location": "/k.pem", "ssl.key.password": "key-pass", "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "driftd", "sasl.password": "sasl-pass"}
    assert (settings["group.id"], settings["session.timeout.ms"], settings["heartbeat.interval.ms"]) == (
        "g", 9000, 3000)
    assert settings["enable.auto.commit"] is False and settings["enable.auto.offset.store"] is False
    assert settings["auto.offset.reset"] == "error"
    assert "cooperative" not in settings["partition.assignment.strategy"]
    assert "sasl-pass" not in repr(config) and "key-pass" not in repr(config)


def test_librdkafka_accepts_every_setting(kafka_broker: TansuBroker, topic_name: str) -> None:
    """librdkafka checks property names and values when the client is made: SSL/SASL ones included."""
    from confluent_kafka import Consumer

    config = KafkaConfig(bootstrap_servers=kafka_broker.bootstrap, topics=TopicsConfig("p"),
                         security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN", sasl_plain_username="u",
                         sasl_plain_password=Secret("p"), client="confluent")
    Consumer(consumer_settings(config, "driftd")).close()


def config_with(client: str | None) -> dict[str, Any]:
    kafka: dict[str, Any] = {"bootstrap_servers": "k:9092", "topics": {"predictions": "p"}}
    if client is not None:
        kafka["client"] = client
    return {"kafka": kafka, "models": [{"name": "churn", "task": "binary_classification",
                                        "reference": {"path": "ref.csv"}, "window": {"size": "1h"}}]}


def test_config_selects_the_client_and_names_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_config(config_with(None), "t.yaml").kafka.client == "kafka-python"
    assert parse_config(config_with("confluent"), "t.yaml").kafka.client == "confluent"
    with pytest.raises(ConfigError, match=r"t\.yaml: kafka\.client: unknown Kafka client 'librdkafka'; "
                                          r"expected one of kafka-python, confluent"):
        parse_config(config_with("librdkafka"), "t.yaml")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)  # as if the extra were missing
    with pytest.raises(ConfigError, match=r"kafka\.client: confluent needs the confluent-kafka package.*"
                                          r"pip install 'driftd\[fast\]'"):
        parse_config(config_with("confluent"), "t.yaml")


def test_a_missing_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setattr(source_confluent, "_MISSING", ImportError("No module named 'confluent_kafka'"))
    config = KafkaConfig(bootstrap_servers="k:9092", topics=TopicsConfig("p"), client="confluent")
    with pytest.raises(KafkaSourceError, match=r"pip install 'driftd\[fast\]'"):
        ConfluentSource(config, ["p"], on_assign=lambda _: {}, on_revoke=lambda _: None)
