"""Which calls a report asks for: its period (an ISO week, or `from`/`to`) and whose days it
counts in. An employee reads their days where they are: `tz`, else the time zone of their working
hours, else that of their first channel. The admin reads each channel's calls by the channel's
own days, unless `tz` names one zone for all.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import HTTPException, Query

from api.deps import Caller
from crm import Channel, Employee, Store
from crm.report_periods import (
    MAX_DAYS,
    Period,
    PeriodError,
    day_bounds,
    iso_week,
    period,
    week_of,
    zone_named,
)
from crm.reports import ReportScope, ZoneDays


@dataclass(frozen=True)
class PeriodQuery:
    """The period and zone as asked, before they are read against the caller."""

    week: str | None
    first: date | None
    last: date | None
    tz: str | None


def period_query(
    week: Annotated[
        str | None, Query(description="An ISO week, weeks start on Monday (2026-W13)")
    ] = None,
    from_: Annotated[
        date | None, Query(alias="from", description="First day, included (2026-03-23)")
    ] = None,
    to: Annotated[date | None, Query(description="Last day, included (2026-03-29)")] = None,
    tz: Annotated[
        str | None,
        Query(
            description="The IANA zone whose days count (default: the employee's own, or for "
            "the admin each channel's)"
        ),
    ] = None,
) -> PeriodQuery:
    return PeriodQuery(week=week, first=from_, last=to, tz=tz)


@dataclass(frozen=True)
class ReportRequest:
    """A report's period, the scope the store counts, and each channel's zone for its times."""

    period: Period
    scope: ReportScope
    # the one zone every day is counted in; None: each channel's own
    zone: str | None
    channel_zones: dict[int, str]
    channels: dict[int, Channel]


def report_request(caller: Caller, store: Store, asked: PeriodQuery) -> ReportRequest:
    """The request read against the caller (sync: it reads the channels; run it in a thread).
    422 naming the field for a period or zone that cannot be read."""
    try:
        return _report_request(caller, store, asked)
    except PeriodError as error:
        raise HTTPException(422, detail=str(error)) from None


def _report_request(caller: Caller, store: Store, asked: PeriodQuery) -> ReportRequest:
    channels = {channel.id: channel for channel in store.list_channels()}
    channel_zones = {channel.id: _channel_zone(channel) for channel in channels.values()}
    zone = asked.tz
    if zone is not None:
        zone_named(zone)
    elif caller.employee is not None:
        zone = employee_zone(caller.employee, channel_zones)
    covered = _period(asked, zone or "UTC")
    if zone is not None:
        zones: tuple[ZoneDays, ...] = (ZoneDays(day_bounds(covered, zone)),)
        channel_zones = dict.fromkeys(channels, zone)
    else:
        by_zone: dict[str, list[int]] = defaultdict(list)
        for channel_id, name in channel_zones.items():
            by_zone[name].append(channel_id)
        zones = tuple(
            ZoneDays(day_bounds(covered, name), tuple(ids)) for name, ids in by_zone.items()
        )
        if not zones:  # no channel yet, so no call either: an empty report in UTC days
            zones = (ZoneDays(day_bounds(covered, "UTC")),)
    return ReportRequest(
        period=covered,
        scope=ReportScope(zones=zones, employee=caller.employee),
        zone=zone,
        channel_zones=channel_zones,
        channels=channels,
    )


def _period(asked: PeriodQuery, zone: str) -> Period:
    if asked.week is not None:
        if asked.first is not None or asked.last is not None:
            raise PeriodError("week: give either a week or from/to, not both")
        return iso_week(asked.week)
    if asked.first is None and asked.last is None:
        return week_of(datetime.now(UTC).astimezone(zone_named(zone)).date())
    if asked.first is None or asked.last is None:
        missing = "from" if asked.first is None else "to"
        raise PeriodError(f"{missing}: give both from and to (at most {MAX_DAYS} days)")
    return period(asked.first, asked.last)


def employee_zone(employee: Employee, channel_zones: dict[int, str]) -> str:
    """Where an employee is: their working hours' zone, else their first channel's, else UTC."""
    hours = employee.working_hours or {}
    if isinstance(hours.get("timezone"), str):
        return str(hours["timezone"])
    for link in employee.links:
        if link.channel_id in channel_zones:
            return channel_zones[link.channel_id]
    return "UTC"


def _channel_zone(channel: Channel) -> str:
    try:
        zone_named(channel.timezone)
    except PeriodError:
        return "UTC"
    return channel.timezone
