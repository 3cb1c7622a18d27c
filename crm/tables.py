"""The store's tables as SQLAlchemy 2 ORM models; private to `crm`, callers get `crm.records`.

`migrations/versions/` must create exactly what is declared here (a test compares them).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeEngine

# Fixed constraint names, so later migrations (and SQLite batch mode) can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every backend; refuses naive ones instead of guessing their zone.

    PostgreSQL keeps `timestamptz`; SQLite has no zones, so the UTC wall time is stored and
    the zone put back on read. Stored values are comparable as strings in SQLite because
    SQLAlchemy writes them in one fixed-width format.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; the store needs aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def json_type() -> TypeEngine[Any]:
    """JSON, as JSONB on PostgreSQL so it can be compared and indexed later (e.g. tags)."""
    return JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ChannelRow(Base):
    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    secret_key: Mapped[str] = mapped_column(String(128), unique=True)
    default_country: Mapped[str] = mapped_column(String(2))
    timezone: Mapped[str] = mapped_column(String(64))
    settings: Mapped[dict[str, Any]] = mapped_column(json_type())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EmployeeRow(Base):
    __tablename__ = "employees"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # crm.check_working_hours shape; NULL when no schedule is known.
    working_hours: Mapped[dict[str, Any] | None] = mapped_column(json_type(), nullable=True)
    # The right to hear recordings (calls attached as hidden comments show to them).
    hears_recordings: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The SHA-256 (hex) of the employee's API token; the token itself is never kept. NULL: none.
    token_sha256: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)
    # When that token stops opening anything; NULL: when it is revoked or replaced.
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    # Loaded with the employee in one extra query each, and usable after the session closes.
    phones: Mapped[list[EmployeePhoneRow]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="EmployeePhoneRow.id"
    )
    links: Mapped[list[EmployeeChannelLinkRow]] = relationship(
        lazy="selectin",
        cascade="all, delete-orphan",
        order_by=lambda: (EmployeeChannelLinkRow.channel_id, EmployeeChannelLinkRow.id),
    )


class EmployeePhoneRow(Base):
    """An employee's own number: calls from or to it are not calls with a contact."""

    __tablename__ = "employee_phones"
    __table_args__ = (UniqueConstraint("employee_id", "phone"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(32), index=True)


class EmployeeChannelLinkRow(Base):
    """An employee's identity in one channel; each identifier names one employee per channel."""

    __tablename__ = "employee_channel_links"
    __table_args__ = (
        UniqueConstraint("employee_id", "channel_id"),
        # NULLs never collide, so an employee may have only one of the two identifiers.
        UniqueConstraint("channel_id", "extension"),
        UniqueConstraint("channel_id", "pbx_user_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"))
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), index=True
    )
    extension: Mapped[str | None] = mapped_column(String(64))
    pbx_user_id: Mapped[str | None] = mapped_column(String(128))


