"""The reports as the API shows them: the store's group counts added up level by level (group →
day → call type), the per-group figures a manager reads (answered each way, missed, average wait
and talk, answered within 20 s), and each listed call in the reference's columns (PLANFIX.md
§3.12-3.14): date, time span, employee, contact, call type, minutes, recording.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from api.analytics import line_of
from api.phone_display import MASK_SETTING, display_phone
from api.report_scope import ReportRequest
from crm.report_groups import Counts
from crm.reports import (
    CALL_TYPES,
    INCOMING,
    MISSED,
    NOT_REACHED,
    OUTGOING,
    CallsReport,
    MissedCall,
    MissedDay,
    ReportCall,
)

# The call types in words, for the CSV a person opens.
TYPE_NAMES: Final = {
    INCOMING: "incoming",
    OUTGOING: "outgoing",
    MISSED: "missed incoming",
    NOT_REACHED: "outgoing not reached",
    "other": "no direction",
}


def minutes(seconds: int) -> float:
    """Decimal minutes, as the reference shows a duration (0.81)."""
    return round(seconds / 60, 2)


class PeriodOut(BaseModel):
    first: date
    last: date
    week: str | None
    # the zone every day is counted in; null: each channel's own
    zone: str | None


class Figures(BaseModel):
    """Counts and talk of a group, and how its calls went."""

    calls: int
    minutes: float
    incoming: int
    outgoing: int
    missed: int
    not_reached: int
    # inbound answered calls' mean wait before the answer; answered calls' mean talk
    average_wait_seconds: float | None
    average_talk_seconds: float | None
    # of the inbound calls (answered or lost), the share answered within 20 s (0..1)
    answered_within_20s: float | None


class CallLine(BaseModel):
    """A call in the reference's columns."""

    id: int
    channel_id: int
    date: date
    time: str
    employee_id: int | None
    employee: str | None
    contact_id: int | None
    contact: str | None
    contact_phone: str | None
    line: str | None
    call_type: str
    minutes: float
    wait_seconds: int | None
    # where to hear it (GET, same credentials); null without one, or when the reader may not
    recording: str | None


class TypeOut(BaseModel):
    call_type: str
    calls: int
    minutes: float
    rows: list[CallLine]


class DayOut(BaseModel):
    date: date
    calls: int
    minutes: float
    types: list[TypeOut]


class GroupOut(Figures):
    """An employee's or a contact's calls; `id` null: calls without one."""

    id: int | None
    name: str | None
    phone: str | None
    days: list[DayOut]


class DayTotal(Figures):
    date: date


class CallsReportOut(BaseModel):
    by: Literal["employee", "contact"]
    period: PeriodOut
    totals: Figures
    # the whole report day by day (for a chart of calls per day, answered against missed)
    days: list[DayTotal]
    groups: list[GroupOut]
    total_groups: int
    limit: int
    offset: int
    # false when the groups of this page had more calls than listed: ask for fewer groups
    calls_complete: bool


class MissedLine(CallLine):
    date_time: str
    called_back_at: datetime | None
    called_back_after_seconds: int | None


class MissedDayOut(BaseModel):
    date: date
    missed: int
    called_back: int
    open: int
    rows: list[MissedLine]


class MissedTotals(BaseModel):
    missed: int
    called_back: int
    open: int


class MissedReportOut(BaseModel):
    period: PeriodOut
    totals: MissedTotals
    days: list[MissedDayOut]
    limit: int
    offset: int


def period_out(request: ReportRequest) -> PeriodOut:
    covered = request.period
    return PeriodOut(
        first=covered.first, last=covered.last, week=covered.iso_week, zone=request.zone
    )


