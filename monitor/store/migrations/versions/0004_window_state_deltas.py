"""Incremental checkpoints: deltas appended to a window state's last full payload.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Add ``window_state_deltas``."""
    op.create_table(
        "window_state_deltas",
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("shard", sa.String(255), nullable=False),
        sa.Column("window_start", sa.Double(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("model", "shard", "window_start", "seq", name="pk_window_state_deltas"),
    )


def downgrade() -> None:
    """Drop ``window_state_deltas`` (a daemon of 0003 cannot read deltas: checkpoint fully first)."""
    op.drop_table("window_state_deltas")
