"""Calls in the store: a call session's record written and merged by its workflow, opened early
by the telephony API, listed and counted by filters (with who may hear them, `policies.access`
as SQL); and the skipped calls, the sessions kept with the reason they are not calls."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from sqlalchemy import ColumnElement, Select, and_, delete, exists, func, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from contracts.messages import CallRecord
from crm.records import (
    CALL_KINDS,
    DIRECTIONS,
    SKIP_REASONS,
    Employee,
    SkippedCall,
    SkippedCallRecord,
    StoredCall,
)
from crm.store.engine import StoreCore, write_changes
from crm.store.mapping import CALL_FIELDS, skipped_call_of, stored_call_of
from crm.store.validation import require_aware
from crm.tables import (
    CallAttachmentRow,
    CallRow,
    ContactResponsibleRow,
    EmployeeRow,
    SkippedCallRow,
    TaskRow,
    utcnow,
)

# A select of call rows, with or without more columns beside them.
_Query = TypeVar("_Query", bound=Select)  # type: ignore[type-arg]

_CALL_DATETIMES: Final = ("started_at", "answered_at", "ended_at")


@dataclass(frozen=True)
class CallFilter:
    """Which calls a list, a page or a count is of; None (the default) does not narrow.

    `phone` is the contact's E.164 number; the window is `since <= time < until` (aware
    datetimes, by when the call happened); `heard_by`: only the calls that employee may hear
    (`policies.access`).
    """

    kind: str | None = None
    # "in" or "out" (DIRECTIONS)
    direction: str | None = None
    channel_id: int | None = None
    phone: str | None = None
    employee_id: int | None = None
    contact_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    heard_by: Employee | None = None


# Every call: the filter that narrows nothing.
ALL_CALLS: Final = CallFilter()


@dataclass(frozen=True)
class SkippedCallFilter:
    """Which skipped calls a list or a count is of; the fields mean what `CallFilter`'s do, and
    `reason` is one of SKIP_REASONS."""

    channel_id: int | None = None
    reason: str | None = None
    phone: str | None = None
    since: datetime | None = None
    until: datetime | None = None


# Every skipped call: the filter that narrows nothing.
ALL_SKIPPED_CALLS: Final = SkippedCallFilter()


class CallStore(StoreCore):
    """Calls: one row per call session of a channel, however often and in whatever order its
    workflow saves it."""

    def save_call(self, record: CallRecord) -> tuple[StoredCall, bool]:
        """Write a call session's record, creating or merging it; True when created.

        Saving the same record again changes nothing (not even updated_at). When merging, new
        values that are given (not None, not empty) replace stored ones; `kind` and `legs`
        always take the new value; `incomplete` stays False once any save said False.
        Raises ValueError for a naive datetime, an unknown kind or an unknown referenced id.
        """
        _check_call(record)

        def write(session: Session) -> tuple[StoredCall, bool]:
            row = session.scalar(
                _call_by_session(record.channel_id, record.session_id).with_for_update()
            )
            if row is None:
                row = _add_call(session, record)
                # recorded after all (a later event made it a call): no longer a skipped one
                session.execute(
                    delete(SkippedCallRow).where(
                        SkippedCallRow.channel_id == record.channel_id,
                        SkippedCallRow.session_id == record.session_id,
                    )
                )
                session.flush()
                return stored_call_of(row), True
            if write_changes(row, _call_changes(row, record)):
                row.occurred_at = _occurred_at(row)
                row.updated_at = utcnow()
                session.flush()
            return stored_call_of(row), False

        # A racing writer inserted this session first: the second attempt merges into its row.
        return self._write_racing(write, lost=_unknown_reference(record))

    def attach_recording_link(
        self, channel_id: int, session_id: str, *, url: str, duration: int | None
    ) -> StoredCall | None:
        """Put the recording's URL (and duration, when known) on a call; None if no such call."""
        with self._writes.begin() as session:
            row = session.scalar(_call_by_session(channel_id, session_id).with_for_update())
            if row is None:
                return None
            new_duration = row.recording_duration if duration is None else duration
            if write_changes(row, {"recording_url": url, "recording_duration": new_duration}):
                row.updated_at = utcnow()
                session.flush()
            return stored_call_of(row)

    def get_call(self, call_id: int) -> StoredCall | None:
        return self._get(CallRow, call_id, stored_call_of)

    def get_call_by_session(self, channel_id: int, session_id: str) -> StoredCall | None:
        return self._first(_call_by_session(channel_id, session_id), stored_call_of)

    def list_calls(
        self, where: CallFilter = ALL_CALLS, *, limit: int = 100, offset: int = 0
    ) -> list[StoredCall]:
        """The calls `where` picks, newest first by when they happened (started, else ended,
        else recorded)."""
        conditions = _call_conditions(where)
        with self._reads() as session:
            return [
                stored_call_of(row)
                for row in session.scalars(
                    _newest_first(select(CallRow), conditions, limit, offset)
                )
            ]

    def page_calls(
        self, where: CallFilter = ALL_CALLS, *, limit: int = 100, offset: int = 0
    ) -> tuple[list[StoredCall], int]:
        """A page of `list_calls` and the total, read in one statement so they agree even while
        workflows write calls."""
        conditions = _call_conditions(where)
        query = _newest_first(select(CallRow, func.count().over()), conditions, limit, offset)
        with self._reads() as session:
            rows = session.execute(query).all()
            if rows:
                return [stored_call_of(row) for row, _ in rows], int(rows[0][1])
            # An empty page (past the end, or nothing at all) carries no total of its own.
            return [], _count_calls(session, conditions)

    def count_calls(self, where: CallFilter = ALL_CALLS) -> int:
        """How many calls `list_calls` would find with the same filter and no limit."""
        with self._reads() as session:
            return _count_calls(session, _call_conditions(where))

    def open_call(self, record: CallRecord) -> tuple[StoredCall, bool]:
        """A call row for a session that has not ended yet; True when created.

        An existing row is returned untouched, so opening never undoes what a finished call
        wrote. Raises ValueError like `save_call`.
        """
        _check_call(record)

        def write(session: Session) -> tuple[StoredCall, bool]:
            row = session.scalar(_call_by_session(record.channel_id, record.session_id))
            if row is not None:
                return stored_call_of(row), False
            row = _add_call(session, record)
            session.flush()
            return stored_call_of(row), True

        # A racing writer inserted it first: the second attempt finds its row.
        return self._write_racing(write, lost=_unknown_reference(record))

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
            given: dict[str, Any] = {
                "status": status,
                "employee_id": employee_id,
                "employee_pbx_id": employee_pbx_id,
            }
            if write_changes(row, {k: v for k, v in given.items() if v is not None}):
                row.updated_at = utcnow()
                session.flush()
            return stored_call_of(row)

    def call_counts(self) -> list[tuple[int, str, str, int]]:
        """(channel id, provider, kind, how many) of the calls kept, per channel and kind."""
        query = (
            select(CallRow.channel_id, CallRow.provider, CallRow.kind, func.count())
            .group_by(CallRow.channel_id, CallRow.provider, CallRow.kind)
            .order_by(CallRow.channel_id, CallRow.kind, CallRow.provider)
        )
        with self._reads() as session:
            return [(c, p, k, n) for c, p, k, n in session.execute(query)]

    def incomplete_call_counts(self) -> list[tuple[int, str, int]]:
        """(channel id, provider, how many) of the calls kept incomplete, per channel."""
        query = (
            select(CallRow.channel_id, CallRow.provider, func.count())
            .where(CallRow.incomplete.is_(True))
            .group_by(CallRow.channel_id, CallRow.provider)
            .order_by(CallRow.channel_id, CallRow.provider)
        )
        with self._reads() as session:
            return [(c, p, n) for c, p, n in session.execute(query)]


