"""The call reports counted in the database: weekly calls by employee or by contact, and missed
calls with their call-backs (PLANFIX.md §3.12-3.14). A mixin of `Store`.

Everything summed is summed by SQL that reads the same on SQLite and PostgreSQL: the local day
of a call is a CASE over the UTC instants of local midnights (`crm.report_periods`), its type a
CASE over kind and direction. Python only adds up the few group rows a report shows (groups ×
days × call types) and reads the bounded page of calls listed under them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    and_,
    case,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased, sessionmaker
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from crm.records import Employee
from crm.report_groups import Counts, Group, GroupBy, among, group_counts
from crm.report_periods import DayBounds
from crm.tables import CallRow, ContactResponsibleRow, ContactRow, EmployeeRow, RecordingRow

# How a call counts in a report, from its kind and direction.
INCOMING: Final = "incoming"  # an inbound call answered
OUTGOING: Final = "outgoing"  # an outbound call answered
MISSED: Final = "missed"  # an inbound call lost
NOT_REACHED: Final = "not_reached"  # an outbound call nobody answered
OTHER: Final = "other"  # a call the PBX gave no direction
CALL_TYPES: Final = (INCOMING, OUTGOING, MISSED, NOT_REACHED, OTHER)


@dataclass(frozen=True)
class ZoneDays:
    """The days of a report in one time zone, for the calls of `channel_ids` (None: all)."""

    bounds: DayBounds
    channel_ids: tuple[int, ...] | None = None


@dataclass(frozen=True)
class ReportScope:
    """Which calls a report counts: those in its days, by the zones their channels keep, and,
    for an employee, only their own calls and those of the contacts they are responsible for."""

    zones: tuple[ZoneDays, ...]
    employee: Employee | None = None


@dataclass(frozen=True)
class ReportCall:
    """One call as a report lists it."""

    id: int
    channel_id: int
    key: int | None
    day: date
    call_type: str
    occurred_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    total_seconds: int | None
    talk_seconds: int
    wait_seconds: int | None
    employee_id: int | None
    employee_name: str | None
    employee_extension: str | None
    contact_id: int | None
    contact_name: str | None
    contact_phone: str | None
    contact_phone_raw: str | None
    virtual_number: str | None
    line_name: str | None
    has_recording: bool
    # whether the reader may hear it (crm.access); a recording is offered only then
    heard: bool


@dataclass(frozen=True)
class CallsReport:
    """A page of groups, their counts by day and call type, and the calls listed under them."""

    groups: list[Group]
    total_groups: int
    counts: list[Counts]
    # the whole report's counts by day and call type, over every group
    totals: list[Counts]
    calls: list[ReportCall]
    # False when the page held more calls than listed (ask for fewer groups per page)
    calls_complete: bool


@dataclass(frozen=True)
class MissedDay:
    day: date
    missed: int
    called_back: int


@dataclass(frozen=True)
class MissedCall(ReportCall):
    """A missed call and the first answered call with the same contact after it, if any."""

    called_back_at: datetime | None = None


class seconds_between(FunctionElement[int]):  # noqa: N801 (an SQL function, named as one)
    """Whole seconds from the first time to the second, in each backend's own arithmetic."""

    type = Integer()
    inherit_cache = True


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"CAST(ROUND((julianday({end}) - julianday({start})) * 86400) AS INTEGER)"


