"""``server.web_config``: an exporter-toolkit web configuration file, read and checked with the config.

The format is exporter-toolkit's (docs/metrics.md, "TLS and basic auth"): ``tls_server_config``,
``http_server_config`` and ``basic_auth_users``. driftd serves a subset of it; a key or value that
exporter-toolkit knows and driftd does not serve is an error naming it, never silently ignored.
Relative paths resolve against the file's own folder, as exporter-toolkit does. Password hashes are
checked by their shape only (a regex: this package does not import bcrypt), and the certificate files
by their existence; ``monitor.export.http`` loads them when the server starts.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from monitor.config.convert import _boolean, _choice, _Invalid, _resolve_path, _suggest, _text
from monitor.config.expand import _join
from monitor.config.masking import FrozenMap, Secret, redact
from monitor.config.model import CLIENT_AUTH_TYPES, TLS_VERSIONS, WEB_HEADERS, TlsServerConfig, WebConfig
from monitor.config.section import _convert_at, _Section
from monitor.errors import ConfigError

_TLS_KEYS = ("cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version", "max_version")
_UNSUPPORTED = {
    "rate_limit": "put a rate limit in front of driftd, or let Prometheus scrape it alone",
    "tls_server_config.cert": "inline certificates; give the file as cert_file",
    "tls_server_config.key": "inline keys; give the file as key_file",
    "tls_server_config.client_ca": "inline CA certificates; give the file as client_ca_file",
    "tls_server_config.cipher_suites": "driftd uses OpenSSL's default cipher suites",
    "tls_server_config.curve_preferences": "driftd uses OpenSSL's default curves",
    "tls_server_config.prefer_server_cipher_suites": "the server's order is always preferred",
    "tls_server_config.client_allowed_sans": "use a client_ca_file that signs only the allowed clients",
}
"""Keys exporter-toolkit knows that driftd does not serve: key path -> what to do instead."""
_UNSUPPORTED_CLIENT_AUTH = ("RequestClientCert", "RequireAnyClientCert", "RequireClientCert")
_UNSUPPORTED_VERSIONS = ("TLS10", "TLS11")
_BCRYPT = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
"""A bcrypt hash as htpasswd and exporter-toolkit write it: ``$2y$<cost 04-31>$<22 salt + 31 hash characters>``."""


def read_web_config(path: Path) -> tuple[WebConfig | None, list[tuple[str, str]]]:
    """Read and check the web configuration file at ``path`` (absolute).

    Returns the config, or None and every problem as ``(key path in the file, message)``.
    """
    from monitor.config import _read_yaml  # the package's reader (duplicate keys are errors); imported late: it imports us

    problems: list[tuple[str, str]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return None, [("", f"cannot read the web configuration file: {exc.strerror or exc}")]
    except UnicodeDecodeError as exc:
        return None, [("", f"the file is not UTF-8 text (byte {exc.start})")]
    try:
        data, duplicates = _read_yaml(str(path), text)
    except ConfigError as exc:
        return None, exc.problems
    problems.extend(duplicates)
    if data is None:
        return None, problems + [("", "the file is empty; expected tls_server_config and/or basic_auth_users")]
    top = _section(problems, "", data, ("tls_server_config", "http_server_config", "basic_auth_users"))
    if not top.present:
        return None, problems
    tls = _tls(problems, top.data.get("tls_server_config"), path.parent)
    http = top.child("http_server_config", ("http2", "headers"))
    http.get("http2", _boolean)  # accepted for exporter-toolkit's files; driftd speaks HTTP/1.1
    config = WebConfig(path, tls, _users(problems, top), _headers(problems, http))
    return (None, problems) if problems else (config, [])


def _section(problems: list[tuple[str, str]], path: str, data: object, keys: tuple[str, ...],
             required: tuple[str, ...] = ()) -> _Section:
    """A ``_Section`` that names exporter-toolkit keys driftd does not serve as such, not as unknown."""
    if isinstance(data, dict):
        data = dict(data)
        for key in [key for key in data if isinstance(key, str) and _join(path, key) in _UNSUPPORTED]:
            problems.append((_join(path, key), f"not supported by driftd ({_UNSUPPORTED[_join(path, key)]})"))
            del data[key]
    return _Section(problems, path, data, keys, required)


def _tls(problems: list[tuple[str, str]], data: object, folder: Path) -> TlsServerConfig | None:
    """``tls_server_config``; absent: None (plain HTTP, as in exporter-toolkit)."""
    sec = _section(problems, "tls_server_config", data, _TLS_KEYS, ("cert_file", "key_file"))
    if not sec.present:
        return None

    def file(key: str) -> Path | None:
        text = sec.get(key, _text)
        if text is None:
            return None
        resolved = _resolve_path(text, folder)
        if not resolved.is_file():
            sec.add(key, f"{'not a file' if resolved.exists() else 'no such file'}: {resolved}")
        return resolved

    cert_file, key_file, client_ca_file = file("cert_file"), file("key_file"), file("client_ca_file")
    client_auth = sec.get("client_auth_type", _client_auth_type, "NoClientCert")
    min_version = sec.get("min_version", _tls_version, "TLS12")
    max_version = sec.get("max_version", _tls_version, "TLS13")
    if "client_auth_type" not in sec.bad:
        if client_auth != "NoClientCert" and not sec.has("client_ca_file"):
            sec.add("client_ca_file", f"required with client_auth_type {client_auth}: the CA that signs the "
                                      "client certificates")
        elif client_auth == "NoClientCert" and sec.has("client_ca_file"):
            sec.add("client_ca_file", "given without a client_auth_type that verifies client certificates "
                                      "(RequireAndVerifyClientCert or VerifyClientCertIfGiven)")
    if not {"min_version", "max_version"} & sec.bad and TLS_VERSIONS.index(min_version) > TLS_VERSIONS.index(max_version):
        sec.add("max_version", f"{max_version} is below min_version {min_version}")
    if cert_file is None or key_file is None:
        return None
    return TlsServerConfig(cert_file, key_file, client_auth, client_ca_file, min_version, max_version)


def _client_auth_type(value: object) -> str:
    if value in _UNSUPPORTED_CLIENT_AUTH:
        raise _Invalid(f"{value} is not supported by driftd: Python's ssl module verifies every client certificate "
                       "it asks for; use RequireAndVerifyClientCert with client_ca_file")
    return str(_choice(CLIENT_AUTH_TYPES, "client_auth_type")(value))


def _tls_version(value: object) -> str:
    if value in _UNSUPPORTED_VERSIONS:
        raise _Invalid(f"{value} is not supported by driftd, which serves TLS12 and TLS13 only")
    return str(_choice(TLS_VERSIONS, "TLS version")(value))


def _users(problems: list[tuple[str, str]], top: _Section) -> FrozenMap[str, Secret]:
    users: dict[str, Secret] = {}
    for path, name, raw in top.entries("basic_auth_users"):
        if ":" in name:
            problems.append((path, "a user name cannot contain ':' (HTTP basic auth splits user and password there)"))
        elif not isinstance(raw, str) or not _BCRYPT.fullmatch(raw):
            shown = f"a string of {len(raw)} characters" if isinstance(raw, str) else redact(raw)
            problems.append((path, "expected a bcrypt hash like $2y$10$ followed by 53 characters "
                                   f"(htpasswd -nBC 10 \"\" | tr -d ':\\n' writes one), got {shown}"))
        else:
            users[name] = Secret(raw)
    return FrozenMap(users)


def _headers(problems: list[tuple[str, str]], http: _Section) -> FrozenMap[str, str]:
    headers: dict[str, str] = {}
    for path, name, raw in http.entries("headers"):
        if name not in WEB_HEADERS:
            problems.append((path, f"the header {name!r}{_suggest(name, WEB_HEADERS)} cannot be configured; "
                                   f"headers that can: {', '.join(WEB_HEADERS)}"))
            continue
        value = _convert_at(problems, path, raw, _header_value) if raw is not None else ""
        if value is None or value == "":
            continue  # blank: the header is not sent, as in exporter-toolkit
        allowed = WEB_HEADERS[name]
        if allowed and value not in allowed:
            problems.append((path, f"expected one of {', '.join(allowed)}, got {redact(value)}"))
        else:
            headers[name] = value
    return FrozenMap(headers)


def _header_value(value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"expected a string, got {redact(value)}")
    if "\r" in value or "\n" in value:
        raise _Invalid("header values cannot contain line breaks")
    return value
