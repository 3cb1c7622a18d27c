"""The store: channels, employees, groups, contacts, calls, tasks and recordings behind one
thread-safe `Store` object.

Synchronous SQLAlchemy on SQLite (the default, one file shared by the API and worker processes) or
PostgreSQL; callers on an event loop run its methods in threads.
"""

from __future__ import annotations

import copy
import hashlib
import os
import secrets
import sqlite3
import threading
import time
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    ColumnElement,
    Engine,
    Select,
    and_,
    create_engine,
    delete,
    event,
    exists,
    func,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from crm.phones import require_e164
from crm.records import (
    CALL_KINDS,
    DIRECTIONS,
    SKIP_REASONS,
    TASK_STATUSES,
    CallAttachment,
    CallPlace,
    CallRecord,
    Channel,
    Comment,
    Contact,
    ContactPhone,
    Employee,
    EmployeeLink,
    Group,
    Notification,
    Recording,
    SkippedCall,
    SkippedCallRecord,
    StoredCall,
    Task,
)
from crm.tables import (
    CallAttachmentRow,
    CallRow,
    ChannelRow,
    CommentRow,
    ContactPhoneRow,
    ContactResponsibleRow,
    ContactRow,
    EmployeeChannelLinkRow,
    EmployeePhoneRow,
    EmployeeRow,
    GroupMemberRow,
    GroupRow,
    NotificationRow,
    RecordingRow,
    SkippedCallRow,
    TaskRow,
    utcnow,
)
from crm.working_hours import check_working_hours
from recordings.policy import RECORDING_STATUSES

# A frozen record type that `_copied` fills from a row.
_R = TypeVar("_R")
# A select of call rows, with or without more columns beside them.
_Query = TypeVar("_Query", bound=Select)  # type: ignore[type-arg]

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"

# How long an SQLite writer waits for another thread or process to finish writing.
SQLITE_BUSY_TIMEOUT_MS: Final = 30_000

# Execution option that makes an SQLite transaction take the write lock at BEGIN.
_SQLITE_WRITE: Final = "pbxhub_sqlite_write"

# Key of the PostgreSQL advisory lock that lets one process at a time run migrations.
_MIGRATION_LOCK_KEY: Final = 0x7062_7868_7562  # "pbxhub"

# Alembic keeps its running context in module globals: one migration per process at a time.
_migrate_lock = threading.Lock()

_CALL_FIELDS: Final = tuple(f.name for f in fields(CallRecord))
_CALL_DATETIMES: Final = ("started_at", "answered_at", "ended_at")


class ConflictError(Exception):
    """A write would give an extension or a PBX user id a second employee in one channel."""


