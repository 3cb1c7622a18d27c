"""Recording custody: what became of each call's recording, and each kept file's duration.

Revision ID: 0004
Revises: 0006
Create Date: 2026-11-25

Calls get the outcome of keeping their recording (kept, linked, not kept, refused, failed) with
a short code and the reason, so refused and failed links are seen and counted; recordings get
their duration.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Nullable columns: SQLite adds them in place, no batch copy needed.
    op.add_column("calls", sa.Column("recording_status", sa.String(length=16), nullable=True))
    op.add_column("calls", sa.Column("recording_error_code", sa.String(length=32), nullable=True))
    op.add_column("calls", sa.Column("recording_error", sa.String(length=1024), nullable=True))
    op.add_column("recordings", sa.Column("duration_seconds", sa.Integer(), nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch rebuild of `calls` would, with
    # foreign keys enforced, cascade into every row that refers to a call.
    op.drop_column("recordings", "duration_seconds")
    op.drop_column("calls", "recording_error")
    op.drop_column("calls", "recording_error_code")
    op.drop_column("calls", "recording_status")
