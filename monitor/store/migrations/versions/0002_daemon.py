"""Daemon state: offsets, shard and model state, sealed window states, pending and joined labels.

Revision ID: 0002
Revises: 0001
Create Date: 2025-11-24
"""

from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Add the tables of the Kafka daemon and the ``sealed`` flag of window states."""
    with op.batch_alter_table("window_state") as batch:
        batch.add_column(sa.Column("sealed", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "offsets",
        sa.Column("group_id", sa.String(255), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("group_id", "topic", "partition", name="pk_offsets"),
    )
    op.create_table(
        "shard_state",
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("shard", sa.String(255), nullable=False),
        sa.Column("max_event_time", sa.Double(), nullable=False),
        sa.Column("last_seen", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("model", "shard", name="pk_shard_state"),
    )
    op.create_table(
        "model_state",
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("closed_until", sa.Double(), nullable=True),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("model", name="pk_model_state"),
    )
    _create_label_tables()


def _create_label_tables() -> None:
    """The two pending-join tables and the joined pairs."""
    op.create_table(
        "pending_predictions",
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("prediction_id", sa.String(255), nullable=False),
        sa.Column("window_key", sa.Double(), nullable=False),
        sa.Column("prediction", sa.JSON(), nullable=False),
        sa.Column("arrived_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("model", "prediction_id", name="pk_pending_predictions"),
    )
    op.create_index("ix_pending_predictions_arrived_at", "pending_predictions", ["arrived_at"])
    op.create_table(
        "pending_labels",
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("prediction_id", sa.String(255), nullable=False),
        sa.Column("label", sa.JSON(), nullable=False),
        sa.Column("arrived_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("model", "prediction_id", name="pk_pending_labels"),
    )
    op.create_index("ix_pending_labels_arrived_at", "pending_labels", ["arrived_at"])
    op.create_table(
        "window_labels",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("window_key", sa.Double(), nullable=False),
        sa.Column("prediction", sa.JSON(), nullable=False),
        sa.Column("label", sa.JSON(), nullable=False),
        sa.Column("joined_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_window_labels"),
    )
    op.create_index("ix_window_labels_model_window_key", "window_labels", ["model", "window_key"])


def downgrade() -> None:
    """Drop what ``upgrade`` added; rows of the 0001 tables are kept."""
    op.drop_index("ix_window_labels_model_window_key", table_name="window_labels")
    op.drop_table("window_labels")
    op.drop_index("ix_pending_labels_arrived_at", table_name="pending_labels")
    op.drop_table("pending_labels")
    op.drop_index("ix_pending_predictions_arrived_at", table_name="pending_predictions")
    op.drop_table("pending_predictions")
    op.drop_table("model_state")
    op.drop_table("shard_state")
    op.drop_table("offsets")
    with op.batch_alter_table("window_state") as batch:
        batch.drop_column("sealed")
