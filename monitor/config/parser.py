"""The top of the configuration: kafka, storage, server, limits and webhooks; ``models`` goes to ``models.py``."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from monitor.config.convert import (
    _boolean, _choice, _count, _duration, _header_name, _http_url, _integer, _Invalid, _named, _resolve_path,
    _secret, _suggest, _text, _topic, _webhook_name,
)
from monitor.config.expand import _UNSET
from monitor.config.masking import FrozenMap, _mask_like, _Masked, _MaskedStr, _plain, redact
from monitor.config.model import (
    KAFKA_CLIENTS, SASL_MECHANISMS, SECURITY_PROTOCOLS, TIMESTAMP_UNITS, TOPIC_FIELDS, WEBHOOK_FORMATS, WEBHOOK_PARAMS,
    Config, FieldsConfig, KafkaConfig, LimitsConfig, ServerConfig, StorageConfig, TopicsConfig, WebConfig, WebhookConfig,
)
from monitor.config.durations import format_duration
from monitor.config.models import _ModelsParser
from monitor.config.section import _convert_at, _Section
from monitor.config.web import read_web_config

_KAFKA_KEYS = tuple(name for name in KafkaConfig.__dataclass_fields__)
_WEBHOOK_KEYS = ("url", "secret", "timeout", "max_attempts", "format", "headers", "params", "retry_initial",
                 "retry_max")
_RESERVED_HEADERS = ("content-type", "content-length", "idempotency-key", "x-driftd-signature")


class _Parser:
    """Builds the configuration objects section by section, collecting every problem."""

    def __init__(self, problems: list[tuple[str, str]], base_dir: Path) -> None:
        self.problems = problems
        self.base_dir = base_dir
        self.webhook_names: tuple[str, ...] = ()

    def config(self, source: str, data: dict[str, Any]) -> Config:
        keys = ("kafka", "storage", "server", "limits", "models", "webhooks")
        top = _Section(self.problems, "", data, keys, required=("models",))
        webhooks = self.webhooks(top)
        kafka = self.kafka(top.child("kafka", _KAFKA_KEYS, ("bootstrap_servers", "topics")))
        storage = self.storage(top.child("storage", ("url", "echo", "checkpoint_interval")))
        server_section = top.child("server", ("host", "port", "web_config"))
        server = ServerConfig(server_section.get("host", _text, "0.0.0.0"),
                              server_section.get("port", _integer(1, 65535, "a port number from 1 to 65535"), 9108),
                              self.web_config(server_section))
        limits = self.limits(top.child("limits", tuple(LimitsConfig.__dataclass_fields__)))
        models = _ModelsParser(self.problems, self.base_dir, self.webhook_names).models(top)
        return Config(source, kafka, storage, server, limits, models, FrozenMap(webhooks))

    # -- kafka --

    def kafka(self, sec: _Section) -> KafkaConfig | None:
        if not sec.present:
            return None
        servers = sec.get("bootstrap_servers", _bootstrap_servers, "")
        topics_section = sec.child("topics", ("predictions", "features", "labels"), ("predictions",))
        topics = TopicsConfig(*(topics_section.get(kind, _topic) for kind in ("predictions", "features", "labels")))
        named = [(kind, name) for kind, name in vars(topics).items() if name is not None]
        for index, (kind, name) in enumerate(named):
            for other_kind, other in named[:index]:
                if name == other:
                    topics_section.add(kind, f"the same topic as topics.{other_kind}; each kind needs its own topic")
        protocol = sec.get("security_protocol", _choice(SECURITY_PROTOCOLS), "PLAINTEXT")
        mechanism = sec.get("sasl_mechanism", _choice(SASL_MECHANISMS))
        config = KafkaConfig(
            bootstrap_servers=servers,
            topics=topics,
            group_id=sec.get("group_id", _text, "driftd"),
            dead_letter_topic=sec.get("dead_letter_topic", _topic),
            start_from=sec.get("start_from", _choice(("earliest", "latest")), "earliest"),
            security_protocol=protocol,
            ssl_cafile=self.file(sec, "ssl_cafile"),
            ssl_certfile=self.file(sec, "ssl_certfile"),
            ssl_keyfile=self.file(sec, "ssl_keyfile"),
            ssl_password=sec.get("ssl_password", _secret),
            sasl_mechanism=mechanism,
            sasl_plain_username=sec.get("sasl_plain_username", _text),
            sasl_plain_password=sec.get("sasl_plain_password", _secret),
            fields=self.fields(sec.child("fields", tuple(TOPIC_FIELDS))),
            timestamp_unit=self.timestamp_units(sec.child("timestamp_unit", tuple(TOPIC_FIELDS))),
            session_timeout_ms=sec.get("session_timeout_ms", _count, 10000),
            max_poll_records=sec.get("max_poll_records", _count, 5000),
            client=sec.get("client", _choice(KAFKA_CLIENTS, "Kafka client"), "kafka-python"),
            decode_workers=sec.get("decode_workers", _integer(0, 1, "0 (decode in the loop's thread) or 1 "
                                                                  "(a decoding process)"), 1),
        )
        if config.client == "confluent" and importlib.util.find_spec("confluent_kafka") is None:
            sec.add("client", "confluent needs the confluent-kafka package, which is not installed: "
                              "pip install 'driftd[fast]' (or use client: kafka-python)")
        if "security_protocol" not in sec.bad:
            self.kafka_security(sec, protocol)
        return config

    def kafka_security(self, sec: _Section, protocol: str) -> None:
        sasl = protocol.startswith("SASL_")
        ssl = protocol in ("SSL", "SASL_SSL")
        for key in ("sasl_mechanism", "sasl_plain_username", "sasl_plain_password"):
            if sec.has(key) and not sasl:
                sec.add(key, "only used when security_protocol is SASL_PLAINTEXT or SASL_SSL "
                             f"(it is {_plain(protocol)})")
        for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile", "ssl_password"):
            if sec.has(key) and not ssl:
                sec.add(key, f"only used when security_protocol is SSL or SASL_SSL (it is {_plain(protocol)})")
        if sasl and not sec.has("sasl_mechanism") and "sasl_mechanism" not in sec.bad:
            sec.add("sasl_mechanism", f"required when security_protocol is {_plain(protocol)}; "
                                      f"expected one of {', '.join(SASL_MECHANISMS)}")
        mechanism = sec.data.get("sasl_mechanism")
        if sasl and mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
            for key in ("sasl_plain_username", "sasl_plain_password"):
                if not sec.has(key) and key not in sec.bad:
                    sec.add(key, f"required when sasl_mechanism is {_plain(mechanism)}")

    @staticmethod
    def timestamp_units(sec: _Section) -> FrozenMap[str, str]:
        """``kafka.timestamp_unit``: per topic kind, the unit of numeric timestamps (seconds unless given)."""
        unit = _choice(tuple(TIMESTAMP_UNITS), "timestamp unit")
        return FrozenMap({kind: sec.get(kind, unit, "seconds") for kind in TOPIC_FIELDS})

    def fields(self, sec: _Section) -> FieldsConfig:
        renames: dict[str, FrozenMap[str, str]] = {}
        for kind, valid in TOPIC_FIELDS.items():
            mapping: dict[str, str] = {}
            sources: dict[str, str] = {}
            for path, name, raw in sec.entries(kind):
                if name not in valid:
                    self.problems.append((path, f"unknown field {name!r}{_suggest(name, valid)}; "
                                                f"fields of the {kind} topic: {', '.join(valid)}"))
                    continue
                source = _convert_at(self.problems, path, raw, _text)
                if source is None:
                    continue
                if source in sources:
                    self.problems.append((path, f"{redact(source)} is also the source of {sources[source]}"))
                sources[source] = name
                mapping[name] = source
            renames[kind] = FrozenMap(mapping)
        return FieldsConfig(**renames)

    def file(self, sec: _Section, key: str) -> str | None:
        text = sec.get(key, _text)
        return None if text is None else _mask_like(text, str(_resolve_path(text, self.base_dir)))

    def web_config(self, sec: _Section) -> WebConfig | None:
        """``server.web_config``: the exporter-toolkit file is read now, so a bad one stops ``check`` and ``run``."""
        text = sec.get("web_config", _text)
        if text is None:
            return None
        path = _resolve_path(text, self.base_dir)
        web, problems = read_web_config(path)
        shown = redact(path) if isinstance(text, _Masked) else str(path)
        for key, message in problems:
            sec.add("web_config", f"{shown}: {key}: {message}" if key else f"{shown}: {message}")
        return web

    # -- storage, limits, webhooks --

    def storage(self, sec: _Section) -> StorageConfig:
        url = sec.get("url", _text, "sqlite:///driftd.db")
        if "url" not in sec.bad:
            try:
                url = _resolve_database_url(url, self.base_dir)
            except _Invalid as exc:
                sec.add("url", str(exc))
        return StorageConfig(url, sec.get("echo", _boolean, False),
                             sec.get("checkpoint_interval", _duration(), 10.0))

    def limits(self, sec: _Section) -> LimitsConfig:
        defaults = LimitsConfig()
        return LimitsConfig(**{key: sec.get(key, _count, getattr(defaults, key)) for key in sec.keys})

    def webhooks(self, top: _Section) -> dict[str, WebhookConfig]:
        out: dict[str, WebhookConfig] = {}
        entries = top.entries("webhooks")
        self.webhook_names = tuple(name for _, name, _ in entries)
        for path, name, raw in entries:
            _convert_at(self.problems, path, name, _webhook_name)
            if raw is None:
                self.problems.append((path, "expected a mapping with at least a url"))
            sec = _Section(self.problems, path, raw, _WEBHOOK_KEYS, ("url",))
            fmt = sec.get("format", _choice(WEBHOOK_FORMATS), "driftd")
            url = sec.get("url", _http_url, "")
            if url and "format" not in sec.bad and not _WEBHOOK_PATHS[fmt][0].search(urlsplit(url).path):
                sec.add("url", f"the {fmt} format posts to {_WEBHOOK_PATHS[fmt][1]}; expected the full URL of that "
                               f"endpoint, got {redact(url)}")
            retry_initial_s = sec.get("retry_initial", _duration(), 1.0)
            retry_max_s = sec.get("retry_max", _duration(), 300.0)
            if retry_max_s < retry_initial_s and not {"retry_initial", "retry_max"} & sec.bad:
                sec.add("retry_max", f"must be at least retry_initial ({format_duration(retry_initial_s)}), "
                                     f"got {redact(sec.data['retry_max'])}")
            out[name] = WebhookConfig(
                name=name,
                url=url,
                secret=sec.get("secret", _secret),
                timeout_s=sec.get("timeout", _duration(), 5.0),
                max_attempts=sec.get("max_attempts", _count, 12),
                format=fmt,
                headers=self.headers(sec),
                params=self.params(sec, None if "format" in sec.bad else fmt),
                retry_initial_s=retry_initial_s,
                retry_max_s=retry_max_s,
            )
        return out

    def params(self, sec: _Section, fmt: str | None) -> FrozenMap[str, str]:
        """A webhook's ``params``: the keys its format takes (``WEBHOOK_PARAMS``), defaults filled in."""
        if fmt is None:
            return FrozenMap()
        spec = WEBHOOK_PARAMS[fmt]
        if not spec:
            if sec.data.get("params"):
                sec.add("params", f"the {fmt} format takes no params; formats with params: "
                                  f"{', '.join(name for name, keys in WEBHOOK_PARAMS.items() if keys)}")
            return FrozenMap()
        required = tuple(key for key, (needed, _) in spec.items() if needed)
        if required and sec.data.get("params") is None:
            sec.add("params", f"required by the {fmt} format: a mapping with {', '.join(required)}")
        child = _Section(self.problems, sec.key("params"), sec.data.get("params"), tuple(spec), required)
        values: dict[str, str] = {}
        for key, (_, default) in spec.items():
            value = child.get(key, _PARAM_CHECKS.get(key, _param_text), default)
            if value is not None:
                values[key] = value
        return FrozenMap(values)

    def headers(self, sec: _Section) -> FrozenMap[str, str]:
        headers: dict[str, str] = {}
        for path, name, raw in sec.entries("headers"):
            if _convert_at(self.problems, path, name, _header_name) is None:
                continue
            if name.lower() in _RESERVED_HEADERS:
                self.problems.append((path, f"{name} is set by driftd itself and cannot be overridden"))
                continue
            if raw is _UNSET:
                continue
            if not isinstance(raw, str):
                self.problems.append((path, f"expected a string, got {redact(raw)}"))
            elif "\r" in raw or "\n" in raw:
                self.problems.append((path, "header values cannot contain line breaks"))
            else:
                headers[name] = raw if isinstance(raw, _Masked) else _MaskedStr(raw)
        return FrozenMap(headers)


