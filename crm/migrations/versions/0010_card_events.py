"""Live call cards: the recent card updates, kept a short while for SSE resume.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05

One new table; nothing already stored changes. Rows older than the retention are deleted as new
ones are written (crm.store.cards).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def _json() -> sa.types.TypeEngine[Any]:
    # crm.tables.json_type stores this type
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "card_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("card", _json(), nullable=False),
        sa.Column("audience", _json(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_card_events"),
    )
    op.create_index("ix_card_events_created_at", "card_events", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_card_events_created_at", table_name="card_events")
    op.drop_table("card_events")
