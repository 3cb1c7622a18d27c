"""The days a report covers, and where each day begins and ends in UTC in a given time zone.

A report's day is a local calendar day: midnight to midnight where the person reading it is (or,
for the admin, where the channel is). The store keeps UTC, and SQLite knows no time zones, so
the local day of a call is found in SQL by comparing its time with the UTC instants of the local
midnights computed here: that is the same on every backend and right across a change of
daylight saving time (a day of 23 or 25 hours).
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

# The longest period one report covers (a quarter and a day): its SQL names each day once.
MAX_DAYS: Final = 93

_ISO_WEEK: Final = re.compile(r"^(\d{4})-W(\d{2})$")


class PeriodError(ValueError):
    """A period that cannot be read; the message names the field."""


@dataclass(frozen=True)
class Period:
    """Local calendar days `first` to `last`, both included."""

    first: date
    last: date

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    @property
    def iso_week(self) -> str | None:
        """`2026-W13` when the period is exactly one ISO week, else None."""
        year, week, weekday = self.first.isocalendar()
        if weekday == 1 and (self.last - self.first).days == 6:
            return f"{year}-W{week:02d}"
        return None


def iso_week(text: str) -> Period:
    """`2026-W13` → Monday to Sunday of that ISO week."""
    match = _ISO_WEEK.match(text.strip())
    if match is None:
        raise PeriodError(f"week: {text!r} is not an ISO week such as 2026-W13")
    year, week = int(match.group(1)), int(match.group(2))
    try:
        monday = date.fromisocalendar(year, week, 1)
    except ValueError:
        raise PeriodError(f"week: {year} has no week {week}") from None
    return Period(monday, monday + timedelta(days=6))


def week_of(day: date) -> Period:
    monday = day - timedelta(days=day.weekday())
    return Period(monday, monday + timedelta(days=6))


def period(first: date, last: date) -> Period:
    """Days `first` to `last` (both included), refused when reversed or longer than MAX_DAYS."""
    if last < first:
        raise PeriodError(f"to: {last.isoformat()} is before from {first.isoformat()}")
    if (last - first).days + 1 > MAX_DAYS:
        raise PeriodError(f"to: a report covers at most {MAX_DAYS} days; ask for a shorter period")
    return Period(first, last)


def zone_named(name: str, *, field: str = "tz") -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise PeriodError(f"{field}: {name!r} is not an IANA time zone") from None


def local_midnight(day: date, zone: zoneinfo.ZoneInfo) -> datetime:
    """The UTC instant the local `day` begins in `zone`."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True)
class DayBounds:
    """The UTC instants where each day of a period begins in one zone, and where it ends."""

    zone: str
    days: tuple[date, ...]
    starts: tuple[datetime, ...]
    end: datetime

    @property
    def start(self) -> datetime:
        return self.starts[0]


def day_bounds(covered: Period, zone_name: str) -> DayBounds:
    zone = zone_named(zone_name)
    days = tuple(covered.days)
    return DayBounds(
        zone=zone_name,
        days=days,
        starts=tuple(local_midnight(day, zone) for day in days),
        end=local_midnight(covered.last + timedelta(days=1), zone),
    )
