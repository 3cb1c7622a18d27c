"""Initial store: channels, employees and their channel links, contacts, calls.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Types are spelled out here rather than imported from `crm.tables`, so this revision keeps
creating the same schema whatever the models become later.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _utc() -> sa.DateTime:
    # crm.tables.UTCDateTime stores this type (SQLite: UTC wall time; PostgreSQL: timestamptz).
    return sa.DateTime(timezone=True)


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "channels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("secret_key", sa.String(length=128), nullable=False),
        sa.Column("default_country", sa.String(length=2), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("settings", _json(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_channels"),
        sa.UniqueConstraint("secret_key", name="uq_channels_secret_key"),
    )

    op.create_table(
        "employees",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_employees"),
    )
    op.create_table(
        "employee_phones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["employee_id"],
            ["employees.id"],
            name="fk_employee_phones_employee_id_employees",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_employee_phones"),
        sa.UniqueConstraint("employee_id", "phone", name="uq_employee_phones_employee_id_phone"),
    )
    op.create_index("ix_employee_phones_phone", "employee_phones", ["phone"])
    op.create_table(
        "employee_channel_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("extension", sa.String(length=64), nullable=True),
        sa.Column("pbx_user_id", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name="fk_employee_channel_links_channel_id_channels",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["employee_id"],
            ["employees.id"],
            name="fk_employee_channel_links_employee_id_employees",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_employee_channel_links"),
        sa.UniqueConstraint(
            "employee_id", "channel_id", name="uq_employee_channel_links_employee_id_channel_id"
        ),
        sa.UniqueConstraint(
            "channel_id", "extension", name="uq_employee_channel_links_channel_id_extension"
        ),
        sa.UniqueConstraint(
            "channel_id", "pbx_user_id", name="uq_employee_channel_links_channel_id_pbx_user_id"
        ),
    )
    op.create_index(
        "ix_employee_channel_links_channel_id", "employee_channel_links", ["channel_id"]
    )

    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_contacts"),
    )
    op.create_table(
        "contact_phones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("raw", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name="fk_contact_phones_contact_id_contacts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_contact_phones"),
        sa.UniqueConstraint("phone", name="uq_contact_phones_phone"),
    )
    op.create_index("ix_contact_phones_contact_id", "contact_phones", ["contact_id"])
    op.create_table(
        "contact_responsibles",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name="fk_contact_responsibles_contact_id_contacts",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["employee_id"],
            ["employees.id"],
            name="fk_contact_responsibles_employee_id_employees",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contact_id", "employee_id", name="pk_contact_responsibles"),
    )
    op.create_index("ix_contact_responsibles_employee_id", "contact_responsibles", ["employee_id"])

    op.create_table(
        "calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=255), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("contact_phone", sa.String(length=32), nullable=True),
        sa.Column("contact_phone_raw", sa.String(length=64), nullable=True),
        sa.Column("virtual_number", sa.String(length=64), nullable=True),
        sa.Column("line_name", sa.String(length=255), nullable=True),
        sa.Column("employee_id", sa.Integer(), nullable=True),
        sa.Column("employee_extension", sa.String(length=64), nullable=True),
        sa.Column("employee_pbx_id", sa.String(length=128), nullable=True),
        sa.Column("started_at", _utc(), nullable=True),
        sa.Column("answered_at", _utc(), nullable=True),
        sa.Column("ended_at", _utc(), nullable=True),
        sa.Column("occurred_at", _utc(), nullable=False),
        sa.Column("wait_seconds", sa.Integer(), nullable=True),
        sa.Column("talk_seconds", sa.Integer(), nullable=True),
        sa.Column("total_seconds", sa.Integer(), nullable=True),
        sa.Column("tags", _json(), nullable=False),
        sa.Column("extra", _json(), nullable=False),
        sa.Column("recording_url", sa.String(length=2048), nullable=True),
        sa.Column("recording_duration", sa.Integer(), nullable=True),
        sa.Column("incomplete", sa.Boolean(), nullable=False),
        sa.Column("legs", _json(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name="fk_calls_channel_id_channels",
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name="fk_calls_contact_id_contacts",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["employee_id"],
            ["employees.id"],
            name="fk_calls_employee_id_employees",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_calls"),
        sa.UniqueConstraint("channel_id", "session_id", name="uq_calls_channel_id_session_id"),
    )
    op.create_index("ix_calls_occurred_at", "calls", ["occurred_at"])
    op.create_index("ix_calls_kind_occurred_at", "calls", ["kind", "occurred_at"])
    op.create_index("ix_calls_channel_id_occurred_at", "calls", ["channel_id", "occurred_at"])
    op.create_index("ix_calls_contact_phone_occurred_at", "calls", ["contact_phone", "occurred_at"])
    op.create_index("ix_calls_contact_id_occurred_at", "calls", ["contact_id", "occurred_at"])
    op.create_index("ix_calls_employee_id_occurred_at", "calls", ["employee_id", "occurred_at"])


def downgrade() -> None:
    # Indexes go with their tables.
    for table in (
        "calls",
        "contact_responsibles",
        "contact_phones",
        "contacts",
        "employee_channel_links",
        "employee_phones",
        "employees",
        "channels",
    ):
        op.drop_table(table)
