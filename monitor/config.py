"""The configuration (CONTRACT §2): YAML -> frozen, validated dataclasses.

``load_config`` reads a file; ``parse_config`` validates already-loaded data. Validation
collects every problem as ``(key_path, message)`` and raises one ``ConfigError``; key paths
read like ``models[0].window.size``. Durations become float seconds in ``*_s`` fields.

``${VAR}`` and ``${VAR:-default}`` in any string value are read from the environment
(``$${`` writes a literal ``${``). A value produced that way is never shown: its ``repr`` is
``'***'``, and error messages print ``'***'`` in its place. Secrets (webhook ``secret``,
Kafka passwords) are held in ``Secret``; webhook header values are always masked. Other
modules that log configuration values should pass them through ``redact``.

This module imports only the standard library, PyYAML and (lazily) ``sqlalchemy.engine``,
so ``driftd check`` stays fast.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import yaml

from monitor.durations import parse_duration
from monitor.errors import ConfigError

__all__ = [
    "DEFAULT_METRICS", "METRICS_BY_TASK", "PVALUE_STATISTICS", "STATISTICS", "TASKS", "TOPIC_FIELDS",
    "Bound", "Config", "DriftConfig", "FeatureConfig", "FieldsConfig", "FrozenMap", "KafkaConfig",
    "LimitsConfig", "ModelConfig", "PerformanceConfig", "ReferenceConfig", "Secret", "ServerConfig",
    "StorageConfig", "TopicsConfig", "WebhookConfig", "WindowConfig", "AlertsConfig",
    "check_files", "check_main", "load_config", "parse_config", "redact",
]

TASKS = ("binary_classification", "multiclass_classification", "regression")
STATISTICS = ("psi", "ks", "wasserstein", "jensenshannon", "chisquare")
PVALUE_STATISTICS = frozenset({"ks", "chisquare"})
"""Statistics whose rule threshold is a p-value: drift when the p-value is below it."""
FEATURE_TYPES = ("numeric", "categorical")
REFERENCE_FORMATS = ("csv", "parquet", "jsonl")
WEBHOOK_FORMATS = ("driftd", "airflow", "kubeflow", "github")
CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "brier")
REGRESSION_METRICS = ("mae", "rmse", "mape", "r2")
METRICS_BY_TASK = {
    "binary_classification": CLASSIFICATION_METRICS,
    "multiclass_classification": ("accuracy", "precision", "recall", "f1"),
    "regression": REGRESSION_METRICS,
}
DEFAULT_METRICS = {
    "binary_classification": ("accuracy", "f1", "roc_auc"),
    "multiclass_classification": ("accuracy", "f1"),
    "regression": ("mae", "rmse"),
}
TOPIC_FIELDS = {
    "predictions": ("model", "model_version", "prediction_id", "timestamp", "features", "prediction"),
    "features": ("model", "model_version", "prediction_id", "timestamp", "features"),
    "labels": ("model", "prediction_id", "timestamp", "label"),
}
"""The contract's field names per topic kind (CONTRACT §1); ``kafka.fields`` renames them."""
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")
RESERVED_COLUMNS = ("prediction", "label")
_RESERVED_HEADERS = ("content-type", "content-length", "idempotency-key", "x-driftd-signature")

K = TypeVar("K")
V = TypeVar("V")


# --- values that must never be shown --------------------------------------------------------

class Secret:
    """A secret string: ``repr``/``str`` show ``Secret('***')``; ``reveal()`` returns the value."""

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        object.__setattr__(self, "_value", str(value))

    def reveal(self) -> str:
        """Return the secret itself; call it only where the value is used, never to log it."""
        return self._value

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Secret is immutable")

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> tuple[type, tuple[str]]:
        return (Secret, (self._value,))


class _Masked:
    """Marks a value read from the environment (or a header value): its repr is ``'***'``."""

    __slots__ = ()
    variables: tuple[str, ...] = ()


class _MaskedStr(_Masked, str):
    def __new__(cls, value: str, variables: tuple[str, ...] = ()) -> "_MaskedStr":
        text = super().__new__(cls, value)
        text.variables = variables
        return text

    def __repr__(self) -> str:
        return "'***'"

    def __reduce__(self) -> Any:
        return (_MaskedStr, (str(self), self.variables))


class _MaskedInt(_Masked, int):
    def __repr__(self) -> str:
        return "***"

    __str__ = int.__repr__


class _MaskedFloat(_Masked, float):
    def __repr__(self) -> str:
        return "***"

    __str__ = float.__repr__


class _MaskedPath(type(Path())):  # type: ignore[misc]
    def __repr__(self) -> str:
        return "Path('***')"


def redact(value: object, limit: int = 60) -> str:
    """Show a configuration value in a message: ``'***'`` for anything read from the environment."""
    if isinstance(value, (_Masked, _MaskedPath)):
        names = getattr(value, "variables", ())
        origin = f" (from {', '.join('${' + name + '}' for name in names)})" if names else ""
        return f"'***'{origin}"
    if isinstance(value, Secret):
        return repr(value)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if value is None:
        return "nothing"
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _plain(value: object) -> str:
    """A value as bare text in a message, ``'***'`` when it came from the environment."""
    return "'***'" if isinstance(value, (_Masked, _MaskedPath)) else str(value)


