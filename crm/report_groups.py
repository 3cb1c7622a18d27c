"""The weekly calls report's groups and counts (PLANFIX.md §3.12-3.13): the page of groups and
how many there are, the page's counts by day and call type, and the whole report's totals. By
employee they are read from one pass over the period's calls, summed per employee, day and type
once, in one statement (read apart, each passed over the week's calls again); by contact, where
the sums are as many as the calls, apart (bench/reports.py measured both).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final, Literal

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from crm.tables import ContactRow, EmployeeRow

GroupBy = Literal["employee", "contact"]

# Answered within this many seconds of ringing: the service level a contact centre reports.
QUICK_ANSWER_SECONDS: Final = 20


@dataclass(frozen=True)
class Counts:
    """Calls of one group (a key, a day, a call type; None where not grouped by it)."""

    key: int | None
    day: date | None
    call_type: str | None
    calls: int
    talk_seconds: int
    # inbound answered calls whose wait is known, the sum of those waits, and how many of them
    # were answered within QUICK_ANSWER_SECONDS
    waited_calls: int
    wait_seconds: int
    quick_answers: int


@dataclass(frozen=True)
class Group:
    """One top-level group of a report: an employee or a contact (None: calls without one)."""

    key: int | None
    name: str | None
    phone: str | None


def counts_by_type(facts: Any) -> Any:
    """The sums per group key, day and call type: the one pass over the period's calls that the
    group page, its counts and the report's totals are all read from."""
    waited = facts.c.wait.is_not(None)
    return (
        select(
            facts.c.key,
            facts.c.day,
            facts.c.call_type,
            func.count().label("calls"),
            func.sum(facts.c.talk).label("talk"),
            func.sum(case((waited, 1), else_=0)).label("waited"),
            func.sum(facts.c.wait).label("wait"),
            func.sum(case((facts.c.wait <= QUICK_ANSWER_SECONDS, 1), else_=0)).label("quick"),
            func.min(facts.c.phone).label("phone"),
        )
        .group_by(facts.c.key, facts.c.day, facts.c.call_type)
        .cte("per_type")
    )


def group_counts(
    session: Session, facts: Any, by: GroupBy, limit: int, offset: int
) -> tuple[list[Group], int, list[Counts], list[Counts]]:
    """The page of groups and how many there are, the page's counts, and the report's totals.

    By employee, in one statement over the calls summed per employee, day and type (a few
    thousand sums, where each read apart passed over the week's calls again). By contact
    nearly every call is its own contact's: those sums are as many as the calls, and the reads
    apart are faster (the page's counts by the contact index); measured with bench/reports.py.
    """
    if by == "contact":
        return _read_apart(session, facts, by, limit, offset)
    return _in_one_statement(session, counts_by_type(facts), by, limit, offset)


def _in_one_statement(
    session: Session, per_type: Any, by: GroupBy, limit: int, offset: int
) -> tuple[list[Group], int, list[Counts], list[Counts]]:
    # a contact's number names it where it has no name
    phone = func.min(per_type.c.phone) if by == "contact" else cast(null(), String)
    per_key = select(per_type.c.key, phone.label("phone")).group_by(per_type.c.key).subquery()
    named = EmployeeRow if by == "employee" else ContactRow
    order = (
        per_key.c.key.is_(None),
        func.coalesce(named.name, per_key.c.phone, ""),
        per_key.c.key,
    )
    ranked = (
        select(
            per_key.c.key,
            named.name,
            per_key.c.phone,
            func.count().over().label("total"),
            func.row_number().over(order_by=order).label("place"),
        )
        .outerjoin(named, named.id == per_key.c.key)
        .subquery("ranked")
    )
    page = (
        select(ranked).where(ranked.c.place > offset, ranked.c.place <= offset + limit).cte("page")
    )
    number, words = cast(null(), Integer), cast(null(), String)
    sums = (per_type.c.calls, per_type.c.talk, per_type.c.waited, per_type.c.wait)
    listed = or_(
        per_type.c.key.in_(select(page.c.key).where(page.c.key.is_not(None))),
        and_(per_type.c.key.is_(None), exists().where(page.c.key.is_(None))),
    )
    statement = union_all(
        select(
            literal("group").label("level"),
            page.c.place,
            page.c.key,
            page.c.name,
            page.c.phone,
            page.c.total,
            words.label("day"),
            words.label("call_type"),
            *(number.label(name) for name in ("calls", "talk", "waited", "wait", "quick")),
        ),
        select(
            literal("counts"),
            number,
            per_type.c.key,
            words,
            words,
            number,
            per_type.c.day,
            per_type.c.call_type,
            *sums,
            per_type.c.quick,
        ).where(listed),
        select(
            literal("totals"),
            number,
            number,
            words,
            words,
            number,
            per_type.c.day,
            per_type.c.call_type,
            *(func.sum(column) for column in (*sums, per_type.c.quick)),
        ).group_by(per_type.c.day, per_type.c.call_type),
    )
    ranks: list[tuple[int, Group]] = []
    total = 0
    counts: list[Counts] = []
    totals: list[Counts] = []
    for row in session.connection().execute(statement):
        if row.level == "group":
            ranks.append((int(row.place), Group(row.key, row.name, row.phone)))
            total = int(row.total)
        else:
            (counts if row.level == "counts" else totals).append(_counted(row))
    if not ranks:
        total = session.scalar(select(func.count()).select_from(per_key)) or 0
    groups = [group for _, group in sorted(ranks, key=lambda rank: rank[0])]
    return groups, int(total), counts, totals


