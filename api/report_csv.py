"""The reports as CSV rows: the JSON report's columns, one row per call, and a marked totals row
for each group, day and call type and for the whole report (the `level` column says which), so a
spreadsheet can filter the calls or the totals. Written page by page of groups, so a long
report streams in bounded memory (`api.csv_export` writes the text)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Final, Literal

from api.report_views import (
    TYPE_NAMES,
    CallLine,
    CallsReportOut,
    Figures,
    MissedLine,
    MissedReportOut,
)

CALL_TOTAL: Final = "call"
FIGURE_COLUMNS: Final = (
    "incoming",
    "outgoing",
    "missed",
    "not_reached",
    "average_wait_seconds",
    "average_talk_seconds",
    "answered_within_20s",
)


def calls_header(by: Literal["employee", "contact"]) -> list[str]:
    people = ["employee", "contact"] if by == "employee" else ["contact", "employee"]
    return [
        "level",
        "date",
        "time",
        *people,
        "call_type",
        "calls",
        "minutes",
        "recording",
        *FIGURE_COLUMNS,
    ]


def calls_rows(
    by: Literal["employee", "contact"],
    read_page: Callable[[int], CallsReportOut],
    base_url: str,
) -> Iterator[list[object]]:
    """Every group's rows, page after page from `read_page(offset)`, then the report's total."""
    page = read_page(0)
    totals = page.totals
    while True:
        for group in page.groups:
            name = group.name or group.phone or f"(no {by})"
            yield _total(f"total: {by}", by, name, None, None, group)
            for day in group.days:
                yield _total(
                    "total: day", by, name, day.date.isoformat(), None, None, day.calls, day.minutes
                )
                for kind in day.types:
                    yield _total(
                        "total: call type",
                        by,
                        name,
                        day.date.isoformat(),
                        TYPE_NAMES.get(kind.call_type, kind.call_type),
                        None,
                        kind.calls,
                        kind.minutes,
                    )
                    for line in kind.rows:
                        yield _call(by, line, base_url)
        if not page.calls_complete:
            yield [
                "note",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "not every call of these groups is listed: ask with a smaller limit",
            ]
        offset = page.offset + page.limit
        if offset >= page.total_groups:
            break
        page = read_page(offset)
    yield _total("total: report", by, None, None, None, totals)


def _total(
    level: str,
    by: str,
    name: str | None,
    day: str | None,
    call_type: str | None,
    figures: Figures | None,
    calls: int | None = None,
    minutes: float | None = None,
) -> list[object]:
    people = [name, None]
    counted = [figures.calls, figures.minutes] if figures is not None else [calls, minutes]
    more = [getattr(figures, column) for column in FIGURE_COLUMNS] if figures else []
    return [level, day, None, *people, call_type, *counted, None, *more]


def _call(by: str, line: CallLine, base_url: str) -> list[object]:
    people = [line.employee, line.contact] if by == "employee" else [line.contact, line.employee]
    recording = base_url.rstrip("/") + line.recording if line.recording else None
    return [
        CALL_TOTAL,
        line.date.isoformat(),
        line.time,
        *people,
        TYPE_NAMES.get(line.call_type, line.call_type),
        1,
        line.minutes,
        recording,
    ]


MISSED_HEADER: Final = [
    "level",
    "date_time",
    "contact",
    "contact_phone",
    "line",
    "call_type",
    "calls",
    "called_back",
    "open",
    "called_back_at",
    "called_back_after_minutes",
]


def missed_rows(read_page: Callable[[int], MissedReportOut]) -> Iterator[list[object]]:
    """Each day's total, then its missed calls; then the report's total. The days' totals come
    from the first read; their calls page after page."""
    page = read_page(0)
    totals = page.totals
    days = {day.date: day for day in page.days}
    listed = 0
    pending: list[MissedLine] = [line for day in page.days for line in day.rows]
    shown: set[object] = set()
    while True:
        for line in pending:
            if line.date not in shown:
                shown.add(line.date)
                day = days[line.date]
                yield [
                    "total: day",
                    day.date.isoformat(),
                    None,
                    None,
                    None,
                    None,
                    day.missed,
                    day.called_back,
                    day.open,
                ]
            yield _missed(line)
        listed += len(pending)
        if not pending or listed >= page.totals.missed:
            break
        page = read_page(listed)
        pending = [line for day in page.days for line in day.rows]
    yield [
        "total: report",
        None,
        None,
        None,
        None,
        None,
        totals.missed,
        totals.called_back,
        totals.open,
    ]


def _missed(line: MissedLine) -> list[object]:
    after = (
        round(line.called_back_after_seconds / 60, 2) if line.called_back_after_seconds else None
    )
    return [
        CALL_TOTAL,
        line.date_time,
        line.contact,
        line.contact_phone,
        line.line,
        TYPE_NAMES.get(line.call_type, line.call_type),
        1,
        1 if line.called_back_at else 0,
        0 if line.called_back_at else 1,
        line.called_back_at.isoformat() if line.called_back_at else None,
        after,
    ]