def make_engine(database_url: str) -> Engine:
    """An engine set up the way the store needs it: SQLite tuned for several writers, or not."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    # pre_ping: a pooled connection may have died with a PostgreSQL restart.
    return create_engine(url, pool_pre_ping=True)


def use_wal(cursor: Any) -> None:
    """Put the database file in WAL mode (it stays so). Switching needs the file to itself,
    and SQLite answers "database is locked" at once, whatever busy_timeout says, while another
    process (one creating the same new database) holds it: try again until the timeout."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _sqlite_engine(url: URL) -> Engine:
    database = url.database
    if not database or database == ":memory:" or url.query.get("mode") == "memory":
        # Every pooled connection would see its own empty database.
        raise ValueError("in-memory SQLite is not supported; use a file: sqlite:///path/to/db")
    if not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        # A new database holds channel secrets: readable by its owner only from the start
        # (SQLite gives its -wal and -shm files the database file's mode).
        with suppress(FileExistsError):
            os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    engine = create_engine(url, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _configure_connection(dbapi_connection: Any, _record: Any) -> None:
        # The driver must not start transactions on its own; `_begin` does (SQLAlchemy's recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        # WAL: readers never block the writer nor each other, across processes too.
        use_wal(cursor)
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # A deferred transaction that reads and then writes fails at once with SQLITE_BUSY
        # (busy_timeout does not apply) when another writer committed in between; writers
        # therefore queue for the lock up front.
        immediate = connection.get_execution_options().get(_SQLITE_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Store:
    """Everything pbxhub keeps about telephony; one instance per process, shared by its threads.

    Every method runs in its own short transaction and returns frozen records from
    `crm.records`. Writes that can race (the same contact, the same call) are settled by
    unique constraints, so two threads or two processes end up with one row.
    """

    def __init__(self, database_url: str) -> None:
        self._engine = make_engine(database_url)
        self._write_engine = self._engine.execution_options(**{_SQLITE_WRITE: True})
        self._reads = sessionmaker(self._engine, expire_on_commit=False)
        self._writes = sessionmaker(self._write_engine, expire_on_commit=False)

    # -- lifecycle --------------------------------------------------------------------------

    def migrate(self) -> None:
        """Bring the schema to the newest migration; a no-op when it is already there.

        Safe when several processes start at once: one migrates, the others wait, then find
        nothing to do.
        """
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.set_main_option("path_separator", "os")
        with _migrate_lock, self._write_engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                _migrate_sqlite(connection, config)
                return
            with connection.begin():
                # PostgreSQL: the first process holds this lock until its migration commits.
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
                _upgrade(connection, config)

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def ping(self) -> None:
        """Raise if the database does not answer (for health checks)."""
        with self._engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    # -- channels ---------------------------------------------------------------------------

    def create_channel(
        self,
        *,
        provider: str,
        name: str,
        default_country: str = "RU",
        timezone: str = "Europe/Moscow",
        settings: Mapping[str, Any] | None = None,
    ) -> Channel:
        """Connect a PBX account; its webhooks will carry the generated secret key."""
        country = default_country.upper()
        if len(country) != 2 or not country.isalpha():
            raise ValueError(f"default_country {default_country!r} is not an ISO 3166 code")
        try:
            zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"timezone {timezone!r} is not an IANA time zone") from error
        with self._writes.begin() as session:
            row = ChannelRow(
                provider=provider,
                name=name,
                secret_key=secrets.token_urlsafe(24),
                default_country=country,
                timezone=timezone,
                settings=copy.deepcopy(dict(settings or {})),
                created_at=utcnow(),
            )
            session.add(row)
            session.flush()
            return _channel(row)

    def get_channel(self, channel_id: int) -> Channel | None:
        with self._reads() as session:
            row = session.get(ChannelRow, channel_id)
            return _channel(row) if row else None

    def get_channel_by_key(self, secret_key: str) -> Channel | None:
        """The channel a webhook URL names, or None for a wrong key."""
        with self._reads() as session:
            row = session.scalar(select(ChannelRow).where(ChannelRow.secret_key == secret_key))
            return _channel(row) if row else None

    def list_channels(self) -> list[Channel]:
        with self._reads() as session:
            rows = session.scalars(select(ChannelRow).order_by(ChannelRow.id))
            return [_channel(row) for row in rows]

    def update_channel(
        self,
        channel_id: int,
        *,
        name: str | None = None,
        settings_patch: Mapping[str, Any] | None = None,
    ) -> tuple[Channel, Channel] | None:
        """Rename a channel and/or change its settings by a JSON merge patch (RFC 7396: objects
        merge key by key, null removes a key, anything else replaces). Returns the channel before
        and after, or None if there is no such channel. Concurrent patches of different keys
        both survive: the row is locked for the read-modify-write."""
        with self._writes.begin() as session:
            row = session.get(ChannelRow, channel_id, with_for_update=True)
            if row is None:
                return None
            before = _channel(row)
            if name is not None:
                row.name = name
            if settings_patch:
                row.settings = _merge_patch(copy.deepcopy(row.settings), settings_patch)
            session.flush()
            return before, _channel(row)

    # -- employees --------------------------------------------------------------------------

    def create_employee(
        self,
        *,
        name: str,
        phones: Sequence[str] = (),
        links: Sequence[EmployeeLink] = (),
        working_hours: Mapping[str, Any] | None = None,
        hears_recordings: bool = False,
    ) -> Employee:
        """Add an employee with their own phones (E.164), their identity in each channel, and
        whether they have the right to hear recordings.

        Raises ConflictError when an extension or PBX user id already belongs to someone in
        that channel, ValueError for an unknown channel, a channel given twice or working
        hours not in the `crm.working_hours` shape.
        """
        hours = None if working_hours is None else check_working_hours(working_hours)
        own_phones = list(dict.fromkeys(require_e164(phone) for phone in phones))
        channel_ids = [link.channel_id for link in links]
        if len(set(channel_ids)) != len(channel_ids):
            raise ValueError("an employee has one link per channel; a channel was given twice")
        try:
            with self._writes.begin() as session:
                _check_channels_exist(session, channel_ids)
                _check_links_free(session, links)
                row = EmployeeRow(
                    name=name,
                    created_at=utcnow(),
                    working_hours=hours,
                    hears_recordings=hears_recordings,
                    phones=[EmployeePhoneRow(phone=phone) for phone in own_phones],
                    links=[
                        EmployeeChannelLinkRow(
                            channel_id=link.channel_id,
                            extension=link.extension,
                            pbx_user_id=link.pbx_user_id,
                        )
                        for link in links
                    ],
                )
                session.add(row)
                session.flush()
                return _employee(row)
        except IntegrityError as error:
            # Someone took the same extension between our check and our insert.
            raise ConflictError(f"an extension or PBX user id is already taken: {error}") from None

    def set_working_hours(
        self, employee_id: int, working_hours: Mapping[str, Any] | None
    ) -> Employee | None:
        """Replace an employee's working hours (None: no schedule); None if no such employee.

        Raises ValueError for hours not in the `crm.working_hours` shape.
        """
        hours = None if working_hours is None else check_working_hours(working_hours)
        return self._change_employee(employee_id, working_hours=hours)

    def set_hears_recordings(self, employee_id: int, hears: bool) -> Employee | None:
        """Give or take an employee's right to hear recordings; None if no such employee."""
        return self._change_employee(employee_id, hears_recordings=hears)

    def _write_racing(
        self,
        write: Callable[[Session], _R],
        *,
        lost: Callable[[IntegrityError], Exception] | None = None,
    ) -> _R:
        """`write` in one transaction, which reads a row and inserts it when missing. When the
        insert breaks a unique key, a racing writer inserted the same row between our read and
        our insert: once more, and the second read finds it. A second failure is no race (an
        unknown reference): `lost(error)` is raised, or the error itself."""
        for attempt in range(2):
            try:
                with self._writes.begin() as session:
                    return write(session)
            except IntegrityError as error:
                if attempt:
                    if lost is None:
                        raise
                    raise lost(error) from error
        raise AssertionError("unreachable")

    def _change_employee(self, employee_id: int, **columns: Any) -> Employee | None:
        """Set columns of an employee's row (written only when they differ); None if no such
        employee."""
        with self._writes.begin() as session:
            row = session.get(EmployeeRow, employee_id)
            if row is None:
                return None
            changed = {
                name: value for name, value in columns.items() if getattr(row, name) != value
            }
            for name, value in changed.items():
                setattr(row, name, value)
            if changed:
                session.flush()
            return _employee(row)

    def issue_token(self, employee_id: int, *, expires_at: datetime | None = None) -> str | None:
        """A new API token for the employee, replacing the one they had, valid until
        `expires_at` (None: until revoked or replaced); None if no such employee. Only its
        SHA-256 is kept: this answer is the one time the token is seen. Raises ValueError for
        a naive or past `expires_at`."""
        _require_aware("expires_at", expires_at)
        if expires_at is not None and expires_at <= utcnow():
            raise ValueError(f"expires_at {expires_at.isoformat()} is not in the future")
        token = secrets.token_urlsafe(32)
        with self._writes.begin() as session:
            row = session.get(EmployeeRow, employee_id)
            if row is None:
                return None
            row.token_sha256 = _token_digest(token)
            row.token_expires_at = expires_at
            session.flush()
        return token

    def revoke_token(self, employee_id: int) -> bool | None:
        """Forget the employee's API token: True if they had one; None if no such employee."""
        with self._writes.begin() as session:
            row = session.get(EmployeeRow, employee_id)
            if row is None:
                return None
            had = row.token_sha256 is not None
            row.token_sha256 = None
            row.token_expires_at = None
            session.flush()
            return had

    def employee_by_token(self, token: str, *, now: datetime | None = None) -> Employee | None:
        """The employee whose API token this is (found by its SHA-256) and has not expired by
        `now` (default: this moment), or None."""
        _require_aware("now", now)
        query = select(EmployeeRow).where(
            EmployeeRow.token_sha256 == _token_digest(token),
            or_(
                EmployeeRow.token_expires_at.is_(None),
                EmployeeRow.token_expires_at > (now or utcnow()),
            ),
        )
        with self._reads() as session:
            row = session.scalar(query)
            return _employee(row) if row else None

    def get_employee(self, employee_id: int) -> Employee | None:
        with self._reads() as session:
            row = session.get(EmployeeRow, employee_id)
            return _employee(row) if row else None

    def list_employees(self, *, channel_id: int | None = None) -> list[Employee]:
        """All employees, or those who work in one channel."""
        query = select(EmployeeRow).order_by(EmployeeRow.id)
        if channel_id is not None:
            in_channel = select(EmployeeChannelLinkRow.employee_id).where(
                EmployeeChannelLinkRow.channel_id == channel_id
            )
            query = query.where(EmployeeRow.id.in_(in_channel))
        with self._reads() as session:
            return [_employee(row) for row in session.scalars(query)]

    def find_employee(
        self, channel_id: int, *, extension: str | None = None, pbx_user_id: str | None = None
    ) -> Employee | None:
        """Who the PBX of a channel means; its own user id is trusted over a short number."""
        with self._reads() as session:
            for column, value in (
                (EmployeeChannelLinkRow.pbx_user_id, pbx_user_id),
                (EmployeeChannelLinkRow.extension, extension),
            ):
                if value is None:
                    continue
                row = session.scalar(
                    select(EmployeeRow)
                    .join(EmployeeRow.links)
                    .where(EmployeeChannelLinkRow.channel_id == channel_id, column == value)
                )
                if row is not None:
                    return _employee(row)
            return None

    def find_employee_by_phone(self, phone: str) -> Employee | None:
        """The employee whose own phone this is (their calls are not calls with a contact)."""
        with self._reads() as session:
            row = session.scalar(
                select(EmployeeRow)
                .join(EmployeeRow.phones)
                .where(EmployeePhoneRow.phone == phone)
                .order_by(EmployeeRow.id)
                .limit(1)
            )
            return _employee(row) if row else None

    # -- contacts ---------------------------------------------------------------------------

    def find_or_create_contact(
        self,
        *,
        phone: str,
        phone_raw: str | None = None,
        name: str | None = None,
        fields: Mapping[str, str] | None = None,
        responsible_employee_ids: Sequence[int] = (),
    ) -> tuple[Contact, bool]:
        """The contact with this E.164 phone, created if there is none; True when created.

        A contact found is returned unchanged (its name, fields and responsibles are kept); a new
        one gets `fields` and, in this order, `responsible_employee_ids` in the same transaction.
        Raises ValueError for an unknown responsible employee.
        """
        require_e164(phone)
        found = self.find_contact_by_phone(phone)
        if found is not None:
            return found, False
        try:
            return self._create_contact(
                phone=phone,
                phone_raw=phone_raw,
                name=name,
                fields=fields,
                responsible_employee_ids=list(dict.fromkeys(responsible_employee_ids)),
            )
        except IntegrityError:
            # Another thread or process created it between our read and our insert.
            found = self.find_contact_by_phone(phone)
            if found is None:
                raise
            return found, False

    def _create_contact(
        self,
        *,
        phone: str,
        phone_raw: str | None,
        name: str | None,
        fields: Mapping[str, str] | None = None,
        responsible_employee_ids: Sequence[int] = (),
    ) -> tuple[Contact, bool]:
        with self._writes.begin() as session:
            # Read again under the write lock: on SQLite a racing writer has committed by now.
            row = session.scalar(_contact_by_phone(phone))
            if row is not None:
                return _contact(row), False
            _check_employees_exist(session, responsible_employee_ids)
            now = utcnow()
            row = ContactRow(
                name=name,
                created_at=now,
                updated_at=now,
                phones=[ContactPhoneRow(phone=phone, raw=phone_raw)],
                responsibles=[
                    ContactResponsibleRow(employee_id=employee_id, position=position)
                    for position, employee_id in enumerate(responsible_employee_ids)
                ],
                fields=dict(fields) if fields else None,
            )
            session.add(row)
            session.flush()
            return _contact(row), True

    def find_contact_by_phone(self, phone: str) -> Contact | None:
        with self._reads() as session:
            row = session.scalar(_contact_by_phone(phone))
            return _contact(row) if row else None

    def get_contact(self, contact_id: int) -> Contact | None:
        with self._reads() as session:
            row = session.get(ContactRow, contact_id)
            return _contact(row) if row else None

    def list_contacts(
        self, *, phone: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Contact]:
        """Contacts newest first; `phone` (E.164, exact) narrows to the one owning it."""
        query = select(ContactRow).order_by(ContactRow.id.desc()).limit(limit).offset(offset)
        if phone is not None:
            query = query.join(ContactRow.phones).where(ContactPhoneRow.phone == phone)
        with self._reads() as session:
            return [_contact(row) for row in session.scalars(query)]

    def set_contact_responsibles(
        self, contact_id: int, employee_ids: Sequence[int]
    ) -> Contact | None:
        """Make these employees, in this order, the contact's responsibles; None if no contact.

        The first one is whom routing asks for. Raises ValueError for an unknown employee.
        """
        ordered = list(dict.fromkeys(employee_ids))
        with self._writes.begin() as session:
            row = session.get(ContactRow, contact_id)
            if row is None:
                return None
            known = set(session.scalars(select(EmployeeRow.id).where(EmployeeRow.id.in_(ordered))))
            unknown = [employee_id for employee_id in ordered if employee_id not in known]
            if unknown:
                raise ValueError(f"no employee with id {unknown[0]}")
            if [r.employee_id for r in row.responsibles] != ordered:
                row.responsibles.clear()
                # Flush the removals first so that re-adding an employee does not collide.
                session.flush()
                row.responsibles.extend(
                    ContactResponsibleRow(employee_id=employee_id, position=position)
                    for position, employee_id in enumerate(ordered)
                )
                row.updated_at = utcnow()
                session.flush()
            return _contact(row)

    # -- calls ------------------------------------------------------------------------------

    def save_call(self, record: CallRecord) -> tuple[StoredCall, bool]:
        """Write a call session's record, creating or merging it; True when created.

        Saving the same record again changes nothing (not even updated_at). When merging, new
        values that are given (not None, not empty) replace stored ones; `kind` and `legs`
        always take the new value; `incomplete` stays False once any save said False.
        Raises ValueError for a naive datetime, an unknown kind or an unknown referenced id.
        """
        _check_call(record)
        try:
            return self._save_call(record)
        except IntegrityError:
            # Another thread or process inserted this session between our read and our insert;
            # the second attempt finds its row and merges into it.
            pass
        try:
            return self._save_call(record)
        except IntegrityError as error:
            raise ValueError(
                f"call {record.session_id!r} refers to an unknown channel, contact or employee"
                f" ({error.orig})"
            ) from error

    def _save_call(self, record: CallRecord) -> tuple[StoredCall, bool]:
        with self._writes.begin() as session:
            row = session.scalar(
                _call_by_session(record.channel_id, record.session_id).with_for_update()
            )
            now = utcnow()
            if row is None:
                values = {name: _call_value(record, name) for name in _CALL_FIELDS}
                row = CallRow(**values, created_at=now, updated_at=now)
                row.occurred_at = _occurred_at(row)
                session.add(row)
                # recorded after all (a later event made it a call): no longer a skipped one
                session.execute(
                    delete(SkippedCallRow).where(
                        SkippedCallRow.channel_id == record.channel_id,
                        SkippedCallRow.session_id == record.session_id,
                    )
                )
                session.flush()
                return _stored_call(row), True
            changes = _call_changes(row, record)
            if changes:
                for name, value in changes.items():
                    setattr(row, name, value)
                row.occurred_at = _occurred_at(row)
                row.updated_at = now
                session.flush()
            return _stored_call(row), False

    def attach_recording_link(
        self, channel_id: int, session_id: str, *, url: str, duration: int | None
    ) -> StoredCall | None:
        """Put the recording's URL (and duration, when known) on a call; None if no such call."""
        with self._writes.begin() as session:
            row = session.scalar(_call_by_session(channel_id, session_id).with_for_update())
            if row is None:
                return None
            new_duration = row.recording_duration if duration is None else duration
            if (row.recording_url, row.recording_duration) != (url, new_duration):
                row.recording_url = url
                row.recording_duration = new_duration
                row.updated_at = utcnow()
                session.flush()
            return _stored_call(row)

    def get_call(self, call_id: int) -> StoredCall | None:
        with self._reads() as session:
            row = session.get(CallRow, call_id)
            return _stored_call(row) if row else None

    def get_call_by_session(self, channel_id: int, session_id: str) -> StoredCall | None:
        with self._reads() as session:
            row = session.scalar(_call_by_session(channel_id, session_id))
            return _stored_call(row) if row else None

    def list_calls(
        self,
        *,
        kind: str | None = None,
        channel_id: int | None = None,
        phone: str | None = None,
        employee_id: int | None = None,
        contact_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        heard_by: Employee | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[StoredCall]:
        """Calls newest first by when they happened (started, else ended, else recorded).

        `phone` is the contact's E.164 number; the window is `since <= time < until`;
        `heard_by`: only the calls that employee may hear (`crm.access`).
        """
        conditions = _call_conditions(
            kind=kind,
            channel_id=channel_id,
            phone=phone,
            employee_id=employee_id,
            contact_id=contact_id,
            since=since,
            until=until,
            heard_by=heard_by,
        )
        with self._reads() as session:
            return [
                _stored_call(row)
                for row in session.scalars(
                    _newest_first(select(CallRow), conditions, limit, offset)
                )
            ]

    def page_calls(
        self,
        *,
        kind: str | None = None,
        channel_id: int | None = None,
        phone: str | None = None,
        employee_id: int | None = None,
        contact_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        heard_by: Employee | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[StoredCall], int]:
        """A page of `list_calls` and the total, read in one statement so they agree even while
        workflows write calls."""
        conditions = _call_conditions(
            kind=kind,
            channel_id=channel_id,
            phone=phone,
            employee_id=employee_id,
            contact_id=contact_id,
            since=since,
            until=until,
            heard_by=heard_by,
        )
        query = _newest_first(select(CallRow, func.count().over()), conditions, limit, offset)
        with self._reads() as session:
            rows = session.execute(query).all()
            if rows:
                return [_stored_call(row) for row, _ in rows], int(rows[0][1])
            # An empty page (past the end, or nothing at all) carries no total of its own.
            return [], _count_calls(session, conditions)

    def count_calls(
        self,
        *,
        kind: str | None = None,
        channel_id: int | None = None,
        phone: str | None = None,
        employee_id: int | None = None,
        contact_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        heard_by: Employee | None = None,
    ) -> int:
        """How many calls `list_calls` would find with the same filters and no limit."""
        conditions = _call_conditions(
            kind=kind,
            channel_id=channel_id,
            phone=phone,
            employee_id=employee_id,
            contact_id=contact_id,
            since=since,
            until=until,
            heard_by=heard_by,
        )
        with self._reads() as session:
            return _count_calls(session, conditions)

    def open_call(self, record: CallRecord) -> tuple[StoredCall, bool]:
        """A call row for a session that has not ended yet; True when created.

        An existing row is returned untouched, so opening never undoes what a finished call
        wrote. Raises ValueError like `save_call`.
        """
        _check_call(record)

        def write(session: Session) -> tuple[StoredCall, bool]:
            row = session.scalar(_call_by_session(record.channel_id, record.session_id))
            if row is not None:
                return _stored_call(row), False
            now = utcnow()
            values = {name: _call_value(record, name) for name in _CALL_FIELDS}
            row = CallRow(**values, created_at=now, updated_at=now)
            row.occurred_at = _occurred_at(row)
            session.add(row)
            session.flush()
            return _stored_call(row), True

        # A racing writer inserted it first: the second attempt finds its row.
        return self._write_racing(
            write,
            lost=lambda error: ValueError(
                f"call {record.session_id!r} refers to an unknown channel, contact or"
                f" employee ({error.orig})"
            ),
        )

    def set_call_status(
        self,
        call_id: int,
        status: str,
        *,
        employee_id: int | None = None,
        employee_pbx_id: str | None = None,
    ) -> StoredCall | None:
        """Record the telephony API's status of a call, and its employee when one is named.

        None if there is no such call; ValueError for an unknown employee.
        """
        with self._writes.begin() as session:
            row = session.get(CallRow, call_id, with_for_update=True)
            if row is None:
                return None
            if employee_id is not None and session.get(EmployeeRow, employee_id) is None:
                raise ValueError(f"no employee with id {employee_id}")
            changes: dict[str, Any] = {
                "status": status,
                "employee_id": employee_id,
                "employee_pbx_id": employee_pbx_id,
            }
            changed = {
                name: value
                for name, value in changes.items()
                if value is not None and getattr(row, name) != value
            }
            if changed:
                for name, value in changed.items():
                    setattr(row, name, value)
                row.updated_at = utcnow()
                session.flush()
            return _stored_call(row)

    # -- skipped calls ----------------------------------------------------------------------

    def save_skipped_call(self, record: SkippedCallRecord) -> tuple[SkippedCall, bool]:
        """Keep a call session that is not recorded, with its reason; True when new. Saving the
        same session again updates it (a later run may know more), so each is counted once.
        Raises ValueError for an unknown reason, a naive datetime or an unknown channel."""
        if record.reason not in SKIP_REASONS:
            raise ValueError(f"reason {record.reason!r} is not one of {sorted(SKIP_REASONS)}")
        for name in ("started_at", "ended_at"):
            _require_aware(name, getattr(record, name))
        values = {
            name: (value.astimezone(UTC) if isinstance(value, datetime) else copy.deepcopy(value))
            for name, value in ((f.name, getattr(record, f.name)) for f in fields(record))
        }

        def write(session: Session) -> tuple[SkippedCall, bool]:
            row = session.scalar(
                select(SkippedCallRow)
                .where(
                    SkippedCallRow.channel_id == record.channel_id,
                    SkippedCallRow.session_id == record.session_id,
                )
                .with_for_update()
            )
            now = utcnow()
            created = row is None
            if row is None:
                row = SkippedCallRow(**values, created_at=now, updated_at=now)
                session.add(row)
            elif any(getattr(row, name) != value for name, value in values.items()):
                for name, value in values.items():
                    setattr(row, name, value)
                row.updated_at = now
            row.occurred_at = row.started_at or row.ended_at or row.created_at
            session.flush()
            return _skipped_call(row), created

        # a racing writer inserted the same session first: the second attempt updates it
        return self._write_racing(
            write,
            lost=lambda error: ValueError(
                f"skipped call {record.session_id!r}: unknown channel ({error.orig})"
            ),
        )

    def get_skipped_call_by_session(self, channel_id: int, session_id: str) -> SkippedCall | None:
        query = select(SkippedCallRow).where(
            SkippedCallRow.channel_id == channel_id, SkippedCallRow.session_id == session_id
        )
        with self._reads() as session:
            row = session.scalar(query)
            return _skipped_call(row) if row else None

    def list_skipped_calls(
        self,
        *,
        channel_id: int | None = None,
        reason: str | None = None,
        phone: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[SkippedCall]:
        """Skipped calls newest first; the filters are those of `list_calls`."""
        conditions = _skipped_conditions(channel_id, reason, phone, since, until)
        query = (
            select(SkippedCallRow)
            .where(*conditions)
            .order_by(SkippedCallRow.occurred_at.desc(), SkippedCallRow.id.desc())
            .limit(limit)
            .offset(offset)
        )
        with self._reads() as session:
            return [_skipped_call(row) for row in session.scalars(query)]

    def count_skipped_calls(
        self,
        *,
        channel_id: int | None = None,
        reason: str | None = None,
        phone: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> int:
        conditions = _skipped_conditions(channel_id, reason, phone, since, until)
        query = select(func.count()).select_from(SkippedCallRow).where(*conditions)
        with self._reads() as session:
            return session.scalar(query) or 0

    def skipped_call_counts(self) -> list[tuple[int, str, str, int]]:
        """(channel id, provider, reason, how many) for every reason a channel has skipped."""
        query = (
            select(
                SkippedCallRow.channel_id,
                SkippedCallRow.provider,
                SkippedCallRow.reason,
                func.count(),
            )
            .group_by(SkippedCallRow.channel_id, SkippedCallRow.provider, SkippedCallRow.reason)
            .order_by(SkippedCallRow.channel_id, SkippedCallRow.reason, SkippedCallRow.provider)
        )
        with self._reads() as session:
            return [(c, p, r, n) for c, p, r, n in session.execute(query)]

    def call_counts(self) -> list[tuple[int, str, str, int]]:
        """(channel id, provider, kind, how many) of the calls kept, per channel and kind."""
        query = (
            select(CallRow.channel_id, CallRow.provider, CallRow.kind, func.count())
            .group_by(CallRow.channel_id, CallRow.provider, CallRow.kind)
            .order_by(CallRow.channel_id, CallRow.kind, CallRow.provider)
        )
        with self._reads() as session:
            return [(c, p, k, n) for c, p, k, n in session.execute(query)]

    def employee_names(self, employee_ids: Sequence[int]) -> dict[int, str]:
        """The names of these employees, by id (unknown ids left out)."""
        wanted = list(set(employee_ids))
        if not wanted:
            return {}
        query = select(EmployeeRow.id, EmployeeRow.name).where(EmployeeRow.id.in_(wanted))
        with self._reads() as session:
            return {employee_id: name for employee_id, name in session.execute(query)}

    def contact_names(self, contact_ids: Sequence[int]) -> dict[int, str | None]:
        """The names of these contacts, by id (unknown ids left out; a contact may have none)."""
        wanted = list(set(contact_ids))
        if not wanted:
            return {}
        query = select(ContactRow.id, ContactRow.name).where(ContactRow.id.in_(wanted))
        with self._reads() as session:
            return {contact_id: name for contact_id, name in session.execute(query)}

    # -- groups -----------------------------------------------------------------------------

    def create_group(self, *, name: str, employee_ids: Sequence[int] = ()) -> Group:
        """A named group of employees; ValueError for an unknown employee."""
        members = list(dict.fromkeys(employee_ids))
        with self._writes.begin() as session:
            _check_employees_exist(session, members)
            row = GroupRow(
                name=name,
                created_at=utcnow(),
                members=[GroupMemberRow(employee_id=employee_id) for employee_id in members],
            )
            session.add(row)
            session.flush()
            return _group(row)

    def get_group(self, group_id: int) -> Group | None:
        with self._reads() as session:
            row = session.get(GroupRow, group_id)
            return _group(row) if row else None

    def list_groups(self) -> list[Group]:
        with self._reads() as session:
            return [_group(row) for row in session.scalars(select(GroupRow).order_by(GroupRow.id))]

    def add_to_group(self, group_id: int, employee_id: int) -> Group | None:
        """Make an employee a member (once); None if no such group, ValueError if no employee."""
        with self._writes.begin() as session:
            row = session.get(GroupRow, group_id, with_for_update=True)
            if row is None:
                return None
            _check_employees_exist(session, [employee_id])
            if employee_id not in {member.employee_id for member in row.members}:
                row.members.append(GroupMemberRow(employee_id=employee_id))
                session.flush()
            return _group(row)

    def employees_in_groups(self, group_ids: Sequence[int]) -> list[Employee]:
        """The members of these groups, each once, by id; ValueError naming an unknown group."""
        wanted = list(dict.fromkeys(group_ids))
        with self._reads() as session:
            known = set(session.scalars(select(GroupRow.id).where(GroupRow.id.in_(wanted))))
            unknown = [group_id for group_id in wanted if group_id not in known]
            if unknown:
                raise ValueError(f"no group with id {unknown[0]}")
            members = select(GroupMemberRow.employee_id).where(GroupMemberRow.group_id.in_(wanted))
            rows = session.scalars(
                select(EmployeeRow).where(EmployeeRow.id.in_(members)).order_by(EmployeeRow.id)
            )
            return [_employee(row) for row in rows]

    # -- tasks and comments -----------------------------------------------------------------

    def create_task(
        self,
        *,
        title: str,
        description: str | None = None,
        department: str | None = None,
        assignee_employee_id: int | None = None,
        contact_id: int | None = None,
        call_id: int | None = None,
        idempotency_key: str | None = None,
        type: str | None = None,
        fields: Mapping[str, str] | None = None,
        due_at: datetime | None = None,
        rule: str | None = None,
        closes_on_contact: bool = False,
    ) -> Task:
        """Open a task; with an `idempotency_key` already used, that first task comes back.

        Raises ValueError for an unknown employee, contact or call, or a naive `due_at`.
        """
        _require_aware("due_at", due_at)
        if idempotency_key is not None:
            found = self._task_by_key(idempotency_key)
            if found is not None:
                return found
        try:
            with self._writes.begin() as session:
                if idempotency_key is not None:
                    # Read again under the write lock: on SQLite a racing writer is done by now.
                    row = session.scalar(
                        select(TaskRow).where(TaskRow.idempotency_key == idempotency_key)
                    )
                    if row is not None:
                        return _task(row)
                _check_task_refs(session, assignee_employee_id, contact_id, call_id)
                now = utcnow()
                row = TaskRow(
                    title=title,
                    description=description,
                    status="open",
                    department=department,
                    assignee_employee_id=assignee_employee_id,
                    contact_id=contact_id,
                    call_id=call_id,
                    idempotency_key=idempotency_key,
                    type=type,
                    fields=dict(fields) if fields else None,
                    due_at=due_at,
                    rule=rule,
                    closes_on_contact=closes_on_contact,
                    created_at=now,
                    updated_at=now,
                )
                session.add(row)
                session.flush()
                return _task(row)
        except IntegrityError:
            found = self._task_by_key(idempotency_key) if idempotency_key else None
            if found is None:
                raise
            return found

    def _task_by_key(self, idempotency_key: str) -> Task | None:
        with self._reads() as session:
            row = session.scalar(select(TaskRow).where(TaskRow.idempotency_key == idempotency_key))
            return _task(row) if row else None

    def get_task(self, task_id: int) -> Task | None:
        with self._reads() as session:
            row = session.get(TaskRow, task_id)
            return _task(row) if row else None

    def list_tasks(
        self,
        *,
        status: str | None = None,
        assignee_employee_id: int | None = None,
        contact_id: int | None = None,
        call_id: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Task]:
        """Tasks newest first, narrowed by whichever filters are given."""
        equal_to: list[tuple[Any, Any]] = [
            (TaskRow.status, status),
            (TaskRow.assignee_employee_id, assignee_employee_id),
            (TaskRow.contact_id, contact_id),
            (TaskRow.call_id, call_id),
        ]
        query = (
            select(TaskRow)
            .where(*[column == value for column, value in equal_to if value is not None])
            .order_by(TaskRow.id.desc())
            .limit(limit)
            .offset(offset)
        )
        with self._reads() as session:
            return [_task(row) for row in session.scalars(query)]

    def update_task(
        self,
        task_id: int,
        *,
        status: str | None = None,
        assignee_employee_id: int | None = None,
    ) -> Task | None:
        """Change what is given (None keeps it); None if no such task.

        Raises ValueError for an unknown status or employee.
        """
        if status is not None and status not in TASK_STATUSES:
            raise ValueError(f"status {status!r} is not one of {sorted(TASK_STATUSES)}")
        with self._writes.begin() as session:
            row = session.get(TaskRow, task_id, with_for_update=True)
            if row is None:
                return None
            _check_task_refs(session, assignee_employee_id, None, None)
            changed = False
            for name, value in (("status", status), ("assignee_employee_id", assignee_employee_id)):
                if value is not None and getattr(row, name) != value:
                    setattr(row, name, value)
                    changed = True
            if changed:
                row.updated_at = utcnow()
                row.closed_at = row.updated_at if row.status == "closed" else None
                session.flush()
            return _task(row)

    def add_comment(
        self,
        *,
        text: str,
        task_id: int | None = None,
        call_id: int | None = None,
        idempotency_key: str | None = None,
        contact_id: int | None = None,
        author_employee_id: int | None = None,
        hidden: bool = False,
    ) -> Comment:
        """Comment on a task, a call and/or a contact card, by an employee or by pbxhub itself;
        a repeated `idempotency_key` returns the first one.

        Raises ValueError when none of task, call and contact is given, or any given is unknown.
        """
        if task_id is None and call_id is None and contact_id is None:
            raise ValueError("a comment belongs to a task, a call or a contact; neither was given")

        def write(session: Session) -> Comment:
            if idempotency_key is not None:
                row = session.scalar(
                    select(CommentRow).where(CommentRow.idempotency_key == idempotency_key)
                )
                if row is not None:
                    return _comment(row)
            if task_id is not None and session.get(TaskRow, task_id) is None:
                raise ValueError(f"no task with id {task_id}")
            if call_id is not None and session.get(CallRow, call_id) is None:
                raise ValueError(f"no call with id {call_id}")
            _check_task_refs(session, author_employee_id, contact_id, None)
            row = CommentRow(
                task_id=task_id,
                call_id=call_id,
                contact_id=contact_id,
                author_employee_id=author_employee_id,
                hidden=hidden,
                text=text,
                idempotency_key=idempotency_key,
                created_at=utcnow(),
            )
            session.add(row)
            session.flush()
            return _comment(row)

        # Another writer added the same keyed comment between our read and insert.
        return self._write_racing(write)

    def list_comments(
        self,
        *,
        task_id: int | None = None,
        call_id: int | None = None,
        contact_id: int | None = None,
        include_hidden: bool = True,
    ) -> list[Comment]:
        """Comments oldest first, of a task, a call or a contact (or several filters at once);
        without `include_hidden`, only those everybody may see."""
        query = select(CommentRow).order_by(CommentRow.id)
        if task_id is not None:
            query = query.where(CommentRow.task_id == task_id)
        if call_id is not None:
            query = query.where(CommentRow.call_id == call_id)
        if contact_id is not None:
            query = query.where(CommentRow.contact_id == contact_id)
        if not include_hidden:
            query = query.where(CommentRow.hidden.is_(False))
        with self._reads() as session:
            return [_comment(row) for row in session.scalars(query)]

    # -- what a call leaves behind by rule: call-backs closed, attachment, notifications ------

    def close_reached_tasks(self, contact_id: int) -> list[Task]:
        """Close the contact's open call-back tasks (`closes_on_contact`) that an answered call
        has reached since the call the task is about (since the task was made, if it is about
        none), whatever order the calls are processed in; returns the tasks closed now."""
        closed: list[Task] = []
        with self._writes.begin() as session:
            waiting = session.scalars(
                select(TaskRow)
                .where(
                    TaskRow.contact_id == contact_id,
                    TaskRow.status == "open",
                    TaskRow.closes_on_contact.is_(True),
                )
                .order_by(TaskRow.id)
                .with_for_update()
            ).all()
            for task in waiting:
                about = session.get(CallRow, task.call_id) if task.call_id is not None else None
                since = about.occurred_at if about is not None else task.created_at
                reached = session.scalar(
                    select(CallRow)
                    .where(
                        CallRow.contact_id == contact_id,
                        CallRow.kind == "call",
                        CallRow.occurred_at > since,
                    )
                    .order_by(CallRow.occurred_at, CallRow.id)
                    .limit(1)
                )
                if reached is None:
                    continue
                task.status = "closed"
                task.closed_by_call_id = reached.id
                task.closed_at = task.updated_at = utcnow()
                session.flush()
                closed.append(_task(task))
        return closed

    def set_call_origin_task(self, call_id: int, task_id: int) -> CallAttachment:
        """Note the task a call was made from (the telephony API's ticket, say): the call will
        hang there. A call that already has an origin task keeps it."""

        def write(session: Session) -> CallAttachment:
            _check_task_refs(session, None, None, call_id)
            if session.get(TaskRow, task_id) is None:
                raise ValueError(f"no task with id {task_id}")
            row = session.get(CallAttachmentRow, call_id, with_for_update=True)
            if row is None:
                row = CallAttachmentRow(call_id=call_id, hidden=False)
                session.add(row)
            if row.origin_task_id is None:
                row.origin_task_id = task_id
            session.flush()
            return _attachment(row)

        # Another writer made the row between our read and insert: the retry finds it.
        return self._write_racing(write)

    def call_place(self, call_id: int) -> CallPlace | None:
        """Where a call hangs, with the contact and task that decide who sees it there
        (`crm.access`); None if there is no such call."""
        with self._reads() as session:
            call = session.get(CallRow, call_id)
            if call is None:
                return None
            attachment = call.attachment
            if attachment is None or attachment.attached_at is None:
                # not attached yet (or nowhere): it hangs on its contact meanwhile
                attachment = None
            elif attachment.contact_id is None and attachment.task_id is None:
                attachment = None
            contact_id = call.contact_id if attachment is None else attachment.contact_id
            task_row = None
            if attachment is not None and attachment.task_id is not None:
                task_row = session.get(TaskRow, attachment.task_id)
            task = _task(task_row) if task_row is not None else None
            return CallPlace(
                call_id=call.id,
                contact=_contact_of(session, contact_id),
                task=task,
                task_contact=_contact_of(session, task.contact_id if task else None),
                hidden=attachment is not None and attachment.hidden,
            )

    def get_call_attachment(self, call_id: int) -> CallAttachment | None:
        with self._reads() as session:
            row = session.get(CallAttachmentRow, call_id)
            return _attachment(row) if row else None

    def attach_call(
        self,
        call_id: int,
        *,
        mode: str,
        contact_id: int | None = None,
        task_id: int | None = None,
        hidden: bool = False,
        comment_text: str | None = None,
    ) -> CallAttachment:
        """Hang a call on a task and/or its contact, once: a call already attached keeps its
        place and gets that back. `hidden` also writes the call as a hidden comment on the task
        (or, with none, on the contact). ValueError for an unknown call, contact or task."""

        def write(session: Session) -> CallAttachment:
            _check_task_refs(session, None, contact_id, call_id)
            if task_id is not None and session.get(TaskRow, task_id) is None:
                raise ValueError(f"no task with id {task_id}")
            row = session.get(CallAttachmentRow, call_id, with_for_update=True)
            if row is not None and row.attached_at is not None:
                return _attachment(row)
            if row is None:
                row = CallAttachmentRow(call_id=call_id, hidden=False)
                session.add(row)
            now = utcnow()
            row.mode, row.contact_id, row.task_id = mode, contact_id, task_id
            row.hidden, row.attached_at = hidden, now
            if hidden and (task_id is not None or contact_id is not None):
                comment = CommentRow(
                    task_id=task_id,
                    contact_id=contact_id if task_id is None else None,
                    text=comment_text or f"call {call_id}",
                    hidden=True,
                    created_at=now,
                )
                session.add(comment)
                session.flush()
                row.comment_id = comment.id
            session.flush()
            return _attachment(row)

        # Another writer attached it between our read and insert: the retry finds it.
        return self._write_racing(write)

    def add_notifications(
        self,
        *,
        kind: str,
        text: str,
        employee_ids: Sequence[int],
        call_id: int | None = None,
        contact_id: int | None = None,
    ) -> list[Notification]:
        """Tell each employee; about a call, each employee is told each `kind` once however often
        this is repeated (the stored notifications come back). ValueError for an unknown
        employee, call or contact."""
        wanted = list(dict.fromkeys(employee_ids))

        def write(session: Session) -> list[Notification]:
            _check_employees_exist(session, wanted)
            _check_task_refs(session, None, contact_id, call_id)
            told: list[Notification] = []
            for employee_id in wanted:
                row = None
                if call_id is not None:
                    row = session.scalar(
                        select(NotificationRow).where(
                            NotificationRow.call_id == call_id,
                            NotificationRow.employee_id == employee_id,
                            NotificationRow.kind == kind,
                        )
                    )
                if row is None:
                    row = NotificationRow(
                        employee_id=employee_id,
                        kind=kind,
                        text=text,
                        call_id=call_id,
                        contact_id=contact_id,
                        created_at=utcnow(),
                    )
                    session.add(row)
                    session.flush()
                told.append(_notification(row))
            return told

        # A racing writer told the same employee first: the retry finds its row.
        return self._write_racing(write)

    def list_notifications(
        self,
        *,
        employee_id: int | None = None,
        call_id: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Notification]:
        """Notifications newest first, of one employee and/or about one call."""
        query = select(NotificationRow).order_by(NotificationRow.id.desc())
        if employee_id is not None:
            query = query.where(NotificationRow.employee_id == employee_id)
        if call_id is not None:
            query = query.where(NotificationRow.call_id == call_id)
        with self._reads() as session:
            rows = session.scalars(query.limit(limit).offset(offset))
            return [_notification(row) for row in rows]

    # -- recordings -------------------------------------------------------------------------

    def add_recording(
        self,
        *,
        call_id: int,
        storage: str,
        location: str,
        content_type: str,
        size: int,
        sha256: str,
        source_url: str | None = None,
        duration_seconds: int | None = None,
    ) -> tuple[Recording, bool]:
        """Keep a call's audio; the same file (by sha256) on the same call is kept once.

        True when added; ValueError for an unknown call.
        """
        sha256 = sha256.lower()
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"sha256 {sha256!r} is not a hex SHA-256 digest")

        def write(session: Session) -> tuple[Recording, bool]:
            row = session.scalar(
                select(RecordingRow).where(
                    RecordingRow.call_id == call_id, RecordingRow.sha256 == sha256
                )
            )
            if row is not None:
                return _recording(row), False
            if session.get(CallRow, call_id) is None:
                raise ValueError(f"no call with id {call_id}")
            row = RecordingRow(
                call_id=call_id,
                storage=storage,
                location=location,
                content_type=content_type,
                size=size,
                sha256=sha256,
                source_url=source_url,
                duration_seconds=duration_seconds,
                created_at=utcnow(),
            )
            session.add(row)
            session.flush()
            return _recording(row), True

        return self._write_racing(write)

    def list_recordings(self, call_id: int) -> list[Recording]:
        """A call's recordings, oldest first."""
        query = (
            select(RecordingRow).where(RecordingRow.call_id == call_id).order_by(RecordingRow.id)
        )
        with self._reads() as session:
            return [_recording(row) for row in session.scalars(query)]

    def find_recording(self, sha256: str) -> Recording | None:
        """A recording with this content (the first kept), whatever call it belongs to."""
        query = (
            select(RecordingRow)
            .where(RecordingRow.sha256 == sha256.lower())
            .order_by(RecordingRow.id)
            .limit(1)
        )
        with self._reads() as session:
            row = session.scalar(query)
            return _recording(row) if row else None

    def recordings_with_content(self, sha256: str) -> list[Recording]:
        """Every recording of this content, oldest first: one file may be several calls'."""
        query = (
            select(RecordingRow)
            .where(RecordingRow.sha256 == sha256.lower())
            .order_by(RecordingRow.id)
        )
        with self._reads() as session:
            return [_recording(row) for row in session.scalars(query)]

    def get_recording(self, recording_id: int) -> Recording | None:
        with self._reads() as session:
            row = session.get(RecordingRow, recording_id)
            return _recording(row) if row else None

    def find_recording_by_source(self, call_id: int, source_url: str) -> Recording | None:
        """The recording a call already keeps from this link (so a link is downloaded once)."""
        query = (
            select(RecordingRow)
            .where(RecordingRow.call_id == call_id, RecordingRow.source_url == source_url)
            .order_by(RecordingRow.id)
            .limit(1)
        )
        with self._reads() as session:
            row = session.scalar(query)
            return _recording(row) if row else None

    def set_recording_outcome(
        self,
        call_id: int,
        *,
        status: str,
        error_code: str | None = None,
        error: str | None = None,
        clear_link: bool = False,
        link: str | None = None,
    ) -> StoredCall | None:
        """Record what became of a call's recording (a status of RECORDING_STATUSES, and why
        when it was refused or failed); `clear_link` forgets the PBX's link too (a channel that
        keeps nothing), `link` sets it (one the PBX's API gave). None if there is no such
        call."""
        if status not in RECORDING_STATUSES:
            raise ValueError(
                f"recording status {status!r} is not one of {sorted(RECORDING_STATUSES)}"
            )
        changes: dict[str, Any] = {
            "recording_status": status,
            "recording_error_code": error_code,
            "recording_error": None if error is None else error[:1024],
        }
        if clear_link:
            changes["recording_url"] = None
        elif link is not None:
            changes["recording_url"] = link
        with self._writes.begin() as session:
            row = session.get(CallRow, call_id, with_for_update=True)
            if row is None:
                return None
            changed = {
                name: value for name, value in changes.items() if getattr(row, name) != value
            }
            if changed:
                for name, value in changed.items():
                    setattr(row, name, value)
                row.updated_at = utcnow()
                session.flush()
            return _stored_call(row)

    def count_recording_outcomes(
        self, *, channel_id: int | None = None
    ) -> list[tuple[str, str | None, int]]:
        """How many calls' recordings ended how: (status, error code, calls), most first."""
        count = func.count().label("calls")
        query = (
            select(CallRow.recording_status, CallRow.recording_error_code, count)
            .where(CallRow.recording_status.is_not(None))
            .group_by(CallRow.recording_status, CallRow.recording_error_code)
            .order_by(count.desc(), CallRow.recording_status, CallRow.recording_error_code)
        )
        if channel_id is not None:
            query = query.where(CallRow.channel_id == channel_id)
        with self._reads() as session:
            return [(str(status), code, calls) for status, code, calls in session.execute(query)]


# -- migrations -----------------------------------------------------------------------------


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch of `target` by `patch`."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


def _upgrade(connection: Connection, config: Config) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _migrate_sqlite(connection: Connection, config: Config) -> None:
    # A batch migration rebuilds a table by copying it and dropping the original; with foreign
    # keys enforced, the drop would cascade into the rows that refer to it. The pragma only
    # takes effect outside a transaction, so it is set on the driver's connection before BEGIN
    # (which is IMMEDIATE here, so processes migrate one after the other).
    driver_connection = connection.connection.driver_connection
    assert driver_connection is not None
    driver_connection.execute("PRAGMA foreign_keys = OFF")
    try:
        with connection.begin():
            _upgrade(connection, config)
            dangling = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if dangling:
                raise RuntimeError(f"migration left rows referring to nothing: {dangling[:5]}")
    finally:
        driver_connection.execute("PRAGMA foreign_keys = ON")


# -- queries and checks ---------------------------------------------------------------------


def _contact_of(session: Session, contact_id: int | None) -> Contact | None:
    row = session.get(ContactRow, contact_id) if contact_id is not None else None
    return _contact(row) if row is not None else None


def _contact_by_phone(phone: str) -> Select[ContactRow]:
    return select(ContactRow).join(ContactRow.phones).where(ContactPhoneRow.phone == phone)


def _call_by_session(channel_id: int, session_id: str) -> Select[CallRow]:
    return select(CallRow).where(CallRow.channel_id == channel_id, CallRow.session_id == session_id)


def _skipped_conditions(
    channel_id: int | None,
    reason: str | None,
    phone: str | None,
    since: datetime | None,
    until: datetime | None,
) -> list[ColumnElement[bool]]:
    equal_to = [
        (SkippedCallRow.channel_id, channel_id),
        (SkippedCallRow.reason, reason),
        (SkippedCallRow.contact_phone, phone),
    ]
    return _filters(SkippedCallRow.occurred_at, equal_to, since, until)


def _filters(
    occurred_at: Any,
    equal_to: list[tuple[Any, Any]],
    since: datetime | None,
    until: datetime | None,
) -> list[ColumnElement[bool]]:
    """Equality on the values given, and `since <= occurred_at < until`."""
    _require_aware("since", since)
    _require_aware("until", until)
    conditions: list[ColumnElement[bool]] = [
        column == value for column, value in equal_to if value is not None
    ]
    if since is not None:
        conditions.append(occurred_at >= since)
    if until is not None:
        conditions.append(occurred_at < until)
    return conditions


def _newest_first(
    query: _Query, conditions: list[ColumnElement[bool]], limit: int, offset: int
) -> _Query:
    """Calls newest first by when they happened, a page of them."""
    return (
        query.where(*conditions)
        .order_by(CallRow.occurred_at.desc(), CallRow.id.desc())
        .limit(limit)
        .offset(offset)
    )


def _call_conditions(
    *,
    kind: str | None,
    channel_id: int | None,
    phone: str | None,
    employee_id: int | None,
    contact_id: int | None,
    since: datetime | None,
    until: datetime | None,
    heard_by: Employee | None,
) -> list[ColumnElement[bool]]:
    equal_to = [
        (CallRow.kind, kind),
        (CallRow.channel_id, channel_id),
        (CallRow.contact_phone, phone),
        (CallRow.employee_id, employee_id),
        (CallRow.contact_id, contact_id),
    ]
    conditions = _filters(CallRow.occurred_at, equal_to, since, until)
    if heard_by is not None:
        conditions.append(_heard_by(heard_by))
    return conditions


def _count_calls(session: Session, conditions: list[ColumnElement[bool]]) -> int:
    return session.scalar(select(func.count()).select_from(CallRow).where(*conditions)) or 0


def _heard_by(employee: Employee) -> ColumnElement[bool]:
    """The calls `employee` may hear: `crm.access.hearing_verdict` as one SQL condition, so that
    a list is filtered and counted in the database (tests hold the two to the same answers).
    Where a call hangs is read as `Store.call_place` reads it."""

    def responsible_for(contact_id: Any) -> ColumnElement[bool]:
        return exists().where(
            ContactResponsibleRow.contact_id == contact_id,
            ContactResponsibleRow.employee_id == employee.id,
        )

    place = CallAttachmentRow
    attached = and_(
        place.call_id == CallRow.id,
        place.attached_at.is_not(None),
        or_(place.contact_id.is_not(None), place.task_id.is_not(None)),
    )
    sees_task = exists().where(
        TaskRow.id == place.task_id,
        or_(TaskRow.assignee_employee_id == employee.id, responsible_for(TaskRow.contact_id)),
    )
    # a hidden comment is shown only to those who hear recordings
    shown = true() if employee.hears_recordings else place.hidden.is_(False)
    return or_(
        # not attached yet (or nowhere): it hangs on its own contact
        and_(~exists().where(attached), responsible_for(CallRow.contact_id)),
        exists().where(attached, or_(responsible_for(place.contact_id), sees_task), shown),
    )


def _check_channels_exist(session: Session, channel_ids: Sequence[int]) -> None:
    known = set(session.scalars(select(ChannelRow.id).where(ChannelRow.id.in_(channel_ids))))
    for channel_id in channel_ids:
        if channel_id not in known:
            raise ValueError(f"no channel with id {channel_id}")


def _check_links_free(session: Session, links: Sequence[EmployeeLink]) -> None:
    for link in links:
        for what, column, value in (
            ("extension", EmployeeChannelLinkRow.extension, link.extension),
            ("PBX user id", EmployeeChannelLinkRow.pbx_user_id, link.pbx_user_id),
        ):
            if value is None:
                continue
            owner = session.scalar(
                select(EmployeeChannelLinkRow.employee_id).where(
                    EmployeeChannelLinkRow.channel_id == link.channel_id, column == value
                )
            )
            if owner is not None:
                raise ConflictError(
                    f"{what} {value!r} in channel {link.channel_id} belongs to employee {owner}"
                )


def _check_employees_exist(session: Session, employee_ids: Sequence[int]) -> None:
    known = set(session.scalars(select(EmployeeRow.id).where(EmployeeRow.id.in_(employee_ids))))
    for employee_id in employee_ids:
        if employee_id not in known:
            raise ValueError(f"no employee with id {employee_id}")


def _check_task_refs(
    session: Session, employee_id: int | None, contact_id: int | None, call_id: int | None
) -> None:
    for what, table, value in (
        ("employee", EmployeeRow, employee_id),
        ("contact", ContactRow, contact_id),
        ("call", CallRow, call_id),
    ):
        if value is not None and session.get(table, value) is None:
            raise ValueError(f"no {what} with id {value}")


def _require_aware(name: str, value: datetime | None) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{name} is a naive datetime ({value.isoformat()}); give it a time zone")


def _check_call(record: CallRecord) -> None:
    if record.kind not in CALL_KINDS:
        raise ValueError(f"kind {record.kind!r} is not one of {sorted(CALL_KINDS)}")
    if record.direction is not None and record.direction not in DIRECTIONS:
        raise ValueError(f"direction {record.direction!r} is not one of {sorted(DIRECTIONS)}")
    for name in _CALL_DATETIMES:
        _require_aware(name, getattr(record, name))


def _call_value(record: CallRecord, name: str) -> Any:
    """A record's field as the row keeps it: datetimes in UTC, collections copied."""
    value = getattr(record, name)
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, list | dict):
        return copy.deepcopy(value)
    return value


def _is_given(value: Any) -> bool:
    return value is not None and not (isinstance(value, str | list | dict) and not value)


def _call_changes(row: CallRow, record: CallRecord) -> dict[str, Any]:
    """The fields that saving `record` over `row` changes, with their new values."""
    changes: dict[str, Any] = {}
    for name in _CALL_FIELDS:
        if name in ("channel_id", "session_id"):
            continue
        old = getattr(row, name)
        new = _call_value(record, name)
        if name == "incomplete":
            new = old and new
        elif name not in ("kind", "legs") and not _is_given(new):
            continue
        if new != old:
            changes[name] = new
    return changes


def _token_digest(token: str) -> str:
    # A token is random and long: a plain SHA-256 of it cannot be turned back into it.
    return hashlib.sha256(token.encode()).hexdigest()


def _occurred_at(row: CallRow) -> datetime:
    return row.started_at or row.ended_at or row.created_at


# -- rows to records ------------------------------------------------------------------------


def _channel(row: ChannelRow) -> Channel:
    return Channel(
        id=row.id,
        provider=row.provider,
        name=row.name,
        secret_key=row.secret_key,
        default_country=row.default_country,
        timezone=row.timezone,
        settings=copy.deepcopy(row.settings),
        created_at=row.created_at,
    )


def _employee(row: EmployeeRow) -> Employee:
    return Employee(
        id=row.id,
        name=row.name,
        phones=[phone.phone for phone in row.phones],
        links=[
            EmployeeLink(
                channel_id=link.channel_id, extension=link.extension, pbx_user_id=link.pbx_user_id
            )
            for link in row.links
        ],
        working_hours=copy.deepcopy(row.working_hours),
        hears_recordings=row.hears_recordings,
        token_expires_at=row.token_expires_at,
    )


def _contact(row: ContactRow) -> Contact:
    return Contact(
        id=row.id,
        name=row.name,
        phones=[ContactPhone(phone=phone.phone, raw=phone.raw) for phone in row.phones],
        responsible_employee_ids=[responsible.employee_id for responsible in row.responsibles],
        created_at=row.created_at,
        fields=dict(row.fields or {}),
    )


def _copied(record: type[_R], row: Any) -> _R:
    """A record whose fields the row carries under the same names, copied (JSON values too)."""
    names = [f.name for f in fields(record)]  # type: ignore[arg-type]
    return record(**{name: copy.deepcopy(getattr(row, name)) for name in names})


def _skipped_call(row: SkippedCallRow) -> SkippedCall:
    return _copied(SkippedCall, row)


def _stored_call(row: CallRow) -> StoredCall:
    values = {name: copy.deepcopy(getattr(row, name)) for name in _CALL_FIELDS}
    return StoredCall(
        id=row.id,
        **values,
        status=row.status,
        attachment=_attachment(row.attachment) if row.attachment is not None else None,
        recording_status=row.recording_status,
        recording_error_code=row.recording_error_code,
        recording_error=row.recording_error,
        recordings=[_recording(recording) for recording in row.recordings],
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _group(row: GroupRow) -> Group:
    return Group(
        id=row.id,
        name=row.name,
        employee_ids=[member.employee_id for member in row.members],
        created_at=row.created_at,
    )


def _task(row: TaskRow) -> Task:
    return Task(
        id=row.id,
        title=row.title,
        status=row.status,
        description=row.description,
        department=row.department,
        assignee_employee_id=row.assignee_employee_id,
        contact_id=row.contact_id,
        call_id=row.call_id,
        type=row.type,
        fields=dict(row.fields or {}),
        due_at=row.due_at,
        rule=row.rule,
        closes_on_contact=row.closes_on_contact,
        closed_at=row.closed_at,
        closed_by_call_id=row.closed_by_call_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _comment(row: CommentRow) -> Comment:
    return _copied(Comment, row)


def _attachment(row: CallAttachmentRow) -> CallAttachment:
    return _copied(CallAttachment, row)


def _notification(row: NotificationRow) -> Notification:
    return _copied(Notification, row)


def _recording(row: RecordingRow) -> Recording:
    return _copied(Recording, row)
