"""Initial schema: reference profiles, closed windows with their per-feature results, open-window state.

Revision ID: 0001
Revises:
Create Date: 2025-11-23
"""

from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Create the tables of schema version 1."""
    op.create_table(
        "reference_profiles",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("source", sa.String(1024), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reference_profiles"),
        sa.UniqueConstraint("model", "version", name="uq_reference_profiles_model_version"),
    )
    op.create_table(
        "windows",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("start", sa.Double(), nullable=False),
        sa.Column("end", sa.Double(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("judged", sa.Boolean(), nullable=False),
        sa.Column("drift_share", sa.Double(), nullable=True),
        sa.Column("drifted", sa.Boolean(), nullable=True),
        sa.Column("reference_version", sa.Integer(), nullable=True),
        sa.Column("model_version", sa.String(255), nullable=True),
        sa.Column("labels", sa.BigInteger(), nullable=False),
        sa.Column("performance", sa.JSON(), nullable=False),
        sa.Column("closed_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_windows"),
        sa.UniqueConstraint("model", "start", "end", name="uq_windows_model_start_end"),
    )
    op.create_index("ix_windows_model_end", "windows", ["model", "end"])
    op.create_table(
        "window_features",
        sa.Column("window_id", sa.Integer(), nullable=False),
        sa.Column("feature", sa.String(255), nullable=False),
        sa.Column("is_prediction", sa.Boolean(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("missing_ratio", sa.Double(), nullable=True),
        sa.Column("drifted", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("window_id", "feature", "is_prediction", name="pk_window_features"),
        sa.ForeignKeyConstraint(
            ["window_id"], ["windows.id"], ondelete="CASCADE", name="fk_window_features_window_id_windows"
        ),
    )
    op.create_table(
        "feature_statistics",
        sa.Column("window_id", sa.Integer(), nullable=False),
        sa.Column("feature", sa.String(255), nullable=False),
        sa.Column("is_prediction", sa.Boolean(), nullable=False),
        sa.Column("statistic", sa.String(64), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("has_value", sa.Boolean(), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("has_pvalue", sa.Boolean(), nullable=False),
        sa.Column("pvalue", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint(
            "window_id", "feature", "is_prediction", "statistic", name="pk_feature_statistics"
        ),
        sa.ForeignKeyConstraint(
            ["window_id"], ["windows.id"], ondelete="CASCADE", name="fk_feature_statistics_window_id_windows"
        ),
    )
    op.create_table(
        "window_reasons",
        sa.Column("window_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("attached_to", sa.String(255), nullable=False),
        sa.Column("is_prediction", sa.Boolean(), nullable=False),
        sa.Column("feature", sa.String(255), nullable=False),
        sa.Column("statistic", sa.String(64), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("threshold", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("window_id", "seq", name="pk_window_reasons"),
        sa.ForeignKeyConstraint(
            ["window_id"], ["windows.id"], ondelete="CASCADE", name="fk_window_reasons_window_id_windows"
        ),
    )
    op.create_table(
        "window_state",
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("shard", sa.String(255), nullable=False),
        sa.Column("window_start", sa.Double(), nullable=False),
        sa.Column("window_end", sa.Double(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("model", "shard", "window_start", name="pk_window_state"),
    )


def downgrade() -> None:
    """Drop every table of schema version 1."""
    op.drop_table("window_state")
    op.drop_table("window_reasons")
    op.drop_table("feature_statistics")
    op.drop_table("window_features")
    op.drop_index("ix_windows_model_end", table_name="windows")
    op.drop_table("windows")
    op.drop_table("reference_profiles")
