"""The store's tables, as SQLAlchemy Core objects on one MetaData.

This module describes the schema at the newest migration. The migrations in
``migrations/versions`` create it; ``tests/monitor/store`` checks that both agree. Change
a table here only together with a new migration.

Float conventions: statistic values and p-values are ``Double`` columns where NULL means
NaN; JSON columns never hold NaN or infinity (they are written as null).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Text,
    Table,
    UniqueConstraint,
    false,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Deterministic constraint names, so later migrations can drop or alter them by name."""

metadata = MetaData(naming_convention=NAMING_CONVENTION)

reference_profiles = Table(
    "reference_profiles",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(255), nullable=False),
    Column("version", Integer, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("source", String(1024), nullable=False),
    Column("config", JSON, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    UniqueConstraint("model", "version"),
)
"""Versioned reference profiles: version n + 1 of a model is built after version n."""

windows = Table(
    "windows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(255), nullable=False),
    Column("start", Double, nullable=False),
    Column("end", Double, nullable=False),
    Column("events", BigInteger, nullable=False),
    Column("judged", Boolean, nullable=False),
    Column("drift_share", Double, nullable=True),
    Column("drifted", Boolean, nullable=True),
    Column("reference_version", Integer, nullable=True),
    Column("model_version", String(255), nullable=True),
    Column("labels", BigInteger, nullable=False),
    Column("performance", JSON, nullable=False),
    Column("closed_at", Double, nullable=True),
    UniqueConstraint("model", "start", "end"),
    Index("ix_windows_model_end", "model", "end"),
)
"""One row per closed window of a model (a WindowResult without its per-feature parts)."""

window_features = Table(
    "window_features",
    metadata,
    Column("window_id", Integer, ForeignKey("windows.id", ondelete="CASCADE"), nullable=False),
    Column("feature", String(255), nullable=False),
    Column("is_prediction", Boolean, nullable=False),
    Column("ordinal", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("missing_ratio", Double, nullable=True),
    Column("drifted", Boolean, nullable=True),
    PrimaryKeyConstraint("window_id", "feature", "is_prediction"),
)
"""One FeatureResult per row; ``ordinal`` keeps the window's feature order."""

feature_statistics = Table(
    "feature_statistics",
    metadata,
    Column("window_id", Integer, ForeignKey("windows.id", ondelete="CASCADE"), nullable=False),
    Column("feature", String(255), nullable=False),
    Column("is_prediction", Boolean, nullable=False),
    Column("statistic", String(64), nullable=False),
    Column("ordinal", Integer, nullable=False),
    Column("has_value", Boolean, nullable=False),
    Column("value", Double, nullable=True),
    Column("has_pvalue", Boolean, nullable=False),
    Column("pvalue", Double, nullable=True),
    PrimaryKeyConstraint("window_id", "feature", "is_prediction", "statistic"),
)
"""One statistic of one feature; ``has_*`` tell an absent entry from a NaN (stored as NULL)."""

window_reasons = Table(
    "window_reasons",
    metadata,
    Column("window_id", Integer, ForeignKey("windows.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("attached_to", String(255), nullable=False),
    Column("is_prediction", Boolean, nullable=False),
    Column("feature", String(255), nullable=False),
    Column("statistic", String(64), nullable=False),
    Column("value", Double, nullable=True),
    Column("threshold", Double, nullable=True),
    PrimaryKeyConstraint("window_id", "seq"),
)
"""Crossed thresholds; ``attached_to``/``is_prediction`` name the FeatureResult that holds them."""

window_state = Table(
    "window_state",
    metadata,
    Column("model", String(255), nullable=False),
    Column("shard", String(255), nullable=False),
    Column("window_start", Double, nullable=False),
    Column("window_end", Double, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("events", BigInteger, nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("sealed", Boolean, nullable=False, server_default=false()),
    PrimaryKeyConstraint("model", "shard", "window_start"),
)
"""Serialized accumulators of windows, per model and shard (a partition ``topic:partition`` or "replay").

``sealed`` marks a shard's final partial state of a window whose end that shard's watermark
has passed; the window is judged once every shard carrying the model has sealed it.
"""

window_state_deltas = Table(
    "window_state_deltas",
    metadata,
    Column("model", String(255), nullable=False),
    Column("shard", String(255), nullable=False),
    Column("window_start", Double, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    PrimaryKeyConstraint("model", "shard", "window_start", "seq"),
)
"""Checkpoints after a window state's full payload write only what arrived since (migration 0004).

The ``window_state`` row holds the last full payload; its deltas, in ``seq`` order, hold the
counts as they are now and the reservoir entries taken in since the previous write
(``WindowSummary.checkpoint_blob``). Writing a full payload deletes the deltas.
"""

# --- daemon state (migration 0002) ---------------------------------------------------------

offsets = Table(
    "offsets",
    metadata,
    Column("group_id", String(255), nullable=False),
    Column("topic", String(255), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("next_offset", BigInteger, nullable=False),
    Column("updated_at", Double, nullable=False),
    PrimaryKeyConstraint("group_id", "topic", "partition"),
)
"""The next offset to consume per consumer group and partition; the store, not Kafka, owns it."""

shard_state = Table(
    "shard_state",
    metadata,
    Column("model", String(255), nullable=False),
    Column("shard", String(255), nullable=False),
    Column("max_event_time", Double, nullable=False),
    Column("last_seen", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    PrimaryKeyConstraint("model", "shard"),
)
"""Per model and shard: the largest event time seen (its watermark) and the wall time of its newest event."""

model_state = Table(
    "model_state",
    metadata,
    Column("model", String(255), nullable=False),
    Column("closed_until", Double, nullable=True),
    Column("sequence", BigInteger, nullable=False),
    Column("updated_at", Double, nullable=False),
    PrimaryKeyConstraint("model"),
)
"""Per model: end of the newest judged window (NULL: none yet) and the next count-window number."""

pending_predictions = Table(
    "pending_predictions",
    metadata,
    Column("model", String(255), nullable=False),
    Column("prediction_id", String(255), nullable=False),
    Column("window_key", Double, nullable=False),
    Column("prediction", JSON, nullable=False),
    Column("arrived_at", Double, nullable=False),
    PrimaryKeyConstraint("model", "prediction_id"),
    Index("ix_pending_predictions_arrived_at", "arrived_at"),
)
"""Predictions waiting for their label; ``window_key`` names their window (its start, or its count number).

``prediction`` (and ``label`` below) hold the value boxed in a one-element JSON array, so
that SQLite's NUMERIC affinity for JSON columns cannot turn ``1.0`` into ``1``.
"""

pending_labels = Table(
    "pending_labels",
    metadata,
    Column("model", String(255), nullable=False),
    Column("prediction_id", String(255), nullable=False),
    Column("label", JSON, nullable=False),
    Column("arrived_at", Double, nullable=False),
    PrimaryKeyConstraint("model", "prediction_id"),
    Index("ix_pending_labels_arrived_at", "arrived_at"),
)
"""Labels that arrived before their prediction."""

window_labels = Table(
    "window_labels",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("model", String(255), nullable=False),
    Column("window_key", Double, nullable=False),
    Column("prediction", JSON, nullable=False),
    Column("label", JSON, nullable=False),
    Column("joined_at", Double, nullable=False),
    Index("ix_window_labels_model_window_key", "model", "window_key"),
)
"""Joined (prediction, label) pairs per window, for its performance metrics; ``id`` keeps join order."""

# --- alerts and their deliveries (migration 0003) ------------------------------------------

alerts = Table(
    "alerts",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("model", String(255), nullable=False),
    Column("window_start", Double, nullable=False),
    Column("window_end", Double, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", Double, nullable=False),
    Index("ix_alerts_model_kind_window_end", "model", "kind", "window_end"),
)
"""The outbox: one row per alert, written in the transaction that judged its window.

``id`` is deterministic (``kind:model:start:end``), so judging a window again adds nothing.
``body`` is the webhook payload (docs/webhooks.md) as JSON text, fixed when the alert is raised: every delivery of an
alert sends the same bytes.
"""

deliveries = Table(
    "deliveries",
    metadata,
    Column("alert_id", String(255), ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
    Column("webhook", String(255), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Double, nullable=False),
    Column("last_status", Integer, nullable=True),
    Column("last_error", String(1024), nullable=True),
    Column("updated_at", Double, nullable=False),
    Column("delivered_at", Double, nullable=True),
    PrimaryKeyConstraint("alert_id", "webhook"),
    Index("ix_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
)
"""One alert to one webhook: ``pending`` (due at ``next_attempt_at``), ``delivered`` or ``failed``.

A dispatcher claims a due row by moving ``next_attempt_at`` past the request's timeout
(compare-and-set), so two daemons do not post the same alert at once, and a dispatcher killed
between posting and recording leaves the row due again: the alert is sent again, same id.
"""

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("alert_id", String(255), nullable=False),
    Column("webhook", String(255), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("at", Double, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("status", Integer, nullable=True),
    Column("error", String(1024), nullable=True),
    Column("elapsed_s", Double, nullable=False),
    Index("ix_delivery_attempts_alert_id", "alert_id", "webhook"),
)
"""Every attempt to deliver an alert: its outcome (delivered / retried / failed), HTTP status or error."""
