"""monitor.alerts.webhooks: signatures, one delivery attempt against a real HTTP receiver, backoff, `driftd webhook verify`."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

import pytest
import requests

from monitor.alerts.webhooks import Outcome, attempt, new_session, next_delay, parse_retry_after, render, sign, verify
from monitor.alerts.webhooks.delivery import RETRY_AFTER_CAP_S
from monitor.config import WebhookConfig, parse_config
from monitor.errors import DriftdError, SignatureError
from tests.fixtures.kafka import free_port
from tests.fixtures.paths import ROOT
from tests.fixtures.receiver import Receiver

SECRET = "whsec-Zq9x-DISTINCTIVE"
TOKEN = "tok-Hy7w-DISTINCTIVE"
ALERT: dict[str, Any] = {
    "id": "drift:churn:1763798400:1763802000", "kind": "drift", "model": "churn", "model_version": "7",
    "window": {"start": "2025-11-22T08:00:00Z", "end": "2025-11-22T09:00:00Z", "events": 48211},
    "reasons": [{"feature": "age", "statistic": "psi", "value": 0.31, "threshold": 0.2}],
    "reference": {"id": "churn@3", "created_at": "2025-11-01T12:00:00Z"},
    "fired_at": "2025-11-22T09:05:02Z",
}


# --- a real receiver -------------------------------------------------------------------------

@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture()
def session() -> Iterator[requests.Session]:
    with new_session() as http:
        yield http


def webhook(url: str, **settings: Any) -> WebhookConfig:
    """A webhook parsed from config data, exactly as the daemon would get it."""
    data = {"models": [{"name": "churn", "task": "binary_classification", "reference": {"path": "ref.csv"},
                        "window": {"size": "1h"}, "alerts": {"webhooks": ["hook"]}}],
            "webhooks": {"hook": {"url": url, "secret": "${HOOK_SECRET}",
                                  "headers": {"Authorization": "Bearer ${HOOK_TOKEN}"}, **settings}}}
    config = parse_config(data, "test.yaml", {"HOOK_SECRET": SECRET, "HOOK_TOKEN": TOKEN}, Path("/srv"))
    return config.webhooks["hook"]


# --- signing ---------------------------------------------------------------------------------

BODY = json.dumps(ALERT).encode()
NOW = 1_763_800_000


def test_signature_round_trip_and_format() -> None:
    header = sign(SECRET, BODY, NOW)
    t, v1 = header.split(",")
    assert t == f"t={NOW}" and v1.startswith("v1=") and len(v1) == 3 + 64
    verify(SECRET, BODY, header, now=NOW)
    verify(SECRET, BODY, header, now=NOW + 299)
    verify(SECRET, BODY, header, now=NOW - 299)


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    import hashlib
    import hmac
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY, NOW) == f"t={NOW},v1={expected}"


def test_rotation_accepts_any_v1_entry() -> None:
    old = sign("old-secret", BODY, NOW).split(",")[1]
    header = f"{sign(SECRET, BODY, NOW)},{old}"
    verify(SECRET, BODY, header, now=NOW)
    verify("old-secret", BODY, header, now=NOW)
    with pytest.raises(SignatureError, match="does not match"):
        verify("third-secret", BODY, header, now=NOW)


@pytest.mark.parametrize("body, secret", [(BODY.replace(b"0.31", b"0.01"), SECRET), (BODY, "wrong-secret"),
                                          (BODY + b" ", SECRET)])
def test_tampered_body_or_wrong_secret_is_rejected(body: bytes, secret: str) -> None:
    with pytest.raises(SignatureError, match="does not match the body"):
        verify(secret, body, sign(SECRET, BODY, NOW), now=NOW)


def test_old_and_future_timestamps_are_rejected() -> None:
    header = sign(SECRET, BODY, NOW)
    with pytest.raises(SignatureError, match="301s old; at most 300s"):
        verify(SECRET, BODY, header, now=NOW + 301)
    with pytest.raises(SignatureError, match="301s in the future"):
        verify(SECRET, BODY, header, now=NOW - 301)
    verify(SECRET, BODY, header, now=NOW + 3000, tolerance_s=3600)
    assert issubclass(SignatureError, DriftdError)


@pytest.mark.parametrize("header, why", [
    ("", "empty"),
    ("v1=" + "0" * 64, "exactly one t="),
    (f"t={NOW}", "no v1="),
    (f"t=soon,v1={'0' * 64}", "exactly one t="),
    (f"t={NOW},t={NOW},v1={'0' * 64}", "exactly one t="),
    (f"t={NOW},v1=xyz", "64 lowercase hex"),
    (f"t={NOW};v1={'0' * 64}", "exactly one t=|not key=value"),
    (f"t={NOW},garbage", "not key=value"),
])
def test_malformed_headers_are_rejected(header: str, why: str) -> None:
    with pytest.raises(SignatureError, match=f"malformed X-Driftd-Signature header: .*({why})"):
        verify(SECRET, BODY, header, now=NOW)


def test_other_schemes_are_ignored() -> None:
    verify(SECRET, BODY, f"{sign(SECRET, BODY, NOW)},v0=deadbeef", now=NOW)


# --- one attempt against the receiver --------------------------------------------------------

@pytest.mark.parametrize("code", [200, 201, 202, 204])
def test_2xx_is_delivered(receiver: Receiver, session: requests.Session, code: int) -> None:
    hook = webhook(receiver.url + f"/status/{code}")
    result = attempt(session, hook, render(hook, ALERT), timeout_s=5)
    assert (result.outcome, result.status, result.error, result.retry_after_s) == (Outcome.DELIVERED, code, None, None)
    assert 0 <= result.elapsed_s < 5
    [seen] = receiver.requests
    assert seen.method == "POST" and seen.json == ALERT


@pytest.mark.parametrize("code", [301, 302, 307, 308])
def test_redirects_fail_and_are_not_followed(receiver: Receiver, session: requests.Session, code: int) -> None:
    hook = webhook(receiver.url + f"/status/{code}")
    result = attempt(session, hook, render(hook, ALERT), timeout_s=5)
    assert (result.outcome, result.status) == (Outcome.FAILED, code)
    assert "redirects are not followed" in str(result.error)
    assert [seen.path for seen in receiver.requests] == [f"/status/{code}"]


@pytest.mark.parametrize("code, text", [(400, "400 Bad Request"), (401, "401 Unauthorized"), (403, "403 Forbidden"),
                                        (404, "404 Not Found"), (409, "409 Conflict"), (422, "422 Unprocessable")])
def test_other_4xx_fail_at_once(receiver: Receiver, session: requests.Session, code: int, text: str) -> None:
    hook = webhook(receiver.url + f"/status/{code}")
    result = attempt(session, hook, render(hook, ALERT), timeout_s=5)
    assert (result.outcome, result.status, result.retry_after_s) == (Outcome.FAILED, code, None)
    assert str(result.error).startswith(f"HTTP {text}")


@pytest.mark.parametrize("code", [408, 429, 500, 502, 503, 504])
def test_408_429_and_5xx_are_retried(receiver: Receiver, session: requests.Session, code: int) -> None:
    hook = webhook(receiver.url + f"/status/{code}")
    result = attempt(session, hook, render(hook, ALERT), timeout_s=5)
    assert (result.outcome, result.status, result.retry_after_s) == (Outcome.RETRY, code, None)
    assert str(result.error).startswith(f"HTTP {code} ")


def test_retry_after_in_seconds(receiver: Receiver, session: requests.Session) -> None:
    hook = webhook(receiver.url + "/status/429?retry_after=120")
    result = attempt(session, hook, render(hook, ALERT), timeout_s=5)
    assert (result.outcome, result.status, result.retry_after_s) == (Outcome.RETRY, 429, 120.0)


def test_retry_after_as_http_date(receiver: Receiver, session: requests.Session) -> None:
    now = time.time()
    date = formatdate(now + 90, usegmt=True)
    hook = webhook(receiver.url + "/status/503?retry_after=" + quote(date))
    result = attempt(session, hook, render(hook, ALERT), timeout_s=5, now=now)
    assert (result.outcome, result.status) == (Outcome.RETRY, 503)
    assert result.retry_after_s == pytest.approx(90, abs=1)  # HTTP dates have whole seconds


def test_parse_retry_after() -> None:
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after(" 7 ") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 - 30) == 30.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 + 30) == 0.0  # in the past
    for bad in ("-5", "1.5", "later", "", "Wed, 99 Foo 2015"):
        assert parse_retry_after(bad) is None, bad


def test_connection_refused_is_retried(session: requests.Session) -> None:
    hook = webhook(f"http://127.0.0.1:{free_port()}/hook")
    result = attempt(session, hook, render(hook, ALERT), timeout_s=5)
    assert (result.outcome, result.status, result.retry_after_s) == (Outcome.RETRY, None, None)
    assert result.error == "connection failed: Connection refused"


def test_timeout_is_retried(receiver: Receiver, session: requests.Session) -> None:
    hook = webhook(receiver.url + "/sleep")
    result = attempt(session, hook, render(hook, ALERT), timeout_s=0.3)
    assert (result.outcome, result.status, result.error) == (Outcome.RETRY, None, "no answer within 0.3s")
    assert 0.3 <= result.elapsed_s < 3


def test_errors_never_show_the_secret_the_headers_or_the_url(receiver: Receiver, session: requests.Session) -> None:
    paths = ["/status/301", "/status/401", "/status/503?retry_after=5", "/sleep"]
    urls = [receiver.url + path for path in paths] + [f"http://127.0.0.1:{free_port()}/{TOKEN}"]
    for url in urls:
        hook = webhook(url)
        result = attempt(session, hook, render(hook, ALERT), timeout_s=0.3)
        assert result.error and SECRET not in result.error and TOKEN not in result.error
        assert "127.0.0.1" not in result.error
    request = render(webhook(receiver.url + "/"), ALERT)
    assert SECRET not in repr(request) and TOKEN not in repr(request)


def test_the_configured_timeout_is_what_the_caller_passes(receiver: Receiver, session: requests.Session) -> None:
    hook = webhook(receiver.url + "/sleep", timeout="200ms")
    result = attempt(session, hook, render(hook, ALERT), timeout_s=hook.timeout_s)
    assert result.error == "no answer within 0.2s"


# --- backoff ---------------------------------------------------------------------------------

def test_next_delay_stays_under_the_exponential_ceiling() -> None:
    rng = random.Random(42)
    for attempts in range(1, 40):
        ceiling = min(300.0, 1.0 * 2 ** (attempts - 1))
        delays = [next_delay(attempts, None, rng) for _ in range(200)]
        assert all(0 <= delay <= ceiling for delay in delays)
        assert max(delays) > 0.8 * ceiling  # full jitter reaches up to the ceiling...
        assert min(delays) < 0.2 * ceiling  # ...and down towards 0


def test_next_delay_is_seeded_and_configurable() -> None:
    first = [next_delay(n, None, random.Random(3), initial_s=0.01, max_s=0.05) for n in range(1, 10)]
    again = [next_delay(n, None, random.Random(3), initial_s=0.01, max_s=0.05) for n in range(1, 10)]
    assert first == again and all(delay <= 0.05 for delay in first)
    assert next_delay(1, None, random.Random(3), initial_s=0.01) <= 0.01


def test_next_delay_honours_retry_after_up_to_an_hour() -> None:
    rng = random.Random(1)
    assert next_delay(1, 120.0, rng) == 120.0  # above the 1s ceiling: exactly Retry-After
    assert next_delay(12, 0.5, rng) >= 0.5
    assert next_delay(1, 10 * 86400.0, rng) == RETRY_AFTER_CAP_S == 3600.0
    assert next_delay(1, 500.0, rng, max_s=60.0) == 500.0  # Retry-After beats retry_max
    assert 0 <= next_delay(1, 0.0, rng) <= 1.0


def test_next_delay_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="attempts_made"):
        next_delay(0, None, random.Random(0))
    with pytest.raises(ValueError, match="initial_s"):
        next_delay(1, None, random.Random(0), initial_s=10.0, max_s=1.0)


# --- driftd webhook verify -------------------------------------------------------------------

def verify_cli(*args: str, stdin: bytes = b"", secret: str | None = SECRET) -> subprocess.CompletedProcess[bytes]:
    env = {key: value for key, value in os.environ.items() if key != "DRIFTD_WEBHOOK_SECRET"}
    if secret is not None:
        env["DRIFTD_WEBHOOK_SECRET"] = secret
    return subprocess.run([sys.executable, "-m", "monitor.cli", "webhook", "verify", *args], input=stdin,
                          capture_output=True, cwd=ROOT, timeout=60, env=env)


def test_cli_verify_accepts_a_valid_signature_from_a_file_or_stdin(tmp_path: Path) -> None:
    body = tmp_path / "body.json"
    body.write_bytes(BODY)
    header = sign(SECRET, BODY, int(time.time()))
    done = verify_cli("--body", str(body), "--signature", header)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"ok\n", b"")
    done = verify_cli("--signature", header, stdin=BODY)
    assert (done.returncode, done.stdout) == (0, b"ok\n")


def test_cli_verify_rejects_with_the_reason() -> None:
    now = int(time.time())
    done = verify_cli("--signature", sign(SECRET, BODY, now), stdin=BODY + b"x")
    assert done.returncode == 1 and b"does not match the body" in done.stderr and done.stdout == b""
    done = verify_cli("--signature", sign(SECRET, BODY, now - 600), stdin=BODY)
    assert done.returncode == 1 and re.search(rb"the signature is 6\d\ds old", done.stderr)
    done = verify_cli("--signature", sign(SECRET, BODY, now - 600), "--tolerance", "15m", stdin=BODY)
    assert done.returncode == 0
    done = verify_cli("--signature", "nonsense", stdin=BODY)
    assert done.returncode == 1 and b"malformed" in done.stderr
    assert SECRET.encode() not in done.stderr


def test_cli_verify_reads_the_secret_from_the_named_variable() -> None:
    header = sign("other", BODY, int(time.time()))
    env_done = subprocess.run([sys.executable, "-m", "monitor.cli", "webhook", "verify", "--secret-env", "MY_SECRET",
                               "--signature", header], input=BODY, capture_output=True, cwd=ROOT, timeout=60,
                              env={**os.environ, "MY_SECRET": "other"})
    assert env_done.returncode == 0, env_done.stderr


def test_cli_verify_usage_errors_exit_2(tmp_path: Path) -> None:
    header = sign(SECRET, BODY, int(time.time()))
    done = verify_cli("--signature", header, stdin=BODY, secret=None)
    assert done.returncode == 2 and b"DRIFTD_WEBHOOK_SECRET" in done.stderr
    done = verify_cli("--body", str(tmp_path / "missing.json"), "--signature", header)
    assert done.returncode == 2 and b"missing.json" in done.stderr
    done = verify_cli("--signature", header, "--tolerance", "soon", stdin=BODY)
    assert done.returncode == 2 and b"--tolerance" in done.stderr
    assert verify_cli(stdin=BODY).returncode == 2  # --signature is required