def _listing(values: Iterable[object]) -> str:
    return ", ".join(_plain(value) for value in values)


def _mask_like(original: object, value: str) -> str:
    """Keep the mask on a string derived from a masked one."""
    if isinstance(original, _MaskedStr):
        return _MaskedStr(value, original.variables)
    return value


class FrozenMap(Mapping[K, V], Generic[K, V]):
    """An immutable, hashable mapping that keeps insertion order."""

    __slots__ = ("_data",)

    def __init__(self, items: Mapping[K, V] | Iterable[tuple[K, V]] = ()) -> None:
        self._data: dict[K, V] = dict(items)

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(frozenset(self._data.items()))

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


# --- the configuration objects --------------------------------------------------------------

@dataclass(frozen=True)
class TopicsConfig:
    """Kafka topics: predictions (required), features and labels (optional)."""

    predictions: str
    features: str | None = None
    labels: str | None = None


@dataclass(frozen=True)
class FieldsConfig:
    """Per topic kind, contract field name -> field name in the user's messages (identity if absent)."""

    predictions: Mapping[str, str] = field(default_factory=FrozenMap)
    features: Mapping[str, str] = field(default_factory=FrozenMap)
    labels: Mapping[str, str] = field(default_factory=FrozenMap)

    def for_topic(self, kind: str) -> dict[str, str]:
        """Return contract name -> source name for every field of a topic kind (predictions|features|labels)."""
        if kind not in TOPIC_FIELDS:
            raise LookupError(f"unknown topic kind {kind!r}; expected one of {', '.join(TOPIC_FIELDS)}")
        renamed: Mapping[str, str] = getattr(self, kind)
        return {name: renamed.get(name, name) for name in TOPIC_FIELDS[kind]}


@dataclass(frozen=True)
class KafkaConfig:
    """How to consume the topics of CONTRACT §1."""

    bootstrap_servers: str
    topics: TopicsConfig
    group_id: str = "driftd"
    dead_letter_topic: str | None = None
    start_from: str = "earliest"
    security_protocol: str = "PLAINTEXT"
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_password: Secret | None = None
    sasl_mechanism: str | None = None
    sasl_plain_username: str | None = None
    sasl_plain_password: Secret | None = None
    fields: FieldsConfig = field(default_factory=FieldsConfig)
    session_timeout_ms: int = 10000
    max_poll_records: int = 5000
    client: str = "kafka-python"


@dataclass(frozen=True)
class StorageConfig:
    """The SQL store; a relative SQLite path is already resolved against the config file's folder."""

    url: str = "sqlite:///driftd.db"
    echo: bool = False

    def __repr__(self) -> str:
        url = self.url if isinstance(self.url, _Masked) else _hide_password(self.url)
        return f"StorageConfig(url={url!r}, echo={self.echo!r})"


@dataclass(frozen=True)
class ServerConfig:
    """Where ``/metrics``, ``/healthz`` and ``/readyz`` are served."""

    host: str = "0.0.0.0"
    port: int = 9108


@dataclass(frozen=True)
class LimitsConfig:
    """The bounds of DESIGN guarantee 4."""

    max_message_bytes: int = 1_048_576
    max_categories: int = 1000
    max_pending_labels: int = 1_000_000
    max_metric_series: int = 50_000


@dataclass(frozen=True)
class ReferenceConfig:
    """A reference from a file (``path``, absolute; ``format`` known) or the first ``events`` live events."""

    path: Path | None = None
    events: int | None = None
    format: str | None = None


@dataclass(frozen=True)
class FeatureConfig:
    """One declared feature."""

    name: str
    type: str


@dataclass(frozen=True)
class WindowConfig:
    """A tumbling window of ``size_s`` seconds of event time, or of ``events`` events."""

    size_s: float | None = None
    events: int | None = None
    allowed_lateness_s: float = 0.0
    min_events: int = 100
    idle_close_s: float | None = None


@dataclass(frozen=True)
class DriftConfig:
    """Which statistics to compute and when a feature, and the model, drift."""

    statistics: tuple[str, ...] = STATISTICS
    rules: Mapping[str, float] = field(default_factory=lambda: FrozenMap({"psi": 0.2}))
    drift_share: float = 0.5
    critical_features: tuple[str, ...] = ()
    bins: int = 10
    sample_size: int = 100_000


@dataclass(frozen=True)
class Bound:
    """A performance rule: it holds when the value is below ``below`` or above ``above``."""

    below: float | None = None
    above: float | None = None

    def violated_by(self, value: float) -> bool:
        """Return True when ``value`` crosses either bound."""
        return (self.below is not None and value < self.below) or (self.above is not None and value > self.above)


@dataclass(frozen=True)
class PerformanceConfig:
    """Performance metrics over joined labels, and the rules on them."""

    metrics: tuple[str, ...]
    threshold: float = 0.5
    label_ttl_s: float = 7 * 86400.0
    min_labels: int = 100
    rules: Mapping[str, Bound] = field(default_factory=FrozenMap)
    positive_label: str | int | bool = 1


