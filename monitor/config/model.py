"""The names of the contract (tasks, statistics, metrics, topic fields) and the frozen configuration objects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from monitor.config.masking import FrozenMap, Secret, _hide_password, _listing, _Masked

TASKS = ("binary_classification", "multiclass_classification", "regression")
STATISTICS = ("psi", "ks", "wasserstein", "jensenshannon", "chisquare")
PVALUE_STATISTICS = frozenset({"ks", "chisquare"})
"""Statistics whose rule threshold is a p-value: drift when the p-value is below it."""
FEATURE_TYPES = ("numeric", "categorical")
REFERENCE_FORMATS = ("csv", "parquet", "jsonl")
WEBHOOK_FORMATS = ("driftd", "airflow", "kubeflow", "github")
WEBHOOK_PARAMS: dict[str, dict[str, tuple[bool, str | None]]] = {
    "driftd": {},
    "airflow": {},
    "kubeflow": {"pipeline_id": (True, None), "pipeline_version_id": (False, None),
                 "experiment_id": (False, None), "parameter": (False, "alert")},
    "github": {"event_type": (False, "driftd_alert")},
}
"""Per webhook ``format``, its ``params`` keys: name -> (required, default); no default means left out."""
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
"""The contract's field names per topic kind (docs/input.md); ``kafka.fields`` renames them."""
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
KAFKA_CLIENTS = ("kafka-python", "confluent")
"""``kafka.client``: kafka-python (the default) or confluent-kafka (librdkafka, the ``driftd[fast]`` extra)."""
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")
RESERVED_COLUMNS = ("prediction", "label")


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


TIMESTAMP_UNITS = {"seconds": 1.0, "milliseconds": 1e3, "microseconds": 1e6, "nanoseconds": 1e9}
"""``kafka.timestamp_unit`` values: how many of the unit make a second (a numeric timestamp is divided by it)."""


@dataclass(frozen=True)
class KafkaConfig:
    """How to consume the topics of docs/input.md."""

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
    timestamp_unit: Mapping[str, str] = field(default_factory=FrozenMap)
    """Per topic kind (predictions, features, labels), the unit of a numeric ``timestamp``; absent: seconds."""
    session_timeout_ms: int = 10000
    max_poll_records: int = 5000
    client: str = "kafka-python"
    decode_workers: int = 1
    """``kafka.decode_workers``: 1 decodes batches in a child process, overlapped with windowing; 0 in the loop."""


@dataclass(frozen=True)
class StorageConfig:
    """The SQL store; a relative SQLite path is already resolved against the config file's folder."""

    url: str = "sqlite:///driftd.db"
    echo: bool = False
    checkpoint_interval_s: float = 10.0
    """How often the daemon writes a checkpoint (state, offsets, closed windows) at the latest."""

    def __repr__(self) -> str:
        url = self.url if isinstance(self.url, _Masked) else _hide_password(self.url)
        return f"StorageConfig(url={url!r}, echo={self.echo!r}, checkpoint_interval_s={self.checkpoint_interval_s!r})"


CLIENT_AUTH_TYPES = ("NoClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert")
"""``tls_server_config.client_auth_type`` values driftd serves (exporter-toolkit's names, Go's ``tls.ClientAuthType``)."""
TLS_VERSIONS = ("TLS12", "TLS13")
WEB_HEADERS: dict[str, tuple[str, ...]] = {
    "Strict-Transport-Security": (), "X-Content-Type-Options": ("nosniff",), "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": (), "Content-Security-Policy": (),
}
"""``http_server_config.headers`` a web configuration file may set: name -> allowed values (empty: any), as exporter-toolkit."""


@dataclass(frozen=True)
class TlsServerConfig:
    """``tls_server_config`` of a web configuration file; paths are absolute (resolved against the file's folder)."""

    cert_file: Path
    key_file: Path
    client_auth_type: str = "NoClientCert"
    client_ca_file: Path | None = None
    min_version: str = "TLS12"
    max_version: str = "TLS13"


@dataclass(frozen=True)
class WebConfig:
    """An exporter-toolkit web configuration file (``server.web_config``): TLS, basic auth users, response headers.

    ``users`` maps a user name to its bcrypt hash (no users: no basic auth); no ``tls``: plain HTTP.
    """

    path: Path
    tls: TlsServerConfig | None = None
    users: Mapping[str, Secret] = field(default_factory=FrozenMap)
    headers: Mapping[str, str] = field(default_factory=FrozenMap)


@dataclass(frozen=True)
class ServerConfig:
    """Where ``/metrics``, ``/healthz`` and ``/readyz`` are served, and who may read them (``web_config``)."""

    host: str = "0.0.0.0"
    port: int = 9108
    web_config: WebConfig | None = None


@dataclass(frozen=True)
class LimitsConfig:
    """The bounds on memory and storage (docs/configuration.md `limits`): each has a key, a default and a counter."""

    max_message_bytes: int = 1_048_576
    max_categories: int = 1000
    max_pending_labels: int = 1_000_000
    max_metric_series: int = 50_000
    max_value_length: int = 1024


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
    max_future_s: float = 3600.0
    """How far ahead of the daemon's wall clock an event may be dated (farther: ``future_timestamp``)."""


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
    """A retraining webhook (docs/webhooks.md); header values are masked in ``repr``."""

    name: str
    url: str
    secret: Secret | None = None
    timeout_s: float = 5.0
    max_attempts: int = 12
    format: str = "driftd"
    headers: Mapping[str, str] = field(default_factory=FrozenMap)
    params: Mapping[str, str] = field(default_factory=FrozenMap)
    """The format's settings (``WEBHOOK_PARAMS``), defaults filled in."""
    retry_initial_s: float = 1.0
    """Backoff ceiling after the first failed attempt; it doubles per attempt up to ``retry_max_s``."""
    retry_max_s: float = 300.0


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

