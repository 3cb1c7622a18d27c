"""The weekly calls report's groups and counts (PLANFIX.md §3.12-3.13), read from one pass over
the period's calls: the calls summed per group key, day and call type once, and the page of
groups, their counts and the whole report's totals all read from those sums in one statement
(read apart, each passed over the week's calls again: bench/reports.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Final, Literal

from sqlalchemy import (
    Integer,
    String,
    and_,
    case,
    cast,
    exists,
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
    session: Session, per_type: Any, by: GroupBy, limit: int, offset: int
) -> tuple[list[Group], int, list[Counts], list[Counts]]:
    """The page of groups and how many there are, the page's counts, and the report's totals,
    in one statement: each read apart would pass over the period's calls again."""
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
