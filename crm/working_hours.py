"""An employee's working hours: the one shape the store accepts, and whether a moment is in them.

`{"timezone": "Europe/Moscow", "days": {"mon": [["09:00", "18:00"]], "sat": []}}`: a day not
listed (or listed empty) is a day off; "24:00" may end a day.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_TIME: Final = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$")


def check_working_hours(value: Mapping[str, Any]) -> dict[str, Any]:
    """The working hours as the store keeps them; ValueError naming what is wrong."""
    if not isinstance(value, Mapping):
        raise ValueError("working_hours must be an object with 'timezone' and 'days'")
    unknown = sorted(set(value) - {"timezone", "days"})
    if unknown:
        raise ValueError(f"working_hours has unknown keys {unknown}")
    timezone = value.get("timezone")
    if not isinstance(timezone, str):
        raise ValueError("working_hours.timezone must be an IANA time zone name")
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"working_hours.timezone {timezone!r} is not an IANA time zone") from error
    days = value.get("days")
    if not isinstance(days, Mapping):
        raise ValueError("working_hours.days must map weekdays (mon..sun) to intervals")
    checked: dict[str, list[list[str]]] = {}
    for day, intervals in days.items():
        if day not in WEEKDAYS:
            raise ValueError(f"working_hours.days.{day}: not one of {', '.join(WEEKDAYS)}")
        checked[day] = _check_intervals(f"working_hours.days.{day}", intervals)
    return {"timezone": timezone, "days": checked}


def _check_intervals(where: str, intervals: Any) -> list[list[str]]:
    if not isinstance(intervals, list):
        raise ValueError(f"{where} must be a list of [start, end] pairs")
    checked: list[list[str]] = []
    for index, interval in enumerate(intervals):
        if (
            not isinstance(interval, list | tuple)
            or len(interval) != 2
            or not all(isinstance(time, str) and _TIME.match(time) for time in interval)
        ):
            raise ValueError(f'{where}[{index}] must be a pair of "HH:MM" times')
        start, end = interval
        if not start < end or start == "24:00":
            raise ValueError(f"{where}[{index}] must start before it ends")
        checked.append([start, end])
    return checked


def is_working_at(working_hours: Mapping[str, Any], moment: datetime) -> bool:
    """Whether an aware `moment` falls in these (checked) working hours, in their own zone."""
    local = moment.astimezone(zoneinfo.ZoneInfo(working_hours["timezone"]))
    intervals = working_hours["days"].get(WEEKDAYS[local.weekday()], [])
    now = local.strftime("%H:%M")
    return any(start <= now < end for start, end in intervals)
