"""Serve ``/metrics``, ``/healthz`` and ``/readyz`` (docs/metrics.md) from a background thread.

``/metrics`` encodes the registry passed in (OpenMetrics when the scraper asks for it, gzip
when it accepts it). ``/healthz`` and ``/readyz`` answer 200 or 503 from two callables; a
callable that raises counts as 503, never as a crashed server.

With a web configuration (``server.web_config``, exporter-toolkit's format) the three are served
over TLS and/or behind HTTP basic auth: the TLS handshake runs in each connection's own thread
with a deadline, so a client that connects and never handshakes holds only its own thread; user
passwords are checked against bcrypt hashes, and a success is remembered (bcrypt is slow on purpose).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import hmac
import logging
import secrets
import socket
import socketserver
import ssl
import sys
import threading
from collections import OrderedDict
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, cast
from urllib.parse import urlsplit

import bcrypt
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from monitor.config import Secret, TlsServerConfig, WebConfig
from monitor.errors import DriftdError

log = logging.getLogger(__name__)

_TEXT = "text/plain; charset=utf-8"
_ROUTES = ("/metrics", "/healthz", "/readyz")
_ALLOW = "GET, HEAD"
_CHALLENGE = 'Basic realm="driftd"'
_TLS_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
_CLIENT_AUTH = {"NoClientCert": ssl.CERT_NONE, "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
                "RequireAndVerifyClientCert": ssl.CERT_REQUIRED}
HANDSHAKE_TIMEOUT_S = 10.0
"""How long a connection may take to finish its TLS handshake before it is closed."""


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
    web:
        ``server.web_config``: TLS, basic auth users and response headers; None serves plain HTTP
        to anyone.
    handshake_timeout_s:
        How long a connection may take to complete its TLS handshake.
    """

    def __init__(self, host: str, port: int, registry: CollectorRegistry,
                 healthy: Callable[[], bool], ready: Callable[[], bool], web: WebConfig | None = None,
                 handshake_timeout_s: float = HANDSHAKE_TIMEOUT_S) -> None:
        self.host = host
        self.port = port
        self.registry = registry
        self.healthy = healthy
        self.ready = ready
        self.web = web
        self.handshake_timeout_s = handshake_timeout_s
        self.response_headers: Mapping[str, str] = web.headers if web is not None else {}
        """Sent with every answer (``http_server_config.headers``)."""
        self.auth: BasicAuth | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Load the TLS certificates, bind, listen and serve in a daemon thread; returns once listening.

        Raises ``HttpServerError`` (a ``DriftdError``) naming ``host:port`` when it cannot bind, or
        the web configuration file and the certificate file when TLS cannot be set up.
        """
        if self._server is not None:
            raise HttpServerError(f"{self.host}:{self.port}: the HTTP server is already running")
        web = self.web
        context = tls_context(web.path, web.tls) if web is not None and web.tls is not None else None
        self.auth = BasicAuth(web.users) if web is not None and web.users else None
        try:
            server = _Server((self.host, self.port), _Handler, self, context)
        except OSError as exc:
            raise HttpServerError(f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}") from exc
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"driftd-http-{self.port}", daemon=True)
        self._thread.start()
        tls = "off" if web is None or web.tls is None else f"{web.tls.min_version}+,{web.tls.client_auth_type}"
        log.info("http listening host=%s port=%d tls=%s basic_auth=%s", self.host, self.port, tls,
                 "off" if self.auth is None else f"{len(self.auth)} users")

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


def tls_context(source: Path, tls: TlsServerConfig) -> ssl.SSLContext:
    """The server-side ``SSLContext`` of a ``tls_server_config``; ``HttpServerError`` names the file at fault."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _TLS_VERSIONS[tls.min_version]
    context.maximum_version = _TLS_VERSIONS[tls.max_version]
    where = f"{source}: tls_server_config"
    for key in ("cert_file", "key_file", "client_ca_file"):  # OpenSSL's own errors do not say which file
        path = getattr(tls, key)
        if path is None:
            continue
        try:
            path.read_bytes()
        except OSError as exc:
            raise HttpServerError(f"{where}.{key}: cannot read {path}: {exc.strerror or exc}") from None

    def encrypted() -> bytes:
        raise HttpServerError(f"{where}.key_file: {tls.key_file} is encrypted; driftd needs an unencrypted key")

    try:
        context.load_cert_chain(tls.cert_file, tls.key_file, password=encrypted)
    except ssl.SSLError as exc:
        raise HttpServerError(f"{where}: cert_file {tls.cert_file} and key_file {tls.key_file} do not hold a PEM "
                              f"certificate and its private key ({exc.reason or exc})") from None
    context.verify_mode = _CLIENT_AUTH[tls.client_auth_type]
    if tls.client_ca_file is not None:
        try:
            context.load_verify_locations(cafile=tls.client_ca_file)
        except ssl.SSLError as exc:
            raise HttpServerError(f"{where}.client_ca_file: {tls.client_ca_file} holds no PEM CA certificate "
                                  f"({exc.reason or exc})") from None
    return context


