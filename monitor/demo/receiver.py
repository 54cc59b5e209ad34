"""The demo's webhook receiver (step 2): checks ``X-Driftd-Signature`` and hands each alert on."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from monitor.errors import SignatureError


class AlertReceiver:
    """An HTTP server on 127.0.0.1 that verifies each webhook's signature and hands the alert on."""

    def __init__(self, secret: str, on_alert: Callable[[dict[str, Any], bool], None],
                 on_refused: Callable[[str], None]) -> None:
        self.secret = secret
        self.seen: dict[str, str] = {}  # alert id -> kind, verified alerts only
        self.refused = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(receiver.receive(body, self.headers.get("X-Driftd-Signature", "")))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.on_alert, self.on_refused = on_alert, on_refused
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, name="demo-receiver", daemon=True)

    def receive(self, body: bytes, signature: str) -> int:
        """Verify, record and report one request; return the HTTP status to answer."""
        from monitor.alerts.webhooks import verify

        try:
            verify(self.secret, body, signature)
            alert = json.loads(body)
        except (SignatureError, ValueError) as exc:
            with self.lock:
                self.refused += 1
            self.on_refused(str(exc))
            return 401
        with self.lock:
            again = alert.get("id") in self.seen
            self.seen[str(alert.get("id"))] = str(alert.get("kind"))
        self.on_alert(alert, again)
        return 200

    def start(self) -> "AlertReceiver":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