def figures(counts: Iterable[Counts]) -> Figures:
    by_type: dict[str, int] = defaultdict(int)
    calls = talk = waited = wait = quick = 0
    for item in counts:
        by_type[item.call_type or ""] += item.calls
        calls += item.calls
        talk += item.talk_seconds
        waited += item.waited_calls
        wait += item.wait_seconds
        quick += item.quick_answers
    answered = by_type[INCOMING] + by_type[OUTGOING]
    inbound = by_type[INCOMING] + by_type[MISSED]
    return Figures(
        calls=calls,
        minutes=minutes(talk),
        incoming=by_type[INCOMING],
        outgoing=by_type[OUTGOING],
        missed=by_type[MISSED],
        not_reached=by_type[NOT_REACHED],
        average_wait_seconds=round(wait / waited, 1) if waited else None,
        average_talk_seconds=round(talk / answered, 1) if answered else None,
        answered_within_20s=round(quick / inbound, 4) if inbound else None,
    )


def calls_report_out(
    request: ReportRequest,
    report: CallsReport,
    *,
    by: Literal["employee", "contact"],
    limit: int,
    offset: int,
) -> CallsReportOut:
    lines: dict[tuple[int | None, date, str], list[CallLine]] = defaultdict(list)
    lister = CallLister(request)
    for call in report.calls:
        lines[call.key, call.day, call.call_type].append(lister.line(call))
    counts: dict[int | None, list[Counts]] = defaultdict(list)
    for item in report.counts:
        counts[item.key].append(item)
    groups = [
        GroupOut(
            id=group.key,
            name=group.name,
            phone=group.phone,
            days=_days(counts[group.key], lines, group.key),
            **figures(counts[group.key]).model_dump(),
        )
        for group in report.groups
    ]
    per_day: dict[date, list[Counts]] = defaultdict(list)
    for item in report.totals:
        assert item.day is not None
        per_day[item.day].append(item)
    return CallsReportOut(
        by=by,
        period=period_out(request),
        totals=figures(report.totals),
        days=[
            DayTotal(date=day, **figures(per_day[day]).model_dump()) for day in request.period.days
        ],
        groups=groups,
        total_groups=report.total_groups,
        limit=limit,
        offset=offset,
        calls_complete=report.calls_complete,
    )


def _days(
    counts: Sequence[Counts],
    lines: dict[tuple[int | None, date, str], list[CallLine]],
    key: int | None,
) -> list[DayOut]:
    per_day: dict[date, list[Counts]] = defaultdict(list)
    for item in counts:
        assert item.day is not None
        per_day[item.day].append(item)
    order = {name: n for n, name in enumerate(CALL_TYPES)}
    days = []
    for day in sorted(per_day):
        items = sorted(per_day[day], key=lambda item: order.get(item.call_type or "", 99))
        types = [
            TypeOut(
                call_type=item.call_type or "",
                calls=item.calls,
                minutes=minutes(item.talk_seconds),
                rows=lines.get((key, day, item.call_type or ""), []),
            )
            for item in items
        ]
        talk = sum(item.talk_seconds for item in items)
        days.append(
            DayOut(
                date=day,
                calls=sum(item.calls for item in items),
                minutes=minutes(talk),
                types=types,
            )
        )
    return days


def call_line(request: ReportRequest, call: ReportCall) -> CallLine:
    return CallLister(request).line(call)


