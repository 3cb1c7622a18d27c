"""Employee tokens that expire: when an employee's API token stops opening anything.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23

Employees get `token_expires_at` (NULL for the tokens already issued: they last until revoked
or replaced, as they were issued to).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # a nullable column: added in place on SQLite too; crm.tables.UTCDateTime stores this type
    op.add_column(
        "employees", sa.Column("token_expires_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("employees", "token_expires_at")
