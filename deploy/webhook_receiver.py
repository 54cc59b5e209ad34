"""A stand-in for a retraining pipeline: receives driftd's webhooks (docs/webhooks.md) and logs them.

Standard library only, so it runs on a bare ``python:3.11-slim``::

    DRIFTD_WEBHOOK_SECRET=... python webhook_receiver.py --port 8080

Every POST is checked the way a real receiver should:

- ``X-Driftd-Signature: t=<unix seconds>,v1=<hex>`` must be HMAC-SHA256 over ``f"{t}.{raw_body}"``
  with the shared secret (when ``DRIFTD_WEBHOOK_SECRET`` is set), and ``t`` within
  ``--tolerance`` seconds of now: otherwise 401, which driftd does not retry.
- ``Idempotency-Key`` seen before: 200 and logged as a duplicate (delivery is at least once).
- Otherwise 204, and one line with the alert's kind, model, window and reasons.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import logging
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger("webhook-receiver")
MAX_BODY = 1 << 20


def verify_signature(header: str | None, body: bytes, secret: str, now: float, tolerance: float) -> str | None:
    """Return None when ``header`` signs ``body`` with ``secret`` recently enough, else what is wrong."""
    if not header:
        return "no X-Driftd-Signature header"
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    stamp, given = parts.get("t", ""), parts.get("v1", "")
    if not stamp.isdigit() or not given:
        return "malformed X-Driftd-Signature header"
    if tolerance > 0 and abs(now - int(stamp)) > tolerance:
        return f"signature timestamp is {abs(now - int(stamp)):.0f}s away from now"
    expected = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given):
        return "signature does not match (is DRIFTD_WEBHOOK_SECRET the same on both sides?)"
    return None


class Receiver(ThreadingHTTPServer):
    """The HTTP server, holding the secret and the idempotency keys already seen."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], secret: str | None, tolerance: float) -> None:
        super().__init__(address, _Handler)
        self.secret = secret
        self.tolerance = tolerance
        self.seen: set[str] = set()
        self.lock = threading.Lock()
        self.received: list[dict[str, object]] = []


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return self._answer(413, "body too large")
        body = self.rfile.read(length)
        if self.server.secret:
            problem = verify_signature(self.headers.get("X-Driftd-Signature"), body, self.server.secret,
                                       time.time(), self.server.tolerance)
            if problem:
                log.warning("rejected %s: %s", self.path, problem)
                return self._answer(401, problem)
        try:
            alert = json.loads(body)
        except ValueError:
            return self._answer(400, "body is not JSON")
        if not isinstance(alert, dict):
            return self._answer(400, "body is not a JSON object")
        key = self.headers.get("Idempotency-Key") or str(alert.get("id", ""))
        with self.server.lock:
            duplicate = key in self.server.seen
            self.server.seen.add(key)
            if not duplicate:
                self.server.received.append(alert)
        if duplicate:
            log.info("duplicate %s (already handled)", key)
            return self._answer(200, "duplicate")
        window = alert.get("window") if isinstance(alert.get("window"), dict) else {}
        reasons = alert.get("reasons") if isinstance(alert.get("reasons"), list) else []
        why = "; ".join(_reason(r) for r in reasons[:5] if isinstance(r, dict)) or "-"
        log.info("ALERT %s kind=%s model=%s window=%s..%s events=%s why: %s", key, alert.get("kind"),
                 alert.get("model"), window.get("start"), window.get("end"), window.get("events"), why)
        self._answer(204, "")

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/healthz":
            return self._answer(200, "ok")
        self._answer(404, "POST alerts here")

    def _answer(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if status != 204:
            self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
        log.debug("%s " + format, self.address_string(), *args)


def _reason(reason: dict[str, object]) -> str:
    subject = " ".join(str(reason[k]) for k in ("feature", "metric", "statistic") if reason.get(k)) or "model"
    return f"{subject}={_number(reason.get('value'))} (threshold {_number(reason.get('threshold'))})"


def _number(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--tolerance", type=float, default=300.0,
                        help="largest accepted age of a signature, seconds (0: no check)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(message)s")
    secret = os.environ.get("DRIFTD_WEBHOOK_SECRET") or None
    server = Receiver((args.host, args.port), secret, args.tolerance)
    log.info("listening on %s:%d; signatures %s", args.host, server.server_address[1],
             "checked" if secret else "NOT checked (DRIFTD_WEBHOOK_SECRET is not set)")
    signal.signal(signal.SIGTERM, _stop)  # as a container's PID 1, SIGTERM is otherwise ignored
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
