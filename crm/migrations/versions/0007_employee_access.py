"""Employee access: each employee's API token (its SHA-256 only) and the right to hear recordings.

Revision ID: 0007
Revises: 0004
Create Date: 2026-11-27

Employees get `token_sha256` (unique: a token names one employee) and `hears_recordings`
(false for everyone already there), so access to recordings and comments can follow the rights
on the contact or task a call hangs on (crm.access).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Added in place on SQLite too: a nullable column, one with a default, and a unique index
    # (no table rebuild, which would cascade into the employees' phones and links).
    op.add_column(
        "employees",
        sa.Column("hears_recordings", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column("employees", sa.Column("token_sha256", sa.String(length=64), nullable=True))
    op.create_index("ix_employees_token_sha256", "employees", ["token_sha256"], unique=True)


def downgrade() -> None:
    # The index first: SQLite drops no column an index still names.
    op.drop_index("ix_employees_token_sha256", table_name="employees")
    op.drop_column("employees", "token_sha256")
    op.drop_column("employees", "hears_recordings")
