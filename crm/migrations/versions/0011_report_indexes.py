"""Report indexes: the missed-calls report's "called back" lookup (the first answered call with
the same contact, or the same number, after a missed one) reads one index entry per missed call.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05

Two new indexes on calls; nothing stored changes.
"""

from __future__ import annotations

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index(
        "ix_calls_contact_id_kind_occurred_at", "calls", ["contact_id", "kind", "occurred_at"]
    )
    op.create_index(
        "ix_calls_contact_phone_kind_occurred_at",
        "calls",
        ["contact_phone", "kind", "occurred_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_calls_contact_phone_kind_occurred_at", table_name="calls")
    op.drop_index("ix_calls_contact_id_kind_occurred_at", table_name="calls")