def _bootstrap_servers(value: object) -> str:
    if isinstance(value, list) and value and all(isinstance(item, str) and item.strip() for item in value):
        masked = [item for item in value if isinstance(item, _MaskedStr)]
        joined = ",".join(item.strip() for item in value)
        return _MaskedStr(joined, tuple(n for item in masked for n in item.variables)) if masked else joined
    text = _text(value, "host:port, or a list of them")
    if any(not part.strip() for part in text.split(",")):
        raise _Invalid(f"expected host:port entries separated by commas, got {redact(value)}")
    return text


_WEBHOOK_PATHS = {
    "driftd": (re.compile(""), "any http(s) URL"),
    "airflow": (re.compile(r"/dags/[^/]+/dagRuns/?$"), "Airflow's /api/v1/dags/<dag_id>/dagRuns"),
    "kubeflow": (re.compile(r"/runs/?$"), "Kubeflow Pipelines' /apis/v2beta1/runs"),
    "github": (re.compile(r"/repos/[^/]+/[^/]+/dispatches/?$"), "GitHub's /repos/<owner>/<repo>/dispatches"),
}
"""Per format, the path its endpoint must have, and how to say it."""


def _param_text(value: object) -> str:
    text = _text(value)
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        raise _Invalid(f"expected text without control characters, got {redact(value)}")
    return text


def _event_type(value: object) -> str:
    text = _param_text(value)
    if len(text) > 100:
        raise _Invalid(f"expected a GitHub event type of at most 100 characters, got {len(text)} characters")
    return text


_PARAM_CHECKS = {
    "event_type": _event_type,
    "parameter": _named(r"[A-Za-z_][A-Za-z0-9_]*", "a pipeline parameter name (letters, digits, _)"),
}
"""Params checked more closely than as non-empty text."""


def _resolve_database_url(text: str, base_dir: Path) -> str:
    """Check a SQLAlchemy URL and make a relative SQLite path absolute."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    example = "like sqlite:///driftd.db or postgresql+psycopg://user@host/db"
    try:
        url = make_url(text)
        url.get_dialect()
    except (SQLAlchemyError, ValueError, ImportError):
        raise _Invalid(f"expected a database URL {example}, got {redact(text)}") from None
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:" \
            or database.startswith("file:") or Path(database).is_absolute():
        return text
    resolved = url.set(database=str(base_dir / Path(database).expanduser()))
    return _mask_like(text, resolved.render_as_string(hide_password=False))
