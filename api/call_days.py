"""The days a call list is asked for (`from`, `to`, both included) as the window of times the
store filters by, in the zone of whom asks: an employee's (their working hours', else their
first line's), the admin's the chosen line's, else the first line's. The calls page and
`GET /api/v1/calls` read days alike."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from fastapi import HTTPException

from api.report_scope import employee_zone
from crm import Channel, Employee
from crm.report_periods import PeriodError, zone_named

__all__ = ["asker_zone", "day_window", "read_day"]


def read_day(name: str, value: str) -> date | None:
    """A day as a form sends it ("" is none); 422 naming the field when it is not one."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(422, detail=f"{name}: {value!r} is not a day (2026-12-31)") from None


def day_window(
    first: date | None, last: date | None, zone: str
) -> tuple[datetime | None, datetime | None]:
    """`since` at the start of the first day, `until` at the end of the last, in `zone`; 422
    when the last comes before the first."""
    if first is not None and last is not None and last < first:
        raise HTTPException(422, detail="to: the last day comes before the first (from)")
    tz = zone_named(zone)
    since = datetime.combine(first, time(0), tzinfo=tz) if first else None
    until = datetime.combine(last + timedelta(days=1), time(0), tzinfo=tz) if last else None
    return since, until


def _usable_zone(channel: Channel) -> str:
    try:
        zone_named(channel.timezone)
    except PeriodError:
        return "UTC"
    return channel.timezone


def asker_zone(employee: Employee | None, channels: list[Channel], line: Channel | None) -> str:
    """An employee's days are where they are; the admin's the line's, else the first line's."""
    if employee is not None:
        zone = employee_zone(employee, {c.id: _usable_zone(c) for c in channels})
        try:
            zone_named(zone)
        except PeriodError:
            return "UTC"
        return zone
    chosen = line or (channels[0] if channels else None)
    return _usable_zone(chosen) if chosen is not None else "UTC"