class ContactRow(Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    phones: Mapped[list[ContactPhoneRow]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="ContactPhoneRow.id"
    )
    responsibles: Mapped[list[ContactResponsibleRow]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="ContactResponsibleRow.position"
    )
    # The contact template's fields, rendered when a call created the contact; NULL: none.
    fields: Mapped[dict[str, str] | None] = mapped_column(json_type(), nullable=True)


class ContactPhoneRow(Base):
    """A contact's number; unique across contacts, which is what makes find-or-create race-safe."""

    __tablename__ = "contact_phones"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    phone: Mapped[str] = mapped_column(String(32), unique=True)
    raw: Mapped[str | None] = mapped_column(String(64))


class ContactResponsibleRow(Base):
    """An employee answerable for a contact; `position` keeps the order the rule gave them."""

    __tablename__ = "contact_responsibles"

    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    employee_id: Mapped[int] = mapped_column(
        ForeignKey("employees.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer)


class CallRow(Base):
    """One call session of one channel, answered ("call") or missed ("missed")."""

    __tablename__ = "calls"
    __table_args__ = (
        UniqueConstraint("channel_id", "session_id"),
        # Every list filter, newest first.
        Index("ix_calls_occurred_at", "occurred_at"),
        Index("ix_calls_kind_occurred_at", "kind", "occurred_at"),
        Index("ix_calls_channel_id_occurred_at", "channel_id", "occurred_at"),
        Index("ix_calls_contact_phone_occurred_at", "contact_phone", "occurred_at"),
        Index("ix_calls_contact_id_occurred_at", "contact_id", "occurred_at"),
        Index("ix_calls_employee_id_occurred_at", "employee_id", "occurred_at"),
        # The missed-calls report's "called back": the first answered call after a missed one.
        Index("ix_calls_contact_id_kind_occurred_at", "contact_id", "kind", "occurred_at"),
        Index("ix_calls_contact_phone_kind_occurred_at", "contact_phone", "kind", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # History outlives nothing silently: a channel with calls cannot just be deleted.
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="RESTRICT"))
    session_id: Mapped[str] = mapped_column(String(255))
    provider: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str | None] = mapped_column(String(8))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    contact_phone: Mapped[str | None] = mapped_column(String(32))
    contact_phone_raw: Mapped[str | None] = mapped_column(String(64))
    virtual_number: Mapped[str | None] = mapped_column(String(64))
    line_name: Mapped[str | None] = mapped_column(String(255))
    employee_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    employee_extension: Mapped[str | None] = mapped_column(String(64))
    employee_pbx_id: Mapped[str | None] = mapped_column(String(128))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When the call happened for lists and reports: started_at, else ended_at, else created_at.
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    wait_seconds: Mapped[int | None] = mapped_column(Integer)
    talk_seconds: Mapped[int | None] = mapped_column(Integer)
    total_seconds: Mapped[int | None] = mapped_column(Integer)
    tags: Mapped[list[str]] = mapped_column(json_type())
    extra: Mapped[dict[str, str]] = mapped_column(json_type())
    recording_url: Mapped[str | None] = mapped_column(String(2048))
    recording_duration: Mapped[int | None] = mapped_column(Integer)
    incomplete: Mapped[bool] = mapped_column(Boolean)
    legs: Mapped[list[dict[str, Any]]] = mapped_column(json_type())
    # The status the generic telephony API last reported ("ringing", ..., "answered").
    status: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # What became of the recording (recordings.policy.RECORDING_STATUSES), and when it was
    # refused or failed, why: a short code to count by and the reason in words.
    recording_status: Mapped[str | None] = mapped_column(String(16))
    recording_error_code: Mapped[str | None] = mapped_column(String(32))
    recording_error: Mapped[str | None] = mapped_column(String(1024))

    attachment: Mapped[CallAttachmentRow | None] = relationship(lazy="selectin", uselist=False)
    # Loaded with the call (one query for a whole list), so a call shows its recording.
    recordings: Mapped[list[RecordingRow]] = relationship(
        lazy="selectin", order_by="RecordingRow.id", viewonly=True
    )


class GroupRow(Base):
    """A named set of employees, whatever channels they work in."""

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    members: Mapped[list[GroupMemberRow]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="GroupMemberRow.employee_id"
    )


class GroupMemberRow(Base):
    __tablename__ = "group_members"

    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    employee_id: Mapped[int] = mapped_column(
        ForeignKey("employees.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class TaskRow(Base):
    """A task ("ticket"): work for an employee, often about a call and its contact."""

    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_status_id", "status", "id"),
        Index("ix_tasks_assignee_employee_id_status", "assignee_employee_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    department: Mapped[str | None] = mapped_column(String(255))
    assignee_employee_id: Mapped[int | None] = mapped_column(
        ForeignKey("employees.id", ondelete="SET NULL")
    )
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), index=True
    )
    call_id: Mapped[int | None] = mapped_column(
        ForeignKey("calls.id", ondelete="SET NULL"), index=True
    )
    # Whoever creates a task on a retry gets the first one back instead of a second.
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    type: Mapped[str | None] = mapped_column(String(64))
    fields: Mapped[dict[str, str] | None] = mapped_column(json_type(), nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The name of the channel's task rule that created it.
    rule: Mapped[str | None] = mapped_column(String(255))
    closes_on_contact: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_by_call_id: Mapped[int | None] = mapped_column(
        ForeignKey("calls.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CommentRow(Base):
    """A comment on a task, a call and/or a contact card."""

    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int | None] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), index=True
    )
    call_id: Mapped[int | None] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), index=True
    )
    text: Mapped[str] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    author_employee_id: Mapped[int | None] = mapped_column(
        ForeignKey("employees.id", ondelete="SET NULL")
    )
    # Shown only to those who may hear recordings (a call attached "as a hidden comment").
    hidden: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class CallAttachmentRow(Base):
    """Where a call hangs (the channel's attach option decides once), and the task it was made
    from, when it was."""

    __tablename__ = "call_attachments"

    call_id: Mapped[int] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True
    )
    mode: Mapped[str | None] = mapped_column(String(32))
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), index=True
    )
    task_id: Mapped[int | None] = mapped_column(
        ForeignKey("tasks.id", ondelete="SET NULL"), index=True
    )
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id", ondelete="SET NULL"))
    hidden: Mapped[bool] = mapped_column(Boolean)
    origin_task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id", ondelete="SET NULL"))
    attached_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class NotificationRow(Base):
    """What an employee is told, e.g. a missed call from a contact they are responsible for."""

    __tablename__ = "notifications"
    __table_args__ = (
        # A call tells each employee each thing once, however often it is processed.
        UniqueConstraint("call_id", "employee_id", "kind"),
        Index("ix_notifications_employee_id_id", "employee_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RecordingRow(Base):
    """A call's audio kept by pbxhub: where it lies, what it is, and its checksum."""

    __tablename__ = "recordings"
    __table_args__ = (UniqueConstraint("call_id", "sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    # "local": `location` is a path relative to the recordings folder; "s3": a key below the
    # bucket's prefix (recordings.storage).
    storage: Mapped[str] = mapped_column(String(16))
    location: Mapped[str] = mapped_column(String(1024))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    # Where the PBX offered it, when it was downloaded rather than uploaded.
    source_url: Mapped[str | None] = mapped_column(String(2048))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Its length: read from the file when that is cheap (WAV), else the PBX's figure.
    duration_seconds: Mapped[int | None] = mapped_column(Integer)


class SkippedCallRow(Base):
    """A call session not recorded on purpose, with the reason: never dropped silently."""

    __tablename__ = "skipped_calls"
    __table_args__ = (
        UniqueConstraint("channel_id", "session_id"),
        Index("ix_skipped_calls_occurred_at", "occurred_at"),
        Index("ix_skipped_calls_channel_id_reason", "channel_id", "reason"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="RESTRICT"))
    session_id: Mapped[str] = mapped_column(String(255))
    provider: Mapped[str] = mapped_column(String(64))
    # crm.records.SKIP_REASONS
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(1024))
    direction: Mapped[str | None] = mapped_column(String(8))
    contact_phone: Mapped[str | None] = mapped_column(String(32))
    contact_phone_raw: Mapped[str | None] = mapped_column(String(64))
    virtual_number: Mapped[str | None] = mapped_column(String(64))
    employee_extension: Mapped[str | None] = mapped_column(String(64))
    employee_pbx_id: Mapped[str | None] = mapped_column(String(128))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # started_at, else ended_at, else created_at (as for calls)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    extra: Mapped[dict[str, str]] = mapped_column(json_type())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AccountRow(Base):
    """Who signs in to the pages: an employee (`employee_id`) or an admin; the password is kept
    as its argon2 hash only (`crm.passwords`)."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # as typed at sign-in, case-folded (crm.accounts.normalize_login)
    login: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    employee_id: Mapped[int | None] = mapped_column(
        ForeignKey("employees.id", ondelete="CASCADE"), unique=True
    )
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebSessionRow(Base):
    """A signed-in browser: the SHA-256 of its session token (the token is only in its cookie)."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CardEventRow(Base):
    """One live call card update, kept a short while so a dropped connection can catch up
    (`Last-Event-ID`); `audience` are the employee ids it is for."""

    __tablename__ = "card_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    card: Mapped[dict[str, Any]] = mapped_column(json_type())
    audience: Mapped[list[int]] = mapped_column(json_type())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class PlacedCallRow(Base):
    """A call an employee placed from a page (click-to-call), and where from: the outbound call
    the PBX then reports (same line, employee, number, soon after) is hung on that task or
    contact (activities.follow_up); `call_id` is that call once found."""

    __tablename__ = "placed_calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(32))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id", ondelete="SET NULL"))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    call_id: Mapped[int | None] = mapped_column(
        ForeignKey("calls.id", ondelete="SET NULL"), unique=True
    )

    __table_args__ = (
        Index("ix_placed_calls_channel_id_employee_id_phone", "channel_id", "employee_id", "phone"),
    )
