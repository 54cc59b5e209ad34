"""One delivery attempt of a rendered request, classified, and the backoff before the next one.

``attempt`` POSTs once and never follows a redirect. Its ``Outcome``:

- ``delivered``: a 2xx answer (and, for the ``airflow`` format, 409: that run id, hence that
  alert, was already delivered);
- ``retry``: 408, 429, any 5xx, a connection error or a timeout; ``retry_after_s`` carries the
  server's ``Retry-After`` (delta-seconds or an HTTP-date) when it sent one;
- ``failed``: a 3xx (redirects are not followed) or any other 4xx; retrying cannot help.

Error texts are short and never contain the URL, a header value or the secret. ``next_delay``
is exponential backoff with full jitter, never shorter than a ``Retry-After`` (up to an hour).
"""

from __future__ import annotations

import enum
import math
import random
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timezone
from email.utils import parsedate_to_datetime
from http import HTTPStatus

import requests

from monitor.alerts.webhooks.formats import Request
from monitor.config import WebhookConfig

RETRY_AFTER_CAP_S = 3600.0
"""The longest ``Retry-After`` honoured; a server asking for more is retried after an hour."""
RETRY_STATUSES = frozenset({408, 429})
"""The 4xx answers that mean "try again later"; every 5xx does too."""


class Outcome(enum.Enum):
    """What an attempt says about the alert: delivered, worth another attempt, or failed for good."""

    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"


@dataclass(frozen=True)
class Attempt:
    """The result of one attempt: ``status`` is None when no HTTP answer came; ``error`` None when delivered."""

    outcome: Outcome
    status: int | None
    error: str | None
    elapsed_s: float
    retry_after_s: float | None = None


def new_session() -> requests.Session:
    """An HTTP session for webhook deliveries: never routed through a proxy from the environment."""
    session = requests.Session()
    session.trust_env = False
    return session


def attempt(session: requests.Session, webhook: WebhookConfig, request: Request, timeout_s: float,
            now: float | None = None) -> Attempt:
    """POST ``request`` once with ``session`` and classify the answer; never raises for network trouble.

    ``timeout_s`` bounds the connection and the wait for the answer's headers; the answer's body
    is not read. ``now`` (Unix seconds, default the clock) turns an HTTP-date ``Retry-After`` into seconds.
    """
    started = time.monotonic()

    def done(outcome: Outcome, status: int | None, error: str | None, retry_after_s: float | None = None) -> Attempt:
        return Attempt(outcome, status, error, time.monotonic() - started, retry_after_s)

    try:
        response = session.request(request.method, request.url, data=request.body, headers=dict(request.headers),
                                   timeout=timeout_s, allow_redirects=False, stream=True)
    except requests.ConnectTimeout:
        return done(Outcome.RETRY, None, f"could not connect within {timeout_s:g}s")
    except requests.Timeout:
        return done(Outcome.RETRY, None, f"no answer within {timeout_s:g}s")
    except requests.ConnectionError as exc:
        return done(Outcome.RETRY, None, f"connection failed: {_cause(exc)}")
    except requests.RequestException as exc:
        return done(Outcome.FAILED, None, f"cannot send the request: {type(exc).__name__}")
    except UnicodeError:
        return done(Outcome.FAILED, None, "cannot send the request: a header value is not Latin-1 text")
    with response:
        status = response.status_code
        retry_after = response.headers.get("Retry-After")
    if 200 <= status < 300 or (status == 409 and webhook.format == "airflow"):
        return done(Outcome.DELIVERED, status, None)
    if status in RETRY_STATUSES or 500 <= status < 600:
        return done(Outcome.RETRY, status, f"HTTP {_status_text(status)}", parse_retry_after(retry_after, now))
    if 300 <= status < 400:
        return done(Outcome.FAILED, status, f"HTTP {_status_text(status)}: redirects are not followed; "
                                            "configure the URL the redirect points to")
    return done(Outcome.FAILED, status, f"HTTP {_status_text(status)}")


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Return the seconds a ``Retry-After`` value asks to wait (0 for a date in the past), or None if unusable.

    >>> parse_retry_after("120"), parse_retry_after("Thu, 01 Jan 1970 00:02:00 GMT", now=60.0)
    (120.0, 60.0)
    >>> parse_retry_after("soon") is None, parse_retry_after(None) is None
    (True, True)
    """
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" parses as naive; HTTP dates are always UTC
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def next_delay(attempts_made: int, retry_after_s: float | None, rng: random.Random,
               initial_s: float = 1.0, max_s: float = 300.0) -> float:
    """Seconds to wait before the next attempt, after ``attempts_made`` (>= 1) attempts.

    Full jitter: uniform in ``[0, min(max_s, initial_s * 2 ** (attempts_made - 1))]``, raised to
    ``retry_after_s`` (capped at ``RETRY_AFTER_CAP_S``) when the server sent one.

    >>> rng = random.Random(7)
    >>> [round(next_delay(n, None, rng), 3) for n in (1, 2, 3, 10, 20)]
    [0.324, 0.302, 2.604, 21.731, 160.765]
    >>> next_delay(1, 30.0, rng), next_delay(1, 86400.0, rng)
    (30.0, 3600.0)
    """
    if attempts_made < 1:
        raise ValueError(f"attempts_made: expected at least 1, got {attempts_made}")
    if not (0 < initial_s <= max_s) or not math.isfinite(max_s):
        raise ValueError(f"initial_s, max_s: expected 0 < initial_s <= max_s, got {initial_s}, {max_s}")
    ceiling = min(max_s, initial_s * 2.0 ** min(attempts_made - 1, 64))
    delay = rng.uniform(0.0, ceiling)
    if retry_after_s is not None and retry_after_s > 0:
        delay = max(delay, min(retry_after_s, RETRY_AFTER_CAP_S))
    return delay


def _status_text(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _cause(exc: BaseException) -> str:
    """The operating system's words for a connection failure ("Connection refused"), without the URL."""
    for link in _chain(exc, depth=0):
        if isinstance(link, socket.gaierror):
            return f"cannot resolve the host ({link.strerror or 'unknown error'})"
        if isinstance(link, ssl.SSLError):
            return f"TLS error ({link.reason or type(link).__name__})"
        if type(link).__module__ == "builtins" and isinstance(link, OSError) and link.strerror:
            return link.strerror
    return type(exc).__name__


def _chain(exc: BaseException, depth: int) -> Iterator[BaseException]:
    """The exception, its causes and contexts, and exceptions held in its args or ``reason``, depth first."""
    if depth > 8:
        return
    yield exc
    linked = [exc.__cause__, exc.__context__, getattr(exc, "reason", None), *exc.args]
    for item in linked:
        if isinstance(item, BaseException) and item is not exc:
            yield from _chain(item, depth + 1)