class SkippedCallStore(StoreCore):
    """Skipped calls: sessions that are not recorded as calls, each kept once with its reason."""

    def save_skipped_call(self, record: SkippedCallRecord) -> tuple[SkippedCall, bool]:
        """Keep a call session that is not recorded, with its reason; True when new. Saving the
        same session again updates it (a later run may know more), so each is counted once.
        Raises ValueError for an unknown reason, a naive datetime or an unknown channel."""
        if record.reason not in SKIP_REASONS:
            raise ValueError(f"reason {record.reason!r} is not one of {sorted(SKIP_REASONS)}")
        for name in ("started_at", "ended_at"):
            require_aware(name, getattr(record, name))
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
            elif write_changes(row, values):
                row.updated_at = now
            row.occurred_at = row.started_at or row.ended_at or row.created_at
            session.flush()
            return skipped_call_of(row), created

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
        return self._first(query, skipped_call_of)

    def list_skipped_calls(
        self, where: SkippedCallFilter = ALL_SKIPPED_CALLS, *, limit: int = 100, offset: int = 0
    ) -> list[SkippedCall]:
        """The skipped calls `where` picks, newest first."""
        query = (
            select(SkippedCallRow)
            .where(*_skipped_conditions(where))
            .order_by(SkippedCallRow.occurred_at.desc(), SkippedCallRow.id.desc())
            .limit(limit)
            .offset(offset)
        )
        with self._reads() as session:
            return [skipped_call_of(row) for row in session.scalars(query)]

    def count_skipped_calls(self, where: SkippedCallFilter = ALL_SKIPPED_CALLS) -> int:
        """How many skipped calls `list_skipped_calls` would find with the same filter."""
        query = select(func.count()).select_from(SkippedCallRow).where(*_skipped_conditions(where))
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


