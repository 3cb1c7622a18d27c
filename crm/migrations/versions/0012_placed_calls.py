"""Click-to-call from the pages: the calls placed, with the contact or task they were placed
from, so the call the PBX then reports is hung there.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05

One new table; nothing already stored changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "placed_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name="fk_placed_calls_channel_id_channels",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["employee_id"],
            ["employees.id"],
            name="fk_placed_calls_employee_id_employees",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name="fk_placed_calls_contact_id_contacts",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name="fk_placed_calls_task_id_tasks", ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name="fk_placed_calls_call_id_calls", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_placed_calls"),
        sa.UniqueConstraint("call_id", name="uq_placed_calls_call_id"),
    )
    op.create_index(
        "ix_placed_calls_channel_id_employee_id_phone",
        "placed_calls",
        ["channel_id", "employee_id", "phone"],
    )


def downgrade() -> None:
    op.drop_index("ix_placed_calls_channel_id_employee_id_phone", table_name="placed_calls")
    op.drop_table("placed_calls")
