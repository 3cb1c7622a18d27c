"""The missed-calls report on PostgreSQL reads the period's missed calls, not the year's: its
listed page, ordered by time, must not be found by walking every earlier missed call (what it
did for an admin, whose period is one range of days per channel zone), read off the executed
plan (EXPLAIN ANALYZE) of the statements the report runs. And its pages, picked before they are
joined, add up to the whole list in order on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from report_week import seed
from sqlalchemy import event, insert, text

from api.deps import ADMIN
from api.report_scope import PeriodQuery, report_request
from crm import Store
from crm.report_periods import day_bounds, iso_week
from crm.reports import ReportScope, ZoneDays
from crm.tables import CallRow

WEEK = "2026-W13"
# a year of calls up to the end of the week, one missed in five, on two channels in two zones
YEAR_END = datetime(2026, 3, 30, tzinfo=UTC)
CALLS = 30_000


def a_year_of_calls(store: Store, channel_ids: list[int]) -> None:
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for n in range(CALLS):
        started = YEAR_END - timedelta(minutes=17.5 * n)
        answered = n % 5 != 0
        rows.append(
            {
                "channel_id": channel_ids[n % 2],
                "session_id": f"s{n}",
                "provider": "uis",
                "kind": "call" if answered else "missed",
                "direction": "in",
                "contact_phone": f"+7916{n % 1500:07d}",
                "started_at": started,
                "answered_at": started + timedelta(seconds=5) if answered else None,
                "ended_at": started + timedelta(seconds=65),
                "occurred_at": started,
                "talk_seconds": 60 if answered else None,
                "tags": [],
                "extra": {},
                "legs": [],
                "incomplete": False,
                "created_at": now,
                "updated_at": now,
            }
        )
    with store._engine.begin() as connection:
        connection.execute(insert(CallRow), rows)
        connection.execute(text("ANALYZE calls"))


def calls_read(plan: dict[str, Any]) -> Iterator[int]:
    """Rows each scan of the report's own calls (not of a subquery's) read: kept and dropped."""
    if plan.get("Relation Name") == "calls" and plan.get("Alias") == "calls":
        yield plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)
    for inner in plan.get("Plans", []):
        yield from calls_read(inner)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_the_missed_report_reads_only_the_periods_missed_calls(store: Store) -> None:
    moscow = store.create_channel(provider="uis", name="Moscow", timezone="Europe/Moscow")
    berlin = store.create_channel(provider="uis", name="Berlin", timezone="Europe/Berlin")
    a_year_of_calls(store, [moscow.id, berlin.id])
    week = iso_week(WEEK)
    scope = ReportScope(
        zones=(
            ZoneDays(day_bounds(week, "Europe/Moscow"), (moscow.id,)),
            ZoneDays(day_bounds(week, "Europe/Berlin"), (berlin.id,)),
        )
    )
    statements: list[tuple[str, Any]] = []

    def seen(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    event.listen(store._engine, "before_cursor_execute", seen)
    days, page = store.missed_report(scope, limit=20, offset=0)
    event.remove(store._engine, "before_cursor_execute", seen)

    missed_in_week = sum(day.missed for day in days)
    assert 100 < missed_in_week < 130  # 576 calls a week, one in five missed
    assert len(page) == 20
    reads = []
    raw = store._engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement, parameters in statements:
            cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters)
            row = cursor.fetchone()
            assert row is not None
            (plan,) = row[0]
            reads.append(sum(calls_read(plan["Plan"])))
    finally:
        raw.close()
    # at most the week's 576 calls and the hours a zone adds either side, not the year's 30 000
    assert max(reads) <= 700, reads


def test_the_missed_reports_pages_add_up_to_the_whole_list_in_order(store: Store) -> None:
    _, ids = seed(store)
    scope = report_request(ADMIN, store, PeriodQuery(WEEK, None, None, None)).scope

    days, whole = store.missed_report(scope, limit=100, offset=0)
    pages = [store.missed_report(scope, limit=2, offset=offset)[1] for offset in (0, 2, 4)]

    names = {call_id: name for name, call_id in ids.items()}
    assert [names[call.id] for call in whole] == ["b_missed", "m_missed", "m_lost", "m_not_reached"]
    assert [call for page in pages for call in page] == whole
    assert [len(page) for page in pages] == [2, 2, 0]
    assert {call.id: call.called_back_at is not None for call in whole} == {
        ids["b_missed"]: True,
        ids["m_missed"]: True,
        ids["m_lost"]: False,
        ids["m_not_reached"]: False,
    }
    assert [(day.missed, day.called_back) for day in days] == [(1, 1), (1, 1), (2, 0)]
