"""The store: channels, employees, contacts and calls behind one thread-safe `Store` object.

Synchronous SQLAlchemy on SQLite (the default, one file shared by the API and worker processes) or
PostgreSQL; callers on an event loop run its methods in threads.
"""

from __future__ import annotations

import copy
import secrets
import threading
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from alembic import command
from alembic.config import Config
from sqlalchemy import ColumnElement, Engine, Select, create_engine, event, func, select, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from crm.phones import require_e164
from crm.records import (
    CALL_KINDS,
    DIRECTIONS,
    CallRecord,
    Channel,
    Contact,
    ContactPhone,
    Employee,
    EmployeeLink,
    StoredCall,
)
from crm.tables import (
    CallRow,
    ChannelRow,
    ContactPhoneRow,
    ContactResponsibleRow,
    ContactRow,
    EmployeeChannelLinkRow,
    EmployeePhoneRow,
    EmployeeRow,
    utcnow,
)

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


def _sqlite_engine(url: URL) -> Engine:
    database = url.database
    if not database or database == ":memory:" or url.query.get("mode") == "memory":
        # Every pooled connection would see its own empty database.
        raise ValueError("in-memory SQLite is not supported; use a file: sqlite:///path/to/db")
    if not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _configure_connection(dbapi_connection: Any, _record: Any) -> None:
        # The driver must not start transactions on its own; `_begin` does (SQLAlchemy's recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        # WAL: readers never block the writer nor each other, across processes too.
        cursor.execute("PRAGMA journal_mode = WAL")
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

    # -- employees --------------------------------------------------------------------------

    def create_employee(
        self, *, name: str, phones: Sequence[str] = (), links: Sequence[EmployeeLink] = ()
    ) -> Employee:
        """Add an employee with their own phones (E.164) and their identity in each channel.

        Raises ConflictError when an extension or PBX user id already belongs to someone in
        that channel, ValueError for an unknown channel or a channel given twice.
        """
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
        self, *, phone: str, phone_raw: str | None = None, name: str | None = None
    ) -> tuple[Contact, bool]:
        """The contact with this E.164 phone, created if there is none; True when created.

        A contact found is returned unchanged (its name is not overwritten).
        """
        require_e164(phone)
        found = self.find_contact_by_phone(phone)
        if found is not None:
            return found, False
        try:
            return self._create_contact(phone=phone, phone_raw=phone_raw, name=name)
        except IntegrityError:
            # Another thread or process created it between our read and our insert.
            found = self.find_contact_by_phone(phone)
            if found is None:
                raise
            return found, False

    def _create_contact(
        self, *, phone: str, phone_raw: str | None, name: str | None
    ) -> tuple[Contact, bool]:
        with self._writes.begin() as session:
            # Read again under the write lock: on SQLite a racing writer has committed by now.
            row = session.scalar(_contact_by_phone(phone))
            if row is not None:
                return _contact(row), False
            now = utcnow()
            row = ContactRow(
                name=name,
                created_at=now,
                updated_at=now,
                phones=[ContactPhoneRow(phone=phone, raw=phone_raw)],
                responsibles=[],
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
        limit: int = 100,
        offset: int = 0,
    ) -> list[StoredCall]:
        """Calls newest first by when they happened (started, else ended, else recorded).

        `phone` is the contact's E.164 number; the window is `since <= time < until`.
        """
        conditions = _call_conditions(
            kind=kind,
            channel_id=channel_id,
            phone=phone,
            employee_id=employee_id,
            contact_id=contact_id,
            since=since,
            until=until,
        )
        query = (
            select(CallRow)
            .where(*conditions)
            .order_by(CallRow.occurred_at.desc(), CallRow.id.desc())
            .limit(limit)
            .offset(offset)
        )
        with self._reads() as session:
            return [_stored_call(row) for row in session.scalars(query)]

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
        )
        with self._reads() as session:
            return session.scalar(select(func.count()).select_from(CallRow).where(*conditions)) or 0


# -- migrations -----------------------------------------------------------------------------


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


def _contact_by_phone(phone: str) -> Select[ContactRow]:
    return select(ContactRow).join(ContactRow.phones).where(ContactPhoneRow.phone == phone)


def _call_by_session(channel_id: int, session_id: str) -> Select[CallRow]:
    return select(CallRow).where(CallRow.channel_id == channel_id, CallRow.session_id == session_id)


def _call_conditions(
    *,
    kind: str | None,
    channel_id: int | None,
    phone: str | None,
    employee_id: int | None,
    contact_id: int | None,
    since: datetime | None,
    until: datetime | None,
) -> list[ColumnElement[bool]]:
    _require_aware("since", since)
    _require_aware("until", until)
    equal_to: list[tuple[Any, Any]] = [
        (CallRow.kind, kind),
        (CallRow.channel_id, channel_id),
        (CallRow.contact_phone, phone),
        (CallRow.employee_id, employee_id),
        (CallRow.contact_id, contact_id),
    ]
    conditions: list[ColumnElement[bool]] = [
        column == value for column, value in equal_to if value is not None
    ]
    if since is not None:
        conditions.append(CallRow.occurred_at >= since)
    if until is not None:
        conditions.append(CallRow.occurred_at < until)
    return conditions


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
    )


def _contact(row: ContactRow) -> Contact:
    return Contact(
        id=row.id,
        name=row.name,
        phones=[ContactPhone(phone=phone.phone, raw=phone.raw) for phone in row.phones],
        responsible_employee_ids=[responsible.employee_id for responsible in row.responsibles],
        created_at=row.created_at,
    )


def _stored_call(row: CallRow) -> StoredCall:
    values = {name: copy.deepcopy(getattr(row, name)) for name in _CALL_FIELDS}
    return StoredCall(id=row.id, **values, created_at=row.created_at, updated_at=row.updated_at)