@dataclass(frozen=True)
class AlertsConfig:
    """When a holding rule becomes an alert, and where it goes."""

    consecutive_windows: int = 1
    cooldown_s: float = 0.0
    webhooks: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelConfig:
    """Everything driftd knows about one monitored model."""

    name: str
    task: str
    reference: ReferenceConfig
    features: tuple[FeatureConfig, ...] | None
    window: WindowConfig
    drift: DriftConfig
    performance: PerformanceConfig
    alerts: AlertsConfig


@dataclass(frozen=True)
class WebhookConfig:
    """A retraining webhook (CONTRACT §5); header values are masked in ``repr``."""

    name: str
    url: str
    secret: Secret | None = None
    timeout_s: float = 5.0
    max_attempts: int = 12
    format: str = "driftd"
    headers: Mapping[str, str] = field(default_factory=FrozenMap)


@dataclass(frozen=True)
class Config:
    """A whole validated configuration; ``source`` is the file it came from."""

    source: str
    kafka: KafkaConfig | None
    storage: StorageConfig
    server: ServerConfig
    limits: LimitsConfig
    models: tuple[ModelConfig, ...]
    webhooks: Mapping[str, WebhookConfig] = field(default_factory=FrozenMap)

    def model(self, name: str) -> ModelConfig:
        """Return the model called ``name``; raise ``LookupError`` naming the configured ones."""
        for model in self.models:
            if model.name == name:
                return model
        known = _listing(model.name for model in self.models)
        raise LookupError(f"no model named {name!r} in {self.source}; configured models: {known}")


# --- reading --------------------------------------------------------------------------------