def _call_by_session(channel_id: int, session_id: str) -> Select[CallRow]:
    return select(CallRow).where(CallRow.channel_id == channel_id, CallRow.session_id == session_id)


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


def _call_conditions(where: CallFilter) -> list[ColumnElement[bool]]:
    equal_to = [
        (CallRow.kind, where.kind),
        (CallRow.direction, where.direction),
        (CallRow.channel_id, where.channel_id),
        (CallRow.contact_phone, where.phone),
        (CallRow.employee_id, where.employee_id),
        (CallRow.contact_id, where.contact_id),
    ]
    conditions = _filters(CallRow.occurred_at, equal_to, where.since, where.until)
    if where.heard_by is not None:
        conditions.append(_heard_by(where.heard_by))
    return conditions


def _filters(
    occurred_at: Any,
    equal_to: list[tuple[Any, Any]],
    since: datetime | None,
    until: datetime | None,
) -> list[ColumnElement[bool]]:
    """Equality on the values given, and `since <= occurred_at < until`."""
    require_aware("since", since)
    require_aware("until", until)
    conditions: list[ColumnElement[bool]] = [
        column == value for column, value in equal_to if value is not None
    ]
    if since is not None:
        conditions.append(occurred_at >= since)
    if until is not None:
        conditions.append(occurred_at < until)
    return conditions


def _count_calls(session: Session, conditions: list[ColumnElement[bool]]) -> int:
    return session.scalar(select(func.count()).select_from(CallRow).where(*conditions)) or 0


def _heard_by(employee: Employee) -> ColumnElement[bool]:
    """The calls `employee` may hear: `policies.access.hearing_verdict` as one SQL condition, so
    that a list is filtered and counted in the database (tests hold the two to the same answers).
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


def _check_call(record: CallRecord) -> None:
    if record.kind not in CALL_KINDS:
        raise ValueError(f"kind {record.kind!r} is not one of {sorted(CALL_KINDS)}")
    if record.direction is not None and record.direction not in DIRECTIONS:
        raise ValueError(f"direction {record.direction!r} is not one of {sorted(DIRECTIONS)}")
    for name in _CALL_DATETIMES:
        require_aware(name, getattr(record, name))


def _add_call(session: Session, record: CallRecord) -> CallRow:
    """A new row for `record`, added to the session."""
    now = utcnow()
    values = {name: _call_value(record, name) for name in CALL_FIELDS}
    row = CallRow(**values, created_at=now, updated_at=now)
    row.occurred_at = _occurred_at(row)
    session.add(row)
    return row


def _unknown_reference(record: CallRecord) -> Callable[[IntegrityError], ValueError]:
    """The error for a call whose insert fails twice: no race, an id that names nothing."""
    return lambda error: ValueError(
        f"call {record.session_id!r} refers to an unknown channel, contact or employee"
        f" ({error.orig})"
    )


def _call_value(record: CallRecord, name: str) -> Any:
    """A record's field as the row keeps it: datetimes in UTC, collections copied."""
    value = getattr(record, name)
    if name == "legs":
        return [leg.as_json() for leg in record.legs]
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
    for name in CALL_FIELDS:
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


def _skipped_conditions(where: SkippedCallFilter) -> list[ColumnElement[bool]]:
    equal_to = [
        (SkippedCallRow.channel_id, where.channel_id),
        (SkippedCallRow.reason, where.reason),
        (SkippedCallRow.contact_phone, where.phone),
    ]
    return _filters(SkippedCallRow.occurred_at, equal_to, where.since, where.until)
