"""What a call leaves behind by the channel's rules: contact fields, rule-made tasks, comments by
employees (hidden ones too), where each call is attached, and notifications.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26

Contacts get the fields their template filled; tasks get a type, fields, a due time, the rule
that made them and how they closed; comments get an author, a contact and a hidden flag; new
tables keep where each call hangs (`call_attachments`) and what employees are told
(`notifications`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def _utc() -> sa.DateTime:
    # crm.tables.UTCDateTime stores this type (SQLite: UTC wall time; PostgreSQL: timestamptz).
    return sa.DateTime(timezone=True)


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column("contacts", sa.Column("fields", _json(), nullable=True))

    # Columns with foreign keys: SQLite rebuilds the table (batch), PostgreSQL alters it.
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("type", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("fields", _json(), nullable=True))
        batch.add_column(sa.Column("due_at", _utc(), nullable=True))
        batch.add_column(sa.Column("rule", sa.String(length=255), nullable=True))
        batch.add_column(
            sa.Column("closes_on_contact", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(sa.Column("closed_at", _utc(), nullable=True))
        batch.add_column(sa.Column("closed_by_call_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_tasks_closed_by_call_id_calls",
            "calls",
            ["closed_by_call_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("comments") as batch:
        batch.add_column(sa.Column("contact_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("author_employee_id", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("hidden", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.create_foreign_key(
            "fk_comments_contact_id_contacts",
            "contacts",
            ["contact_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_foreign_key(
            "fk_comments_author_employee_id_employees",
            "employees",
            ["author_employee_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index("ix_comments_contact_id", ["contact_id"])

    op.create_table(
        "call_attachments",
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=32), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("comment_id", sa.Integer(), nullable=True),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("origin_task_id", sa.Integer(), nullable=True),
        sa.Column("attached_at", _utc(), nullable=True),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name="fk_call_attachments_call_id_calls", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name="fk_call_attachments_contact_id_contacts",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name="fk_call_attachments_task_id_tasks", ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name="fk_call_attachments_comment_id_comments",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["origin_task_id"],
            ["tasks.id"],
            name="fk_call_attachments_origin_task_id_tasks",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("call_id", name="pk_call_attachments"),
    )
    op.create_index("ix_call_attachments_contact_id", "call_attachments", ["contact_id"])
    op.create_index("ix_call_attachments_task_id", "call_attachments", ["task_id"])

    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["employee_id"],
            ["employees.id"],
            name="fk_notifications_employee_id_employees",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name="fk_notifications_call_id_calls", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name="fk_notifications_contact_id_contacts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.UniqueConstraint(
            "call_id", "employee_id", "kind", name="uq_notifications_call_id_employee_id_kind"
        ),
    )
    op.create_index("ix_notifications_employee_id_id", "notifications", ["employee_id", "id"])
    op.create_index("ix_notifications_contact_id", "notifications", ["contact_id"])


def downgrade() -> None:
    op.drop_table("notifications")
    op.drop_table("call_attachments")
    with op.batch_alter_table("comments") as batch:
        batch.drop_index("ix_comments_contact_id")
        batch.drop_constraint("fk_comments_author_employee_id_employees", type_="foreignkey")
        batch.drop_constraint("fk_comments_contact_id_contacts", type_="foreignkey")
        for column in ("hidden", "author_employee_id", "contact_id"):
            batch.drop_column(column)
    with op.batch_alter_table("tasks") as batch:
        batch.drop_constraint("fk_tasks_closed_by_call_id_calls", type_="foreignkey")
        for column in (
            "closed_by_call_id",
            "closed_at",
            "closes_on_contact",
            "rule",
            "due_at",
            "fields",
            "type",
        ):
            batch.drop_column(column)
    op.drop_column("contacts", "fields")