def _read_apart(
    session: Session, facts: Any, by: GroupBy, limit: int, offset: int
) -> tuple[list[Group], int, list[Counts], list[Counts]]:
    groups, total = _group_page(session, facts, by, limit, offset)
    keys = [group.key for group in groups]
    counts = _counts(
        session, _summed(facts, facts.c.day, facts.c.call_type).where(among(facts.c.key, keys))
    )
    totals = _counts(session, _summed(facts, facts.c.day, facts.c.call_type, by_key=False))
    return groups, total, counts, totals


def _group_page(
    session: Session, facts: Any, by: GroupBy, limit: int, offset: int
) -> tuple[list[Group], int]:
    # a contact's number names it where it has no name
    phone = func.min(facts.c.phone) if by == "contact" else cast(null(), String)
    per_key = select(facts.c.key, phone.label("phone")).group_by(facts.c.key).subquery("keys")
    named = EmployeeRow if by == "employee" else ContactRow
    query = (
        select(per_key.c.key, named.name, per_key.c.phone, func.count().over().label("total"))
        .outerjoin(named, named.id == per_key.c.key)
        .order_by(
            per_key.c.key.is_(None),
            func.coalesce(named.name, per_key.c.phone, ""),
            per_key.c.key,
        )
        .limit(limit)
        .offset(offset)
    )
    rows = session.connection().execute(query).all()
    if not rows:
        total = session.scalar(select(func.count()).select_from(per_key)) or 0
        return [], int(total)
    return [Group(row.key, row.name, row.phone) for row in rows], int(rows[0].total)


def _summed(facts: Any, *grouped: Any, by_key: bool = True) -> Select[Any]:
    """The sums per `grouped` columns, and per group key unless `by_key` is False."""
    waited = facts.c.wait.is_not(None)
    if by_key:
        grouped = (facts.c.key, *grouped)
    return select(
        *grouped if by_key else (null().label("key"), *grouped),
        func.count().label("calls"),
        func.sum(facts.c.talk).label("talk"),
        func.sum(case((waited, 1), else_=0)).label("waited"),
        func.sum(facts.c.wait).label("wait"),
        func.sum(case((facts.c.wait <= QUICK_ANSWER_SECONDS, 1), else_=0)).label("quick"),
    ).group_by(*grouped)


def _counts(session: Session, query: Select[Any]) -> list[Counts]:
    return [_counted(row) for row in session.connection().execute(query)]


def among(column: Any, keys: Sequence[int | None]) -> ColumnElement[bool]:
    """`column` is one of `keys` (None among them: or is NULL)."""
    given = [key for key in keys if key is not None]
    either = [column.in_(given)] if given else []
    if None in keys:
        either.append(column.is_(None))
    return or_(*either) if either else false()


def _counted(row: Any) -> Counts:
    return Counts(
        key=row.key,
        day=date.fromisoformat(row.day) if row.day is not None else None,
        call_type=row.call_type,
        calls=int(row.calls),
        talk_seconds=int(row.talk or 0),
        waited_calls=int(row.waited or 0),
        wait_seconds=int(row.wait or 0),
        quick_answers=int(row.quick or 0),
    )
