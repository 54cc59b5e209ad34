"""The demo's traffic (step 4): the topics, then churn predictions and labels sent in real time."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from typing import Any, Callable

from monitor.demo.settings import LABEL_DELAY_S, LABEL_SHARE, TICK_S, TOPICS, DemoError, DemoOptions
from monitor.demo.synthetic import ChurnTraffic


def create_topics(bootstrap: str) -> None:
    """Create the prediction and label topics."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="driftd-demo")
        try:
            admin.create_topics([NewTopic(name, partitions, 1) for name, partitions in TOPICS.values()])
        finally:
            admin.close()
    except KafkaError as exc:
        raise DemoError(f"creating the topics on {bootstrap} failed: {exc}") from None


class Traffic(threading.Thread):
    """Sends churn predictions in real time, and half of their labels ``LABEL_DELAY_S`` later.

    Each tick of ``TICK_S`` sends the events stamped within it (``ChurnTraffic`` seeded per tick,
    so the stream is reproducible); events stamped from ``drift_at`` on have drifted inputs.
    """

    def __init__(self, bootstrap: str, options: DemoOptions, start: float, drift_at: float,
                 on_drift: Callable[[float], None]) -> None:
        super().__init__(name="demo-traffic", daemon=True)
        self.bootstrap, self.options, self.start_at, self.drift_at = bootstrap, options, start, drift_at
        self.on_drift = on_drift
        self.halt = threading.Event()
        self.predictions = self.labels = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        from kafka import KafkaProducer

        try:
            producer = KafkaProducer(bootstrap_servers=self.bootstrap, client_id="driftd-demo-traffic", linger_ms=20)
        except Exception as exc:  # noqa: BLE001 - reported by the main thread, which stops the demo
            self.error = exc
            return
        try:
            self._send(producer)
        except Exception as exc:  # noqa: BLE001 - as above
            self.error = exc
        finally:
            producer.close(timeout=5)

    def _send(self, producer: Any) -> None:
        predictions_topic, labels_topic = TOPICS["predictions"][0], TOPICS["labels"][0]
        waiting: deque[tuple[float, bytes]] = deque()  # labels, by the wall time they are due
        tick, t, owed = 0, self.start_at, 0.0
        drift_told = False
        while not self.halt.is_set():
            now = time.time()
            if now < t + TICK_S:
                self.halt.wait(t + TICK_S - now)
                continue
            owed += self.options.rate * TICK_S
            n = int(owed)
            owed -= n
            traffic = ChurnTraffic(seed=self.options.seed * 1_000_003 + 1000 + tick)
            for message in traffic.messages(t, TICK_S, (n + 0.5) / TICK_S, self.drift_at, LABEL_SHARE, LABEL_DELAY_S):
                message["prediction_id"] = f"{tick}-{message['prediction_id']}"
                value = json.dumps(message).encode()
                if "label" in message:
                    waiting.append((float(message["timestamp"]), value))  # type: ignore[arg-type]
                else:
                    producer.send(predictions_topic, value)
                    self.predictions += 1
            while waiting and waiting[0][0] <= now:
                producer.send(labels_topic, waiting.popleft()[1])
                self.labels += 1
            if not drift_told and t + TICK_S > self.drift_at:
                drift_told = True
                self.on_drift(self.drift_at)
            t, tick = t + TICK_S, tick + 1
        producer.flush(timeout=5)

    def stop(self, hurry: threading.Event | None = None, wait_s: float = 15.0) -> None:
        """Stop sending and wait for the last sends to be flushed, up to ``wait_s`` or until ``hurry`` is set."""
        self.halt.set()
        deadline = time.monotonic() + wait_s
        while self.is_alive() and time.monotonic() < deadline and not (hurry is not None and hurry.is_set()):
            self.join(timeout=0.05)
