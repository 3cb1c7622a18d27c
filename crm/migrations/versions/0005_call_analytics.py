"""Skipped calls: the call sessions pbxhub decided not to record, each with its reason.

Revision ID: 0005
Revises: 0002
Create Date: 2026-11-25

Calls to unknown extensions, with an employee's own phone, or between extensions are not call
records (PLANFIX.md §1.8), but they are kept here so that none is dropped silently.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def _utc() -> sa.DateTime:
    # crm.tables.UTCDateTime stores this type (SQLite: UTC wall time; PostgreSQL: timestamptz).
    return sa.DateTime(timezone=True)


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "skipped_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=255), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=1024), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=True),
        sa.Column("contact_phone", sa.String(length=32), nullable=True),
        sa.Column("contact_phone_raw", sa.String(length=64), nullable=True),
        sa.Column("virtual_number", sa.String(length=64), nullable=True),
        sa.Column("employee_extension", sa.String(length=64), nullable=True),
        sa.Column("employee_pbx_id", sa.String(length=128), nullable=True),
        sa.Column("started_at", _utc(), nullable=True),
        sa.Column("ended_at", _utc(), nullable=True),
        sa.Column("occurred_at", _utc(), nullable=False),
        sa.Column("extra", _json(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name="fk_skipped_calls_channel_id_channels",
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_skipped_calls"),
        sa.UniqueConstraint(
            "channel_id", "session_id", name="uq_skipped_calls_channel_id_session_id"
        ),
    )
    op.create_index("ix_skipped_calls_occurred_at", "skipped_calls", ["occurred_at"])
    op.create_index("ix_skipped_calls_channel_id_reason", "skipped_calls", ["channel_id", "reason"])


def downgrade() -> None:
    op.drop_index("ix_skipped_calls_channel_id_reason", table_name="skipped_calls")
    op.drop_index("ix_skipped_calls_occurred_at", table_name="skipped_calls")
    op.drop_table("skipped_calls")
