"""The ``X-Driftd-Signature`` header (docs/webhooks.md): HMAC-SHA256 over ``f"{t}.{raw_body}"``, with a timestamp.

The header reads ``t=<unix seconds>,v1=<hex>``. A receiver checks it with ``verify``; a header may
carry several ``v1=`` entries (one per secret while a secret is being rotated) and is valid when
any of them matches. Only the standard library is used, so receivers can copy this module as it is.

>>> header = sign("s3cret", b'{"id": "drift:churn:0:3600"}', t=1763800000)
>>> header
't=1763800000,v1=2e2406ae99478ae86da9b98935674b3e02b96fb6e7e25d45633308ddfb7cee68'
>>> verify("s3cret", b'{"id": "drift:churn:0:3600"}', header, now=1763800060)
>>> verify("s3cret", b'{"id": "drift:churn:0:3601"}', header, now=1763800060)
Traceback (most recent call last):
    ...
monitor.errors.SignatureError: the signature does not match the body (wrong secret, or the body was changed)
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time

from monitor.errors import SignatureError

HEADER = "X-Driftd-Signature"
"""The name of the signature header."""
TOLERANCE_S = 300.0
"""How far a signature's timestamp may be from the receiver's clock, either way (5 minutes)."""

_HEX = re.compile(r"[0-9a-f]{64}")


def sign(secret: str, body: bytes, t: int) -> str:
    """Return the header value ``t=<t>,v1=<hex>`` for ``body`` sent at Unix time ``t``."""
    return f"t={int(t)},v1={_digest(secret, body, int(t))}"


def verify(secret: str, body: bytes, header: str, now: float | None = None, tolerance_s: float = TOLERANCE_S) -> None:
    """Return when ``header`` signs ``body`` with ``secret`` within ``tolerance_s`` of ``now``; else raise.

    Raises ``SignatureError`` naming the problem: a malformed header, no matching ``v1`` entry, or
    a timestamp more than ``tolerance_s`` seconds in the past or in the future (a replay, or a clock
    that is off). ``now`` defaults to the current time.
    """
    t, signatures = _parse(header)
    expected = _digest(secret, body, t)
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise SignatureError("the signature does not match the body (wrong secret, or the body was changed)")
    age_s = (time.time() if now is None else now) - t
    if age_s > tolerance_s:
        raise SignatureError(f"the signature is {age_s:.0f}s old; at most {tolerance_s:g}s is accepted "
                             "(a replayed request, or a clock that is off)")
    if -age_s > tolerance_s:
        raise SignatureError(f"the signature's timestamp is {-age_s:.0f}s in the future; at most {tolerance_s:g}s "
                             "is accepted (a clock that is off)")


def _digest(secret: str, body: bytes, t: int) -> str:
    return hmac.new(secret.encode("utf-8"), f"{t}.".encode("ascii") + body, hashlib.sha256).hexdigest()


def _parse(header: str) -> tuple[int, list[str]]:
    """Split ``t=...,v1=...[,v1=...]`` into the timestamp and the v1 signatures; other schemes are ignored."""
    if not isinstance(header, str) or not header.strip():
        raise SignatureError(f"malformed {HEADER} header: it is empty; expected t=<unix seconds>,v1=<hex>")
    stamps: list[str] = []
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureError(f"malformed {HEADER} header: {part.strip()[:20]!r} is not key=value; "
                                 "expected t=<unix seconds>,v1=<hex>")
        if key == "t":
            stamps.append(value)
        elif key == "v1":
            if not _HEX.fullmatch(value):
                raise SignatureError(f"malformed {HEADER} header: v1 must be 64 lowercase hex digits")
            signatures.append(value)
    if len(stamps) != 1 or not stamps[0].isascii() or not stamps[0].isdigit():
        raise SignatureError(f"malformed {HEADER} header: expected exactly one t=<unix seconds>")
    if not signatures:
        raise SignatureError(f"malformed {HEADER} header: no v1=<hex> signature")
    return int(stamps[0]), signatures