def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Read, expand and validate a YAML configuration file; raise ``ConfigError`` listing every problem."""
    source = os.fspath(path)
    try:
        text = Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, [("", f"cannot read the configuration file: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(source, [("", f"the file is not UTF-8 text (byte {exc.start})")]) from None
    data, duplicates = _read_yaml(source, text)
    base_dir = Path(source).resolve().parent
    try:
        config = parse_config(data, source, env, base_dir)
    except ConfigError as exc:
        raise ConfigError(source, duplicates + exc.problems) from None
    if duplicates:
        raise ConfigError(source, duplicates)
    return config


class _Loader(yaml.SafeLoader):  # type: ignore[misc]
    """PyYAML's safe loader, also recording duplicate keys (which YAML would silently overwrite)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[str, str]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            marker = (key_node.tag, key_node.value)
            if marker in seen:
                mark = key_node.start_mark
                self.duplicates.append(
                    ("", f"line {mark.line + 1}, column {mark.column + 1}: duplicate key {key_node.value!r}; "
                         "YAML would silently keep only the last one"))
            seen.add(marker)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def _read_yaml(source: str, text: str) -> tuple[object, list[tuple[str, str]]]:
    loader = _Loader(text)
    try:
        return loader.get_single_data(), loader.duplicates
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        context = f" ({exc.context})" if exc.context else ""
        raise ConfigError(source, [("", f"{where}invalid YAML: {exc.problem}{context}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, [("", f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()


def parse_config(data: object, source: str, env: Mapping[str, str] | None = None,
                 base_dir: Path | None = None) -> Config:
    """Validate loaded YAML data; relative paths resolve against ``base_dir`` (default: the cwd)."""
    problems: list[tuple[str, str]] = []
    env = os.environ if env is None else env
    base = Path.cwd() if base_dir is None else Path(base_dir).resolve()
    data = _expand(data, "", env, problems)
    if data is None:
        raise ConfigError(source, problems + [("", "the file is empty; expected a mapping with a 'models' list")])
    if not isinstance(data, dict):
        raise ConfigError(source, problems + [("", f"expected a mapping at the top level, got {redact(data)}")])
    config = _Parser(problems, base).config(source, data)
    if problems:
        raise ConfigError(source, problems)
    return config


# --- ${VAR} expansion -----------------------------------------------------------------------

class _Unset:
    """Stands for a value whose ${VAR} could not be expanded (already reported)."""

    def __repr__(self) -> str:
        return "<unset>"


_UNSET = _Unset()
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _expand(data: object, path: str, env: Mapping[str, str], problems: list[tuple[str, str]],
            done: dict[int, object] | None = None) -> object:
    """Expand ${VAR} in every string; ``done`` maps id(node) -> result so YAML aliases are expanded once."""
    if isinstance(data, str):
        return _expand_text(data, path, env, problems) if "${" in data else data
    if not isinstance(data, (dict, list)):
        return data
    done = {} if done is None else done
    if id(data) in done:
        if done[id(data)] is _UNSET:
            problems.append((path, "a YAML alias that contains itself"))
        return done[id(data)]
    done[id(data)] = _UNSET
    result: object
    if isinstance(data, dict):
        result = {key: _expand(value, _join(path, str(key)), env, problems, done) for key, value in data.items()}
    else:
        result = [_expand(item, f"{path}[{index}]", env, problems, done) for index, item in enumerate(data)]
    done[id(data)] = result
    return result


def _expand_text(text: str, path: str, env: Mapping[str, str], problems: list[tuple[str, str]]) -> object:
    parts: list[str] = []
    variables: list[str] = []
    failed = False
    position = 0
    while (start := text.find("$", position)) >= 0:
        parts.append(text[position:start])
        if text.startswith("$${", start):
            parts.append("${")
            position = start + 3
            continue
        if not text.startswith("${", start):
            parts.append("$")
            position = start + 1
            continue
        end = text.find("}", start + 2)
        if end < 0:
            problems.append((path, "unterminated ${ (write $${ for a literal ${)"))
            return _UNSET
        name, has_default, default = text[start + 2:end].partition(":-")
        position = end + 1
        if not _VARIABLE.match(name):
            problems.append((path, "malformed ${...}: expected ${NAME} or ${NAME:-default}, "
                                   "NAME made of letters, digits and _"))
            failed = True
            continue
        value = env.get(name)
        if value is None or (has_default and value == ""):
            if not has_default:
                problems.append((path, f"environment variable {name} is not set"))
                failed = True
                continue
            value = default
        variables.append(name)
        parts.append(value)
    parts.append(text[position:])
    if failed:
        return _UNSET
    if not variables:
        return "".join(parts)
    return _MaskedStr("".join(parts), tuple(dict.fromkeys(variables)))


# --- value converters: each returns the value or raises _Invalid(expected ..., got ...) -------

class _Invalid(Exception):
    """The value is unusable; the message says what was expected and what was found."""


Converter = Callable[[Any], Any]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _suggest(word: object, options: Iterable[str]) -> str:
    if not isinstance(word, str) or isinstance(word, _Masked):
        return ""
    options = list(options)
    match = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not match and len(word) >= 3:
        match = [option for option in options if option.startswith(word)][:1]
    return f" (did you mean {match[0]!r}?)" if match else ""


def _from_env(value: object, kind: type) -> object:
    """Convert a masked string from ${VAR} to the number or boolean the key expects, keeping the mask."""
    if not isinstance(value, _MaskedStr):
        return value
    text = value.strip().lower()
    if kind is bool:
        if text in ("true", "yes", "on", "1"):
            return True
        return False if text in ("false", "no", "off", "0") else value
    number: _MaskedInt | _MaskedFloat
    if kind is int and re.fullmatch(r"[+-]?\d+", text):
        number = _MaskedInt(int(text))
    elif kind is float and re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?", text):
        number = _MaskedFloat(float(text))
    else:
        return value
    number.variables = value.variables
    return number


def _text(value: object, what: str = "a non-empty string") -> str:
    if not isinstance(value, str) or not value.strip():
        hint = f" (quote it: \"{value}\")" if isinstance(value, (int, float)) and not isinstance(value, bool) else ""
        raise _Invalid(f"expected {what}, got {redact(value)}{hint}")
    return value


def _named(pattern: str, what: str) -> Converter:
    regex = re.compile(pattern)

    def convert(value: object) -> str:
        text = _text(value, what)
        if not regex.fullmatch(text):
            raise _Invalid(f"expected {what}, got {redact(value)}")
        return text
    return convert


_model_name = _named(r"[A-Za-z0-9_][A-Za-z0-9_./-]{0,199}", "a model name (letters, digits, _ . / -)")
_webhook_name = _named(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}", "a webhook name (letters, digits, _ . -)")
_topic = _named(r"[A-Za-z0-9._-]{1,249}", "a Kafka topic name (letters, digits, . _ -)")
_header_name = _named(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", "an HTTP header name")


def _integer(minimum: int, maximum: int | None = None, what: str = "a positive integer") -> Converter:
    def convert(value: object) -> int:
        value = _from_env(value, int)
        if isinstance(value, bool) or not isinstance(value, int) \
                or value < minimum or (maximum is not None and value > maximum):
            raise _Invalid(f"expected {what}, got {redact(value)}")
        return value
    return convert


_count = _integer(1)


def _number(minimum: float | None = None, maximum: float | None = None, what: str = "a number") -> Converter:
    def convert(value: object) -> float:
        value = _from_env(value, float)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise _Invalid(f"expected {what}, got {redact(value)}")
        return value if isinstance(value, _Masked) else float(value)
    return convert


_share = _number(0.0, 1.0, "a share between 0 and 1")


def _boolean(value: object) -> bool:
    value = _from_env(value, bool)
    if not isinstance(value, bool):
        raise _Invalid(f"expected true or false, got {redact(value)}")
    return value


def _duration(allow_zero: bool = False) -> Converter:
    def convert(value: object) -> float:
        if not isinstance(value, str):
            raise _Invalid(f"expected a duration like 10m, got {redact(value)} (durations need a unit: "
                           "500ms, 30s, 10m, 1h, 7d)")
        try:
            seconds = parse_duration(value)
        except ValueError:
            raise _Invalid(f"expected a duration like 10m, got {redact(value)}") from None
        if seconds == 0 and not allow_zero:
            raise _Invalid(f"expected a duration greater than 0, got {redact(value)}")
        return _MaskedFloat(seconds) if isinstance(value, _Masked) else seconds
    return convert


def _choice(options: Iterable[str], what: str = "") -> Converter:
    options = tuple(options)

    def convert(value: object) -> str:
        if not isinstance(value, str) or value not in options:
            if what and isinstance(value, str):
                raise _Invalid(f"unknown {what} {redact(value)}{_suggest(value, options)}; "
                               f"expected one of {', '.join(options)}")
            raise _Invalid(f"expected one of {', '.join(options)}, got {redact(value)}{_suggest(value, options)}")
        return value
    return convert


def _secret(value: object) -> Secret:
    if not isinstance(value, str) or not value:
        raise _Invalid(f"expected a non-empty string, got {redact(value)}")
    return Secret(value)


def _http_url(value: object) -> str:
    text = _text(value, "an http(s) URL")
    try:
        parts = urlsplit(text)
        _ = parts.port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise _Invalid(f"expected an http(s) URL with a host, like https://ci.example.com/hooks/retrain, "
                       f"got {redact(value)}")
    return text


def _hide_password(url: str) -> str:
    return re.sub(r"(://[^/:@]*:)[^/@]*@", r"\1***@", url)


# --- sections -------------------------------------------------------------------------------

class _Section:
    """One mapping of the YAML: checks its keys, converts values, records problems under its path."""

    def __init__(self, problems: list[tuple[str, str]], path: str, data: object, keys: tuple[str, ...],
                 required: tuple[str, ...] = (), must_exist: bool = False) -> None:
        self.problems, self.path, self.keys = problems, path, keys
        if data is None and must_exist:
            problems.append((path, f"expected a mapping with {', '.join(required)}, got nothing"))
        self.present = data is not None and data is not _UNSET
        self.bad: set[str] = set()
        self.unknown = False
        if self.present and not isinstance(data, dict):
            self.problems.append((path, f"expected a mapping, got {redact(data)}"))
            data, self.present = {}, False
        self.data: dict[Any, Any] = data if isinstance(data, dict) else {}
        for key in self.data:
            if not isinstance(key, str):
                self.problems.append((path, f"keys must be strings, got {key!r}"))
            elif key not in keys:
                self.unknown = True
                self.problems.append((self.key(key), f"unknown key {key!r}{_suggest(key, keys)}; "
                                                     f"valid keys: {', '.join(keys)}"))
        for key in required if self.present else ():
            if self.data.get(key) is None:
                self.problems.append((self.key(key), "required key is missing"))
                self.bad.add(key)

    def key(self, key: str) -> str:
        return _join(self.path, key)

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def add(self, key: str, message: str) -> None:
        self.problems.append((self.key(key) if key else self.path, message))
        self.bad.add(key)

    def get(self, key: str, convert: Converter, default: Any = None) -> Any:
        """Return the converted value, or ``default`` when absent or (after recording why) unusable."""
        value = self.data.get(key)
        if value is _UNSET:
            self.bad.add(key)
            return default
        if value is None:
            return default
        try:
            return convert(value)
        except _Invalid as exc:
            self.add(key, str(exc))
            return default

    def items(self, key: str) -> list[tuple[str, Any]] | None:
        """Return ``(key_path, raw_item)`` pairs of a list value, or None when absent or not a list."""
        value = self.data.get(key)
        if value is _UNSET:
            self.bad.add(key)
        if value is None or value is _UNSET:
            return None
        if not isinstance(value, list):
            self.add(key, f"expected a list, got {redact(value)}")
            return None
        return [(f"{self.key(key)}[{index}]", item) for index, item in enumerate(value)]

    def get_list(self, key: str, convert: Converter, default: tuple[Any, ...] = ()) -> tuple[Any, ...]:
        """Convert every item of a list, reporting bad and repeated items by index."""
        pairs = self.items(key)
        if pairs is None:
            return default if not self.has(key) else ()
        result: list[Any] = []
        for item_path, item in pairs:
            try:
                converted = convert(item) if item is not _UNSET else None
            except _Invalid as exc:
                self.problems.append((item_path, str(exc)))
                self.bad.add(key)
                continue
            if converted in result:
                self.problems.append((item_path, f"{redact(item)} is listed twice"))
                self.bad.add(key)
            elif converted is not None:
                result.append(converted)
        return tuple(result)

    def child(self, key: str, keys: tuple[str, ...], required: tuple[str, ...] = ()) -> "_Section":
        return _Section(self.problems, self.key(key), self.data.get(key), keys, required)

    def entries(self, key: str) -> list[tuple[str, str, Any]]:
        """Return ``(key_path, name, raw_value)`` for a mapping whose keys are user-chosen names."""
        value = self.data.get(key)
        if value is _UNSET:
            self.bad.add(key)
        if value is None or value is _UNSET:
            return []
        if not isinstance(value, dict):
            self.add(key, f"expected a mapping, got {redact(value)}")
            return []
        out = []
        for name, item in value.items():
            if not isinstance(name, str) or not name:
                self.add(key, f"keys must be non-empty strings, got {name!r}")
            else:
                out.append((_join(self.key(key), name), name, item))
        return out


def _convert_at(problems: list[tuple[str, str]], path: str, value: object, convert: Converter) -> Any:
    if value is _UNSET:
        return None
    try:
        return convert(value)
    except _Invalid as exc:
        problems.append((path, str(exc)))
        return None


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
        storage = self.storage(top.child("storage", ("url", "echo")))
        server_section = top.child("server", ("host", "port"))
        server = ServerConfig(server_section.get("host", _text, "0.0.0.0"),
                              server_section.get("port", _integer(1, 65535, "a port number from 1 to 65535"), 9108))
        limits = self.limits(top.child("limits", tuple(LimitsConfig.__dataclass_fields__)))
        models = self.models(top)
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
            session_timeout_ms=sec.get("session_timeout_ms", _count, 10000),
            max_poll_records=sec.get("max_poll_records", _count, 5000),
            client=sec.get("client", _choice(("kafka-python",)), "kafka-python"),
        )
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
        return None if text is None else _mask_like(text, str(self.path(text)))

    def path(self, text: str) -> Path:
        path = Path(text).expanduser()
        path = path if path.is_absolute() else self.base_dir / path
        if not isinstance(text, _Masked):
            return path
        masked = _MaskedPath(path)
        masked.variables = text.variables
        return masked

    # -- storage, limits, webhooks --

    def storage(self, sec: _Section) -> StorageConfig:
        url = sec.get("url", _text, "sqlite:///driftd.db")
        if "url" not in sec.bad:
            try:
                url = _resolve_database_url(url, self.base_dir)
            except _Invalid as exc:
                sec.add("url", str(exc))
        return StorageConfig(url, sec.get("echo", _boolean, False))

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
            out[name] = WebhookConfig(
                name=name,
                url=sec.get("url", _http_url, ""),
                secret=sec.get("secret", _secret),
                timeout_s=sec.get("timeout", _duration(), 5.0),
                max_attempts=sec.get("max_attempts", _count, 12),
                format=sec.get("format", _choice(WEBHOOK_FORMATS), "driftd"),
                headers=self.headers(sec),
            )
        return out

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

    # -- models --

    def models(self, top: _Section) -> tuple[ModelConfig, ...]:
        pairs = top.items("models")
        if pairs is None:
            return ()
        if not pairs:
            top.add("models", "expected at least one model")
        models: list[ModelConfig] = []
        first_index: dict[str, int] = {}
        for index, (path, raw) in enumerate(pairs):
            model = self.model(_Section(self.problems, path, raw, _MODEL_KEYS,
                                        ("name", "task", "reference", "window"), must_exist=True))
            if model.name in first_index:
                self.problems.append((f"{path}.name", f"duplicate model name {model.name!r} "
                                                      f"(also models[{first_index[model.name]}])"))
            elif model.name is not None:
                first_index[model.name] = index
            models.append(model)
        return tuple(models)

    def model(self, sec: _Section) -> ModelConfig:
        name = sec.get("name", _model_name)
        task = sec.get("task", _choice(TASKS, "task"))
        reference = self.reference(sec.child("reference", ("path", "events", "format")))
        features = self.features(sec)
        window = self.window(sec.child("window", _WINDOW_KEYS))
        drift = self.drift(sec.child("drift", _DRIFT_KEYS), None if "features" in sec.bad else features)
        performance = self.performance(sec.child("performance", _PERFORMANCE_KEYS), task)
        alerts = self.alerts(sec.child("alerts", ("consecutive_windows", "cooldown", "webhooks")))
        return ModelConfig(name, task, reference, features, window, drift, performance, alerts)

    def reference(self, sec: _Section) -> ReferenceConfig:
        _exactly_one(sec, "path", "events", "a file to read", "a count of first live events")
        text = sec.get("path", _text)
        fmt = sec.get("format", _choice(REFERENCE_FORMATS, "format"))
        if sec.has("format") and sec.has("events") and not sec.has("path"):
            sec.add("format", "only applies to a reference read from a file (reference.path)")
        if text is not None and fmt is None and "format" not in sec.bad:
            fmt = _format_from_extension(text)
            if fmt is None:
                sec.add("path", f"cannot tell the format of {redact(text)} from its extension; "
                                f"set reference.format to one of {', '.join(REFERENCE_FORMATS)}")
        return ReferenceConfig(path=None if text is None else self.path(text),
                               events=sec.get("events", _count), format=fmt)

    def features(self, sec: _Section) -> tuple[FeatureConfig, ...] | None:
        pairs = sec.items("features")
        if pairs is None:
            return None if not sec.has("features") else ()
        if not pairs:
            sec.add("features", "expected at least one feature; leave features out to infer them from the reference")
        features: list[FeatureConfig] = []
        first_index: dict[str, int] = {}
        for index, (path, raw) in enumerate(pairs):
            item = _Section(self.problems, path, raw, ("name", "type"), ("name", "type"), must_exist=True)
            name = item.get("name", _text)
            if name in RESERVED_COLUMNS:
                item.add("name", f"{name!r} is reserved for the {name} column of reference files")
            elif name in first_index:
                item.add("name", f"duplicate feature {name!r} (also features[{first_index[name]}])")
            elif name is not None:
                first_index[name] = index
            features.append(FeatureConfig(name, item.get("type", _choice(FEATURE_TYPES, "feature type"))))
            if item.bad or not item.present:
                sec.bad.add("features")
        return tuple(features)

    def window(self, sec: _Section) -> WindowConfig:
        _exactly_one(sec, "size", "events", "a time window like 1h", "a count window like 10000")
        size = sec.get("size", _duration())
        events = sec.get("events", _count)
        by_count = sec.has("events") and not sec.has("size")
        if by_count and sec.has("allowed_lateness"):
            sec.add("allowed_lateness", "only applies to time windows (window.size)")
        min_events = sec.get("min_events", _count, min(100, events) if by_count and events else 100)
        if by_count and events and min_events > events:
            sec.add("min_events", f"{_plain(min_events)} is more than window.events ({_plain(events)}): "
                                  "no window would ever be judged")
        return WindowConfig(
            size_s=size,
            events=events,
            allowed_lateness_s=sec.get("allowed_lateness", _duration(allow_zero=True), 0.0),
            min_events=min_events,
            idle_close_s=sec.get("idle_close", _duration(), size),
        )

    def drift(self, sec: _Section, features: tuple[FeatureConfig, ...] | None) -> DriftConfig:
        statistics = sec.get_list("statistics", _choice(STATISTICS, "statistic"), STATISTICS)
        if sec.has("statistics") and not statistics and "statistics" not in sec.bad:
            sec.add("statistics", f"expected at least one of {', '.join(STATISTICS)}")
        rules: dict[str, float] = {}
        for path, name, raw in sec.entries("rules"):
            threshold = self.drift_rule(path, name, raw, statistics, "statistics" in sec.bad)
            if threshold is not None:
                rules[name] = threshold
        if not sec.has("rules"):
            rules = {"psi": 0.2} if "psi" in statistics else {}
        critical = sec.get_list("critical_features", _text)
        if features is not None and "critical_features" not in sec.bad:
            names = [feature.name for feature in features]
            for index, name in enumerate(critical):
                if name not in names:
                    self.problems.append((f"{sec.key('critical_features')}[{index}]",
                                          f"{name!r} is not a feature of this model{_suggest(name, names)}; "
                                          f"features: {_listing(names)}"))
        return DriftConfig(
            statistics=statistics,
            rules=FrozenMap(rules),
            drift_share=sec.get("drift_share", _share, 0.5),
            critical_features=critical,
            bins=sec.get("bins", _integer(2, 1000, "an integer from 2 to 1000"), 10),
            sample_size=sec.get("sample_size", _integer(100, None, "an integer of at least 100"), 100_000),
        )

    def drift_rule(self, path: str, name: str, raw: object, statistics: tuple[str, ...],
                   statistics_bad: bool) -> float | None:
        if name not in STATISTICS:
            self.problems.append((path, f"unknown statistic {name!r}{_suggest(name, STATISTICS)}; "
                                        f"expected one of {', '.join(STATISTICS)}"))
            return None
        if name not in statistics and not statistics_bad:
            self.problems.append((path, f"a rule for {name!r}, which is not in drift.statistics "
                                        f"({_listing(statistics)})"))
        if name in PVALUE_STATISTICS:
            convert = _number(0.0, 1.0, "a p-value between 0 and 1")
        else:
            convert = _number(0.0, None, "a threshold of at least 0")
        threshold: float | None = _convert_at(self.problems, path, raw, convert)
        return threshold

    def performance(self, sec: _Section, task: str | None) -> PerformanceConfig:
        valid = METRICS_BY_TASK.get(task or "", CLASSIFICATION_METRICS + REGRESSION_METRICS)
        metrics = sec.get_list("metrics", lambda value: _metric(value, task, valid),
                               DEFAULT_METRICS.get(task or "", ()))
        if sec.has("metrics") and not metrics and "metrics" not in sec.bad:
            sec.add("metrics", f"expected at least one of {', '.join(valid)}")
        rules: dict[str, Bound] = {}
        for path, name, raw in sec.entries("rules"):
            try:
                _metric(name, task, valid)
            except _Invalid as exc:
                self.problems.append((path, str(exc)))
                continue
            if name not in metrics and "metrics" not in sec.bad:
                self.problems.append((path, f"a rule for {name!r}, which is not in performance.metrics "
                                            f"({_listing(metrics)})"))
            rules[name] = self.bound(path, raw)
        return PerformanceConfig(
            metrics=metrics,
            threshold=sec.get("threshold", _share, 0.5),
            label_ttl_s=sec.get("label_ttl", _duration(), 7 * 86400.0),
            min_labels=sec.get("min_labels", _count, 100),
            rules=FrozenMap(rules),
            positive_label=sec.get("positive_label", _label_value, 1),
        )

    def bound(self, path: str, raw: object) -> Bound:
        if raw is None or (raw is not _UNSET and not isinstance(raw, dict)):
            self.problems.append((path, f"expected a mapping like {{below: 0.8}} or {{above: 0.3}}, got {redact(raw)}"))
            raw = None
        sec = _Section(self.problems, path, raw, ("below", "above"))
        below = sec.get("below", _number())
        above = sec.get("above", _number())
        if not sec.present:
            pass
        elif below is None and above is None and not sec.bad and not sec.unknown:
            sec.problems.append((sec.path, "expected below, above or both, like {below: 0.8}"))
        elif below is not None and above is not None and below >= above:
            sec.problems.append((sec.path, f"below ({_plain(below)}) must be less than above ({_plain(above)}), "
                                           "or the rule would always hold"))
        return Bound(below, above)

    def alerts(self, sec: _Section) -> AlertsConfig:
        names = sec.get_list("webhooks", _text)
        if "webhooks" not in sec.bad:
            for index, name in enumerate(names):
                if name not in self.webhook_names:
                    defined = (f"defined webhooks: {', '.join(self.webhook_names)}" if self.webhook_names
                               else "no webhooks are defined (add them under the top-level webhooks key)")
                    self.problems.append((f"{sec.key('webhooks')}[{index}]", f"no webhook named {name!r}"
                                          f"{_suggest(name, self.webhook_names)}; {defined}"))
        return AlertsConfig(
            consecutive_windows=sec.get("consecutive_windows", _count, 1),
            cooldown_s=sec.get("cooldown", _duration(allow_zero=True), 0.0),
            webhooks=names,
        )


_KAFKA_KEYS = tuple(name for name in KafkaConfig.__dataclass_fields__)
_WEBHOOK_KEYS = ("url", "secret", "timeout", "max_attempts", "format", "headers")
_MODEL_KEYS = ("name", "task", "reference", "features", "window", "drift", "performance", "alerts")
_WINDOW_KEYS = ("size", "events", "allowed_lateness", "min_events", "idle_close")
_DRIFT_KEYS = ("statistics", "rules", "drift_share", "critical_features", "bins", "sample_size")
_PERFORMANCE_KEYS = ("metrics", "threshold", "label_ttl", "min_labels", "rules", "positive_label")
_COMPRESSIONS = (".gz", ".bz2", ".xz", ".zst", ".zip")
_EXTENSIONS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def _exactly_one(sec: _Section, first: str, second: str, first_is: str, second_is: str) -> None:
    if not sec.present:
        return
    if sec.has(first) and sec.has(second):
        sec.add("", f"give either {first} or {second}, not both")
    elif not sec.has(first) and not sec.has(second) and first not in sec.bad and second not in sec.bad:
        sec.add("", f"expected {first} ({first_is}) or {second} ({second_is})")


def _format_from_extension(text: str) -> str | None:
    suffixes = [suffix.lower() for suffix in Path(text).suffixes]
    if len(suffixes) >= 2 and suffixes[-1] in _COMPRESSIONS:
        fmt = _EXTENSIONS.get(suffixes[-2])
        return fmt if fmt in ("csv", "jsonl") else None
    return _EXTENSIONS.get(suffixes[-1]) if suffixes else None


def _metric(value: object, task: str | None, valid: tuple[str, ...]) -> str:
    known = CLASSIFICATION_METRICS + REGRESSION_METRICS
    if not isinstance(value, str) or value not in known:
        raise _Invalid(f"unknown metric {redact(value)}{_suggest(value, valid)}; "
                       f"expected one of {', '.join(valid)}")
    if value not in valid:
        raise _Invalid(f"{value!r} is not available for {_plain(task)}; expected one of {', '.join(valid)}")
    return value


def _label_value(value: object) -> str | int | bool:
    if isinstance(value, (str, int)) and not isinstance(value, float):
        return value
    raise _Invalid(f"expected a class label (a string, an integer or a boolean), got {redact(value)}")


def _bootstrap_servers(value: object) -> str:
    if isinstance(value, list) and value and all(isinstance(item, str) and item.strip() for item in value):
        masked = [item for item in value if isinstance(item, _MaskedStr)]
        joined = ",".join(item.strip() for item in value)
        return _MaskedStr(joined, tuple(n for item in masked for n in item.variables)) if masked else joined
    text = _text(value, "host:port, or a list of them")
    if any(not part.strip() for part in text.split(",")):
        raise _Invalid(f"expected host:port entries separated by commas, got {redact(value)}")
    return text


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


# --- driftd check ---------------------------------------------------------------------------

def check_files(config: Config) -> list[tuple[str, str]]:
    """Return ``(key_path, message)`` for every file the configuration names that is not there."""
    problems: list[tuple[str, str]] = []

    def need_file(key: str, path: Path) -> None:
        shown = redact(path) if isinstance(path, _MaskedPath) else str(path)
        if not path.exists():
            problems.append((key, f"no such file: {shown}"))
        elif not path.is_file():
            problems.append((key, f"not a file: {shown}"))

    for index, model in enumerate(config.models):
        if model.reference.path is not None:
            need_file(f"models[{index}].reference.path", model.reference.path)
    if config.kafka is not None:
        for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            value = getattr(config.kafka, key)
            if value is not None:
                path = Path(value)
                if isinstance(value, _Masked):
                    path = _MaskedPath(value)
                    path.variables = value.variables
                need_file(f"kafka.{key}", path)
    folder = _sqlite_folder(config.storage.url)
    if folder is not None and not folder.is_dir():
        shown = "'***'" if isinstance(config.storage.url, _Masked) else str(folder)
        problems.append(("storage.url", f"the folder of the SQLite database does not exist: {shown}"))
    return problems


def _sqlite_folder(text: str) -> Path | None:
    from sqlalchemy.engine import make_url

    url = make_url(text)
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).parent


def check_main(path: str, env: Mapping[str, str] | None = None) -> int:
    """``driftd check``: print every problem as ``FILE: KEY: MESSAGE`` to stderr and return 2, or return 0."""
    try:
        config = load_config(path, env)
    except ConfigError as exc:
        _print_problems(exc.source, exc.problems)
        return 2
    problems = check_files(config)
    if problems:
        _print_problems(path, problems)
        return 2
    count = len(config.models)
    print(f"{path}: ok ({count} model{'' if count == 1 else 's'})")
    return 0


def _print_problems(source: str, problems: list[tuple[str, str]]) -> None:
    for key, message in problems:
        print(f"{source}: {key}: {message}" if key else f"{source}: {message}", file=sys.stderr)