class BasicAuth:
    """Checks ``Authorization: Basic`` headers against bcrypt hashes (``basic_auth_users``).

    bcrypt is slow on purpose, so a success is remembered, as exporter-toolkit does: in a bounded
    LRU set of HMAC-SHA256 digests of user and password, keyed with a random per-process key (a
    digest is neither a password nor a fast hash of one that could be attacked offline). Only
    successes are remembered; one bcrypt runs at a time, so failing requests cost at most one core.
    An unknown user is checked against a configured hash too, so timing does not tell which users exist.
    """

    CACHE_SIZE = 256

    def __init__(self, users: Mapping[str, Secret]) -> None:
        self._hashes = {name.encode(): hashed.reveal().encode() for name, hashed in users.items()}
        self._decoy = next(iter(self._hashes.values()))
        self._key = secrets.token_bytes(32)
        self._verified: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()
        self._bcrypt = threading.Lock()

    def __len__(self) -> int:
        return len(self._hashes)

    def check(self, header: str | None) -> bool:
        """True when ``header`` (the Authorization value) names a configured user with the right password."""
        scheme, _, token = (header or "").strip().partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, colon, password = base64.b64decode(token.strip(), validate=True).partition(b":")
        except (binascii.Error, ValueError):
            return False
        if not colon:
            return False
        digest = hmac.new(self._key, len(user).to_bytes(4, "big") + user + password, hashlib.sha256).digest()
        with self._lock:
            if digest in self._verified:  # an unguessable key: looking it up leaks nothing worth timing
                self._verified.move_to_end(digest)
                return True
        hashed = self._hashes.get(user)
        with self._bcrypt:
            try:
                ok = bcrypt.checkpw(password, hashed or self._decoy)  # compares in constant time
            except ValueError:  # a password over bcrypt's 72 bytes, which no configured hash can match
                ok = False
        if not ok or hashed is None:
            return False
        with self._lock:
            self._verified[digest] = None
            while len(self._verified) > self.CACHE_SIZE:
                self._verified.popitem(last=False)
        return True


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that knows its ``HttpServer``; request threads never block exit.

    With an ``SSLContext``, each accepted socket is wrapped without handshaking; the handshake runs
    in the connection's thread (``finish_request``) with the app's deadline.
    """

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], app: HttpServer,
                 context: ssl.SSLContext | None = None) -> None:
        self.app = app
        self.context = context
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket.socket, object]:
        """Accept a connection; wrap it for TLS without touching the network (the accept thread never waits)."""
        sock, address = super().get_request()
        if self.context is not None:
            try:
                sock = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
            except OSError:
                sock.close()
                raise
        return sock, address

    def finish_request(self, request: object, client_address: object) -> None:
        """In the connection's thread: the TLS handshake (with a deadline), then the request."""
        if isinstance(request, ssl.SSLSocket):
            request.settimeout(self.app.handshake_timeout_s)
            try:
                request.do_handshake()
            except (ssl.SSLError, OSError) as exc:  # plain HTTP, no or a bad client certificate, a timeout
                log.debug("http tls handshake with %s failed: %s", client_address, exc)
                return
            request.settimeout(None)
        super().finish_request(request, client_address)  # type: ignore[arg-type]

    def server_bind(self) -> None:
        """Bind without HTTPServer's ``getfqdn`` lookup, which can stall on a slow resolver."""
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hung up is DEBUG; anything else is logged with its traceback."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError)):
            log.debug("http client %s hung up: %s", client_address, exc)
        else:
            log.error("http request from %s failed", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    """Routes GET/HEAD to the three endpoints; 404 for other paths, 405 for other methods."""

    server_version = "driftd"

    def do_GET(self) -> None:
        if self._authorized(body=True):
            self._serve(body=True)

    def do_HEAD(self) -> None:
        if self._authorized(body=False):
            self._serve(body=False)

    def _authorized(self, body: bool) -> bool:
        """True without basic auth or with a user's right password; otherwise answer 401 and return False."""
        auth = cast(_Server, self.server).app.auth
        if auth is None or auth.check(self.headers.get("Authorization")):
            return True
        self._reply(401, b"unauthorized\n", _TEXT, body, headers={"WWW-Authenticate": _CHALLENGE})
        return False

    def _not_allowed(self) -> None:
        path = urlsplit(self.path).path
        self.close_connection = True  # a request body may follow; never read it as the next request
        if not self._authorized(body=True):
            return
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
        for name, value in {**cast(_Server, self.server).app.response_headers, **(headers or {})}.items():
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
