"""Serve ``/metrics``, ``/healthz`` and ``/readyz`` (docs/metrics.md) from a background thread.

``/metrics`` encodes the registry passed in (OpenMetrics when the scraper asks for it, gzip
when it accepts it). ``/healthz`` and ``/readyz`` answer 200 or 503 from two callables; a
callable that raises counts as 503, never as a crashed server.
"""

from __future__ import annotations

import gzip
import logging
import socket
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, cast
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from monitor.errors import DriftdError

log = logging.getLogger(__name__)

_TEXT = "text/plain; charset=utf-8"
_ROUTES = ("/metrics", "/healthz", "/readyz")
_ALLOW = "GET, HEAD"


class HttpServerError(DriftdError):
    """The HTTP server cannot listen (address in use, bad host, no permission)."""


class HttpServer:
    """The daemon's HTTP endpoint: ``start()`` listens in a daemon thread, ``stop()`` releases the port.

    Parameters
    ----------
    host, port:
        Where to listen (``server.host``, ``server.port``); port 0 picks a free port, read back
        from ``port`` after ``start()``.
    registry:
        The registry ``/metrics`` exposes.
    healthy, ready:
        Called per request of ``/healthz`` and ``/readyz``: True answers 200, False or an
        exception 503.
    """

    def __init__(self, host: str, port: int, registry: CollectorRegistry,
                 healthy: Callable[[], bool], ready: Callable[[], bool]) -> None:
        self.host = host
        self.port = port
        self.registry = registry
        self.healthy = healthy
        self.ready = ready
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind, listen and serve in a daemon thread; returns once listening.

        Raises ``HttpServerError`` (a ``DriftdError``) naming ``host:port`` when it cannot bind.
        """
        if self._server is not None:
            raise HttpServerError(f"{self.host}:{self.port}: the HTTP server is already running")
        try:
            server = _Server((self.host, self.port), _Handler, self)
        except OSError as exc:
            raise HttpServerError(f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}") from exc
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"driftd-http-{self.port}", daemon=True)
        self._thread.start()
        log.info("http listening host=%s port=%d", self.host, self.port)

    def stop(self) -> None:
        """Stop serving, close the socket and join the thread; a no-op when not running."""
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join()
        self._server = self._thread = None
        log.info("http stopped host=%s port=%d", self.host, self.port)

    def __enter__(self) -> HttpServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that knows its ``HttpServer``; request threads never block exit."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], app: HttpServer) -> None:
        self.app = app
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, handler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's ``getfqdn`` lookup, which can stall on a slow resolver."""
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hung up is DEBUG; anything else is logged with its traceback."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError):
            log.debug("http client %s hung up: %s", client_address, exc)
        else:
            log.error("http request from %s failed", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    """Routes GET/HEAD to the three endpoints; 404 for other paths, 405 for other methods."""

    server_version = "driftd"

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def _not_allowed(self) -> None:
        path = urlsplit(self.path).path
        self.close_connection = True  # a request body may follow; never read it as the next request
        if path not in _ROUTES:
            self._reply(404, b"not found\n", _TEXT, body=True)
        else:
            self._reply(405, b"method not allowed\n", _TEXT, body=True, headers={"Allow": _ALLOW})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _not_allowed

    def _serve(self, body: bool) -> None:
        app = cast(_Server, self.server).app
        path = urlsplit(self.path).path
        if path == "/metrics":
            self._metrics(app, body)
        elif path == "/healthz":
            ok = _ask(app.healthy, "healthy")
            self._reply(200 if ok else 503, b"ok" if ok else b"unhealthy", _TEXT, body)
        elif path == "/readyz":
            ok = _ask(app.ready, "ready")
            self._reply(200 if ok else 503, b"ready" if ok else b"not ready", _TEXT, body)
        else:
            self._reply(404, b"not found\n", _TEXT, body)

    def _metrics(self, app: HttpServer, body: bool) -> None:
        encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
        try:
            output = encoder(app.registry)
        except Exception:  # a collector failed: answer 500, keep serving
            log.exception("metrics encoding failed")
            self._reply(500, b"metrics encoding failed\n", _TEXT, body)
            return
        headers = {}
        if "gzip" in self.headers.get("Accept-Encoding", ""):
            output = gzip.compress(output)
            headers["Content-Encoding"] = "gzip"
        self._reply(200, output, content_type, body, headers)

    def _reply(self, status: int, payload: bytes, content_type: str, body: bool,
               headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        """Per-request lines go to DEBUG, not stderr."""
        log.debug("http %s " + format, self.address_string(), *args)


def _ask(check: Callable[[], bool], name: str) -> bool:
    """Call a health callable; an exception is logged and answers False."""
    try:
        return bool(check())
    except Exception:
        log.warning("http %s check raised; answering 503", name, exc_info=True)
        return False
