"""Replay a JSON-lines file of driftd messages (docs/input.md) into Kafka, as an application would log them.

Used by the compose stack's ``sample-traffic`` service with the bundled churn sample
(config/data/churn_events.jsonl), and usable from the host against the published listener::

    python deploy/produce_sample.py --bootstrap-servers 127.0.0.1:9092 config/data/churn_events.jsonl

A line with ``label`` and no ``features`` goes to the labels topic, every other line (predictions,
and the sample's deliberately unusable lines) to the predictions topic, byte for byte. The key is
the ``model`` field when there is one, so each model's events stay in one partition.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Iterable, Iterator


def route(lines: Iterable[bytes], predictions: str, labels: str) -> Iterator[tuple[str, bytes | None, bytes]]:
    """Yield ``(topic, key, value)`` for each non-blank line."""
    for raw in lines:
        value = raw.rstrip(b"\r\n")
        if not value.strip():
            continue
        try:
            message = json.loads(value)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            yield predictions, None, value
            continue
        model = message.get("model")
        key = model.encode() if isinstance(model, str) else None
        is_label = "label" in message and "features" not in message
        yield (labels if is_label else predictions), key, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path, help="JSON lines: prediction, feature and label messages")
    parser.add_argument("--bootstrap-servers", default="127.0.0.1:9092")
    parser.add_argument("--predictions-topic", default="ml.predictions")
    parser.add_argument("--labels-topic", default="ml.labels")
    parser.add_argument("--rate", type=float, default=0.0, help="messages per second (0: as fast as possible)")
    args = parser.parse_args(argv)

    from kafka import KafkaProducer  # imported here so route() is usable without kafka-python

    producer = KafkaProducer(bootstrap_servers=args.bootstrap_servers, acks="all", linger_ms=20,
                             client_id="driftd-sample-traffic")
    counts: dict[str, int] = {}
    started = time.monotonic()
    with args.input.open("rb") as lines:
        for index, (topic, key, value) in enumerate(route(lines, args.predictions_topic, args.labels_topic)):
            if args.rate > 0:
                delay = started + index / args.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            producer.send(topic, key=key, value=value)
            counts[topic] = counts.get(topic, 0) + 1
    producer.flush()
    producer.close()
    sent = ", ".join(f"{n:,} to {topic}" for topic, n in sorted(counts.items())) or "nothing"
    print(f"sent {sent} in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