@compiles(seconds_between, "postgresql")
def _seconds_postgresql(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"CAST(ROUND(EXTRACT(EPOCH FROM ({end} - {start}))) AS INTEGER)"


def call_type() -> ColumnElement[str]:
    answered = CallRow.kind == "call"
    return case(
        (and_(answered, CallRow.direction == "in"), INCOMING),
        (and_(answered, CallRow.direction == "out"), OUTGOING),
        (and_(~answered, CallRow.direction == "in"), MISSED),
        (and_(~answered, CallRow.direction == "out"), NOT_REACHED),
        else_=OTHER,
    )


def talk_seconds() -> ColumnElement[int]:
    """The talk of an answered call (the PBX's count, else answer to end); 0 for a missed one."""
    measured = seconds_between(CallRow.answered_at, CallRow.ended_at)
    talk = func.coalesce(CallRow.talk_seconds, measured, 0)
    return case((CallRow.kind == "call", talk), else_=0)


def wait_seconds() -> ColumnElement[int]:
    """How long an inbound call rang before it was answered; NULL for any other."""
    measured = seconds_between(CallRow.started_at, CallRow.answered_at)
    wait = func.coalesce(CallRow.wait_seconds, measured)
    return case((and_(CallRow.kind == "call", CallRow.direction == "in"), wait), else_=None)


def local_day(zones: Sequence[ZoneDays]) -> ColumnElement[Any]:
    """The call's local day (ISO text) by its zone's midnights."""

    def in_zone(bounds: DayBounds) -> ColumnElement[Any]:
        # each day but the last ends where the next begins
        ends = zip(bounds.starts[1:], bounds.days[:-1], strict=True)
        whens = [(CallRow.occurred_at < end, day.isoformat()) for end, day in ends]
        last = bounds.days[-1].isoformat()
        return case(*whens, else_=last) if whens else literal(last)

    if len(zones) == 1:
        return in_zone(zones[0].bounds)
    return case(*((_channels(zone), in_zone(zone.bounds)) for zone in zones))


def _channels(zone: ZoneDays) -> ColumnElement[bool]:
    return true() if zone.channel_ids is None else CallRow.channel_id.in_(zone.channel_ids)


def scope_conditions(scope: ReportScope) -> list[ColumnElement[bool]]:
    within = [
        and_(
            _channels(zone),
            CallRow.occurred_at >= zone.bounds.start,
            CallRow.occurred_at < zone.bounds.end,
        )
        for zone in scope.zones
    ]
    conditions = [CallRow.kind.in_(("call", "missed")), or_(*within) if within else false()]
    if scope.employee is not None:
        conditions.append(
            or_(
                CallRow.employee_id == scope.employee.id,
                exists().where(
                    ContactResponsibleRow.contact_id == CallRow.contact_id,
                    ContactResponsibleRow.employee_id == scope.employee.id,
                ),
            )
        )
    return conditions


def _spanned(scope: ReportScope) -> list[ColumnElement[bool]]:
    """Missed calls in the span of every zone's days: implied by `scope_conditions`, but outside
    their OR, so an index on (kind, time) is ranged by it; without it PostgreSQL reads a listed
    page of missed calls by walking the year's missed calls in time order up to the period."""
    if len(scope.zones) < 2:
        return [CallRow.kind == "missed"]
    return [
        CallRow.kind == "missed",
        CallRow.occurred_at >= min(zone.bounds.start for zone in scope.zones),
        CallRow.occurred_at < max(zone.bounds.end for zone in scope.zones),
    ]


def _key(by: GroupBy) -> Any:
    return CallRow.employee_id if by == "employee" else CallRow.contact_id


def _facts(scope: ReportScope, by: GroupBy) -> Any:
    """One row per call in scope: its group key, local day, type, talk and wait."""
    return (
        select(
            _key(by).label("key"),
            local_day(scope.zones).label("day"),
            call_type().label("call_type"),
            talk_seconds().label("talk"),
            wait_seconds().label("wait"),
            CallRow.contact_phone.label("phone"),
        )
        .where(*scope_conditions(scope))
        .subquery("facts")
    )


class ReportQueries:
    """The reports, read in one transaction each (`Store` gives the sessions)."""

    _reads: sessionmaker[Session]

    def calls_report(
        self, scope: ReportScope, *, by: GroupBy, limit: int, offset: int, max_calls: int
    ) -> CallsReport:
        """Groups `offset`.. `offset + limit` (by name, calls without one last), their counts by
        day and type, the whole report's counts, and at most `max_calls` of their calls."""
        facts = _facts(scope, by)
        with self._reads() as session:
            groups, total, counts, totals = group_counts(session, facts, by, limit, offset)
            keys = [group.key for group in groups]
            calls = _listed_calls(session, scope, by, keys, max_calls + 1) if keys else []
        return CallsReport(
            groups=groups,
            total_groups=total,
            counts=counts,
            totals=totals,
            calls=calls[:max_calls],
            calls_complete=len(calls) <= max_calls,
        )

    def missed_report(
        self, scope: ReportScope, *, limit: int, offset: int
    ) -> tuple[list[MissedDay], list[MissedCall]]:
        """Missed calls by day (how many, how many called back) and a page of them, oldest
        first."""
        callback = _called_back_at()
        missed = _spanned(scope)
        facts = (
            select(local_day(scope.zones).label("day"), callback.label("called_back_at"))
            .where(*scope_conditions(scope), *missed)
            .subquery("missed")
        )
        by_day = (
            select(
                facts.c.day,
                func.count().label("missed"),
                func.sum(case((facts.c.called_back_at.is_not(None), 1), else_=0)).label("back"),
            )
            .group_by(facts.c.day)
            .order_by(facts.c.day)
        )
        with self._reads() as session:
            days = [
                MissedDay(date.fromisoformat(row.day), int(row.missed), int(row.back or 0))
                for row in session.execute(by_day)
            ]
            # the page's calls picked first, so only they are joined and looked up
            page = (
                select(CallRow.id)
                .where(*scope_conditions(scope), *missed)
                .order_by(CallRow.occurred_at, CallRow.id)
                .limit(limit)
                .offset(offset)
            )
            query = (
                _call_columns(scope, "employee", callback.label("called_back_at"))
                .where(CallRow.id.in_(page.scalar_subquery()))
                .order_by(CallRow.occurred_at, CallRow.id)
            )
            rows = [
                MissedCall(**_call_fields(row), called_back_at=row.called_back_at)
                for row in session.execute(query)
            ]
        return days, rows

    def call_backs(self, call_ids: Sequence[int]) -> dict[int, datetime]:
        """When each of these missed calls was called back, as the missed-calls report reads it
        (the first later answered call with its contact, either way); others are left out."""
        if not call_ids:
            return {}
        callback = _called_back_at().label("called_back_at")
        query = select(CallRow.id, callback).where(
            CallRow.id.in_(call_ids), CallRow.kind == "missed"
        )
        with self._reads() as session:
            rows = session.execute(query).all()
        return {row.id: row.called_back_at for row in rows if row.called_back_at is not None}


def _listed_calls(
    session: Session, scope: ReportScope, by: GroupBy, keys: Sequence[int | None], limit: int
) -> list[ReportCall]:
    query = (
        _call_columns(scope, by)
        .where(among(_key(by), keys))
        .order_by(_key(by), CallRow.occurred_at, CallRow.id)
        .limit(limit)
    )
    # plain rows read by position: for a week's ~2 000 listed calls the ORM's row handling and
    # lookups by name cost more than the query itself (bench/reports.py)
    days: dict[str, date] = {}
    return [_listed_call(row, days) for row in session.connection().execute(query)]


def _listed_call(row: Sequence[Any], days: dict[str, date]) -> ReportCall:
    """A row of `_call_columns` as a ReportCall; `days` keeps each day's text read once."""
    (call_id, channel_id, key, day, kind, occurred, started, ended, total, talk, wait) = row[:11]
    (employee_id, employee_name, extension, contact_id, contact_name) = row[11:16]
    (phone, phone_raw, number, line, recorded, heard) = row[16:22]
    read_day = days.get(day)
    if read_day is None:
        read_day = days[day] = date.fromisoformat(day)
    return ReportCall(
        id=call_id,
        channel_id=channel_id,
        key=key,
        day=read_day,
        call_type=kind,
        occurred_at=occurred,
        started_at=started,
        ended_at=ended,
        total_seconds=total,
        talk_seconds=int(talk or 0),
        wait_seconds=wait,
        employee_id=employee_id,
        employee_name=employee_name,
        employee_extension=extension,
        contact_id=contact_id,
        contact_name=contact_name,
        contact_phone=phone,
        contact_phone_raw=phone_raw,
        virtual_number=number,
        line_name=line,
        has_recording=bool(recorded),
        heard=bool(heard),
    )


def _call_columns(scope: ReportScope, by: GroupBy, *more: Any) -> Select[Any]:
    """A listed call's columns, in the order `_listed_call` reads them."""
    contact = aliased(ContactRow)
    employee = aliased(EmployeeRow)
    kept = exists().where(RecordingRow.call_id == CallRow.id)
    recorded = or_(kept, CallRow.recording_url.is_not(None))
    return (
        select(
            CallRow.id,
            CallRow.channel_id,
            _key(by).label("key"),
            local_day(scope.zones).label("day"),
            call_type().label("call_type"),
            CallRow.occurred_at,
            CallRow.started_at,
            CallRow.ended_at,
            CallRow.total_seconds,
            talk_seconds().label("talk"),
            wait_seconds().label("wait"),
            CallRow.employee_id,
            employee.name.label("employee_name"),
            CallRow.employee_extension,
            CallRow.contact_id,
            contact.name.label("contact_name"),
            CallRow.contact_phone,
            CallRow.contact_phone_raw,
            CallRow.virtual_number,
            CallRow.line_name,
            case((recorded, 1), else_=0).label("recorded"),
            case((_hears(scope.employee), 1), else_=0).label("heard"),
            *more,
        )
        .outerjoin(contact, contact.id == CallRow.contact_id)
        .outerjoin(employee, employee.id == CallRow.employee_id)
        .where(*scope_conditions(scope))
    )


def _hears(employee: Employee | None) -> ColumnElement[bool]:
    if employee is None:
        return true()
    # imported here: crm.store imports this module (Store is a ReportQueries)
    from crm.store.calls import _heard_by

    return _heard_by(employee)


def _call_fields(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "channel_id": row.channel_id,
        "key": row.key,
        "day": date.fromisoformat(row.day),
        "call_type": row.call_type,
        "occurred_at": row.occurred_at,
        "started_at": row.started_at,
        "ended_at": row.ended_at,
        "total_seconds": row.total_seconds,
        "talk_seconds": int(row.talk or 0),
        "wait_seconds": row.wait,
        "employee_id": row.employee_id,
        "employee_name": row.employee_name,
        "employee_extension": row.employee_extension,
        "contact_id": row.contact_id,
        "contact_name": row.contact_name,
        "contact_phone": row.contact_phone,
        "contact_phone_raw": row.contact_phone_raw,
        "virtual_number": row.virtual_number,
        "line_name": row.line_name,
        "has_recording": bool(row.recorded),
        "heard": bool(row.heard),
    }


def _called_back_at() -> ColumnElement[Any]:
    """The first answered call, either way, with the missed call's contact after it: by the
    contact when the call has one, else by its number."""
    later = aliased(CallRow)

    def first_after(*same: ColumnElement[bool]) -> Any:
        return (
            select(func.min(later.occurred_at))
            .where(*same, later.kind == "call", later.occurred_at > CallRow.occurred_at)
            .scalar_subquery()
        )

    same_contact = later.contact_id == CallRow.contact_id
    same_number = later.contact_phone == CallRow.contact_phone
    return case(
        (CallRow.contact_id.is_not(None), first_after(same_contact)),
        (CallRow.contact_phone.is_not(None), first_after(same_number)),
        else_=None,
    )
