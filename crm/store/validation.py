"""What the store accepts: country codes, time zones, aware datetimes, the shape of working
hours, and ids that must name existing rows. Each check raises ValueError naming what is wrong.

Working hours: `{"timezone": "Europe/Moscow", "days": {"mon": [["09:00", "18:00"]], "sat": []}}`;
a day not listed (or listed empty) is a day off; "24:00" may end a day. Whether a moment falls
in them is a policy (`policies.working_hours`).
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.tables import CallRow, ChannelRow, ContactRow, EmployeeRow

WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_TIME: Final = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$")


def check_country(name: str, value: str) -> str:
    """An ISO 3166 alpha-2 country code, upper-cased."""
    country = value.upper()
    if len(country) != 2 or not country.isalpha():
        raise ValueError(f"{name} {value!r} is not an ISO 3166 code")
    return country


def check_timezone(name: str, value: str) -> str:
    """An IANA time zone name this machine knows."""
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"{name} {value!r} is not an IANA time zone") from error
    return value


def require_aware(name: str, value: datetime | None) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{name} is a naive datetime ({value.isoformat()}); give it a time zone")


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
    check_timezone("working_hours.timezone", timezone)
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


def check_channels_exist(session: Session, channel_ids: Sequence[int]) -> None:
    known = set(session.scalars(select(ChannelRow.id).where(ChannelRow.id.in_(channel_ids))))
    for channel_id in channel_ids:
        if channel_id not in known:
            raise ValueError(f"no channel with id {channel_id}")


def check_employees_exist(session: Session, employee_ids: Sequence[int]) -> None:
    known = set(session.scalars(select(EmployeeRow.id).where(EmployeeRow.id.in_(employee_ids))))
    for employee_id in employee_ids:
        if employee_id not in known:
            raise ValueError(f"no employee with id {employee_id}")


def check_refs(
    session: Session, employee_id: int | None, contact_id: int | None, call_id: int | None
) -> None:
    """The employee, contact and call named (None: not named) exist."""
    for what, table, value in (
        ("employee", EmployeeRow, employee_id),
        ("contact", ContactRow, contact_id),
        ("call", CallRow, call_id),
    ):
        if value is not None and session.get(table, value) is None:
            raise ValueError(f"no {what} with id {value}")