class CallLister:
    """Listed calls in the reference's columns. What the calls of a channel share (its zone,
    phone masks, lines) is read once per report, not once per call: a week lists ~2 000 calls
    (bench/reports.py)."""

    def __init__(self, request: ReportRequest) -> None:
        self._request = request
        self._zones: dict[int, ZoneInfo] = {}
        self._phone_rules: dict[int, tuple[str, str | None]] = {}
        self._lines: dict[tuple[int, str | None, str | None], str | None] = {}

    def line(self, call: ReportCall) -> CallLine:
        zone = self._zone(call.channel_id)
        start = (call.started_at or call.occurred_at).astimezone(zone)
        end = call.ended_at.astimezone(zone) if call.ended_at is not None else None
        if end is None and call.total_seconds is not None:
            end = start + timedelta(seconds=call.total_seconds)
        country, masks_json = self._phone_rule(call.channel_id)
        phone = _shown_phone(call.contact_phone, call.contact_phone_raw, country, masks_json)
        return CallLine(
            id=call.id,
            channel_id=call.channel_id,
            date=call.day,
            time=f"{_clock(start)} - {_clock(end)}" if end is not None else f"{_clock(start)} -",
            employee_id=call.employee_id,
            employee=call.employee_name or call.employee_extension,
            contact_id=call.contact_id,
            contact=call.contact_name or phone,
            contact_phone=phone,
            line=self._line_name(call),
            call_type=call.call_type,
            minutes=minutes(call.talk_seconds),
            wait_seconds=call.wait_seconds,
            recording=f"/api/v1/calls/{call.id}/recording"
            if call.has_recording and call.heard
            else None,
        )

    def _zone(self, channel_id: int) -> ZoneInfo:
        zone = self._zones.get(channel_id)
        if zone is None:
            zone = ZoneInfo(self._request.channel_zones.get(channel_id, "UTC"))
            self._zones[channel_id] = zone
        return zone

    def _phone_rule(self, channel_id: int) -> tuple[str, str | None]:
        """The channel's country for national numbers and its masks (as JSON: a cache key)."""
        rule = self._phone_rules.get(channel_id)
        if rule is None:
            channel = self._request.channels.get(channel_id)
            masks: Any = channel.settings.get(MASK_SETTING) if channel else None
            rule = (
                channel.default_country if channel else "RU",
                json.dumps(masks, sort_keys=True) if isinstance(masks, dict) else None,
            )
            self._phone_rules[channel_id] = rule
        return rule

    def _line_name(self, call: ReportCall) -> str | None:
        key = (call.channel_id, call.virtual_number, call.line_name)
        if key not in self._lines:
            channel = self._request.channels.get(call.channel_id)
            line = line_of(channel, call.virtual_number, call.line_name) if channel else None
            self._lines[key] = line.name if line else None
        return self._lines[key]


def _clock(moment: datetime) -> str:
    """HH:MM, as `f"{moment:%H:%M}"` writes it, without strftime's cost per call."""
    return f"{moment.hour:02d}:{moment.minute:02d}"


# A week's listing names the same contacts again and again; formatting a number is the costliest
# step of a listed call (bench/reports.py).
@lru_cache(maxsize=4096)
def _shown_phone(
    phone: str | None, raw: str | None, country: str, masks_json: str | None
) -> str | None:
    masks = json.loads(masks_json) if masks_json is not None else None
    return display_phone(phone, raw=raw, country=country, masks=masks)


def missed_report_out(
    request: ReportRequest,
    days: Sequence[MissedDay],
    calls: Sequence[MissedCall],
    *,
    limit: int,
    offset: int,
) -> MissedReportOut:
    lines: dict[date, list[MissedLine]] = defaultdict(list)
    for call in calls:
        lines[call.day].append(missed_line(request, call))
    missed = sum(day.missed for day in days)
    back = sum(day.called_back for day in days)
    return MissedReportOut(
        period=period_out(request),
        totals=MissedTotals(missed=missed, called_back=back, open=missed - back),
        days=[
            MissedDayOut(
                date=day.day,
                missed=day.missed,
                called_back=day.called_back,
                open=day.missed - day.called_back,
                rows=lines.get(day.day, []),
            )
            for day in days
        ],
        limit=limit,
        offset=offset,
    )


def missed_line(request: ReportRequest, call: MissedCall) -> MissedLine:
    zone = ZoneInfo(request.channel_zones.get(call.channel_id, "UTC"))
    moment = (call.started_at or call.occurred_at).astimezone(zone)
    after = (
        round((call.called_back_at - call.occurred_at).total_seconds())
        if call.called_back_at is not None
        else None
    )
    return MissedLine(
        **call_line(request, call).model_dump(),
        date_time=f"{moment:%Y-%m-%d %H:%M:%S}",
        called_back_at=call.called_back_at,
        called_back_after_seconds=after,
    )
