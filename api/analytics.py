"""The reference "Call" and "Missed call" analytics of a stored call, field by field in the
documented order (PLANFIX.md §3.11), so a user can map them one to one; plus the channel's
display settings they use: custom fields, line names and colours, phone masks.

Channel settings read here:

- `custom_fields`: ordered names of custom string fields, appended after the standard ones and
  filled from the call's `extra` parameter of the same name (or, for nested parameters such as
  Binotel's `callDetails.callTrackingData.utm_source`, the one whose last dotted part is the
  name). Parameters no field declares stay in `extra`.
- `lines`: `{"+74950000001": {"name": "Hotline", "color": "#ff8800"}}`, virtual numbers in
  E.164. A line's name is the channel's name for it, else the name the PBX gave the line, else
  the number itself: what the channel's admin wrote wins over what the PBX says.
- `phone_masks`: see `api.phone_display`.

Dates and times are the channel's local time (its IANA zone), ISO 8601 (`2024-03-12`,
`10:15:00 - 10:16:12`, `2024-03-12 10:15:00`).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any, Final

from api.phone_display import MASK_SETTING, check_phone_masks, display_phone
from contracts.phones import is_e164
from crm import Channel, StoredCall

CUSTOM_FIELDS_SETTING: Final = "custom_fields"
LINES_SETTING: Final = "lines"

# The reference "Звонок" fields, in the order auto-filling needs them.
CALL_FIELDS: Final = (
    "date",  # Дата
    "time",  # Время: the period start - end
    "type",  # Тип: incoming | outgoing
    "duration",  # Продолжительность (сек.): the talk
    "employee",  # Сотрудник
    "contact",  # Контакт
    "external_line",  # Внешняя линия: the virtual number
    "contact_number",  # Номер контакта
    "external_line_name",  # Название внешней линии
)
# The reference "Пропущенный звонок" fields: no employee, no duration.
MISSED_CALL_FIELDS: Final = (
    "date_time",  # Дата и время
    "type",
    "contact",
    "external_line",
    "contact_number",
    "external_line_name",
)
CALL_TYPES: Final = {"in": "incoming", "out": "outgoing"}


@dataclass(frozen=True)
class Line:
    """The line a call came in on or went out by, as it is shown."""

    number: str | None
    name: str
    color: str | None = None


@dataclass(frozen=True)
class AnalyticsField:
    name: str
    value: str | int | None


def custom_fields(channel: Channel) -> list[str]:
    """The channel's declared custom field names, in order (malformed entries ignored)."""
    declared = channel.settings.get(CUSTOM_FIELDS_SETTING)
    if not isinstance(declared, list):
        return []
    return list(dict.fromkeys(name for name in declared if isinstance(name, str) and name))


def custom_value(extra: Mapping[str, str], name: str) -> str | None:
    """The `extra` parameter a custom field takes: the same name, else the first (by name)
    whose last dotted part is the name."""
    if name in extra:
        return extra[name]
    suffix = "." + name
    nested = sorted(key for key in extra if key.endswith(suffix))
    return extra[nested[0]] if nested else None


def line_of(channel: Channel, virtual_number: str | None, pbx_name: str | None) -> Line | None:
    """The call's line: the channel's name and colour for it, else the PBX's name for it, else
    the number itself; None when the call names no line."""
    if not virtual_number:
        return Line(number=None, name=pbx_name) if pbx_name else None
    configured = _configured_line(channel, virtual_number)
    name = configured.get("name") if configured else None
    color = configured.get("color") if configured else None
    return Line(
        number=virtual_number,
        name=name if isinstance(name, str) and name else pbx_name or virtual_number,
        color=color if isinstance(color, str) and color else None,
    )


def _configured_line(channel: Channel, number: str) -> Mapping[str, Any] | None:
    lines = channel.settings.get(LINES_SETTING)
    if not isinstance(lines, Mapping):
        return None
    found = lines.get(number)
    if found is None:
        # a PBX may send the line without "+" where E.164 could not be read: match on digits
        digits = "".join(c for c in number if c.isdigit())
        found = next(
            (v for k, v in lines.items() if "".join(c for c in k if c.isdigit()) == digits), None
        )
    return found if isinstance(found, Mapping) else None


def contact_phone_display(channel: Channel, call: StoredCall) -> str | None:
    return display_phone(
        call.contact_phone,
        raw=call.contact_phone_raw,
        country=channel.default_country,
        masks=_masks(channel),
    )


def virtual_number_display(channel: Channel, call: StoredCall) -> str | None:
    number = call.virtual_number
    if number and not is_e164(number):
        return number
    return display_phone(number, country=channel.default_country, masks=_masks(channel))


def _masks(channel: Channel) -> Mapping[str, Any] | None:
    masks = channel.settings.get(MASK_SETTING)
    return masks if isinstance(masks, Mapping) else None


def _zone(channel: Channel) -> tzinfo:
    try:
        return zoneinfo.ZoneInfo(channel.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def _local(moment: datetime | None, zone: tzinfo) -> datetime | None:
    return None if moment is None else moment.astimezone(zone)


def talk_duration(call: StoredCall) -> int | None:
    """Seconds of talk: the PBX's count, else from the answer to the end."""
    if call.talk_seconds is not None:
        return call.talk_seconds
    if call.answered_at is not None and call.ended_at is not None:
        return max(0, round((call.ended_at - call.answered_at).total_seconds()))
    return None


def call_analytics(
    call: StoredCall,
    channel: Channel,
    *,
    employee_name: str | None,
    contact_name: str | None,
) -> list[AnalyticsField]:
    """The analytics of a call (`kind` "call") or a missed call (any other kind), in the
    reference's order, then the channel's custom fields."""
    zone = _zone(channel)
    start = _local(call.started_at or call.answered_at or call.ended_at, zone)
    line = line_of(channel, call.virtual_number, call.line_name)
    number = call.contact_phone or call.contact_phone_raw
    contact = contact_name or (contact_phone_display(channel, call) if call.contact_id else None)
    shared: dict[str, str | int | None] = {
        "type": CALL_TYPES.get(call.direction or ""),
        "contact": contact,
        "external_line": call.virtual_number,
        "contact_number": number,
        "external_line_name": line.name if line else None,
    }
    if call.kind == "call":
        end = _local(call.ended_at, zone)
        if end is None and start is not None and call.total_seconds is not None:
            end = start + timedelta(seconds=call.total_seconds)
        shared |= {
            "date": start.date().isoformat() if start else None,
            "time": _period(start, end),
            "duration": talk_duration(call),
            "employee": employee_name or call.employee_extension,
        }
        names: Sequence[str] = CALL_FIELDS
    else:
        shared["date_time"] = start.strftime("%Y-%m-%d %H:%M:%S") if start else None
        names = MISSED_CALL_FIELDS
    fields = [AnalyticsField(name, shared[name]) for name in names]
    fields += [
        AnalyticsField(name, custom_value(call.extra, name)) for name in custom_fields(channel)
    ]
    return fields


def _period(start: datetime | None, end: datetime | None) -> str | None:
    if start is None:
        return None
    return f"{start:%H:%M:%S} - {end:%H:%M:%S}" if end else f"{start:%H:%M:%S} -"


def check_analytics_settings(settings: Mapping[str, Any], *, patch: bool = False) -> None:
    """Raise ValueError naming the bad entry of `custom_fields`, `lines` or `phone_masks`.
    With `patch`, values may be null (a JSON merge patch removes those keys)."""
    declared = settings.get(CUSTOM_FIELDS_SETTING)
    if declared is not None:
        if not isinstance(declared, list) or not all(
            isinstance(name, str) and name.strip() for name in declared
        ):
            raise ValueError(f"{CUSTOM_FIELDS_SETTING} must be a list of field names")
        if len(set(declared)) != len(declared):
            raise ValueError(f"{CUSTOM_FIELDS_SETTING}: a field name is given twice")
    lines = settings.get(LINES_SETTING)
    if lines is not None:
        if not isinstance(lines, Mapping):
            raise ValueError(f"{LINES_SETTING} must map virtual numbers to {{name, color}}")
        for number, line in lines.items():
            if not is_e164(number):
                raise ValueError(f"{LINES_SETTING}: {number!r} is not in E.164 (+74950000001)")
            if line is None and patch:
                continue
            if not isinstance(line, Mapping) or not all(
                key in ("name", "color") and (value is None or isinstance(value, str))
                for key, value in line.items()
            ):
                raise ValueError(f"{LINES_SETTING}.{number} must be {{name, color}} strings")
    masks = settings.get(MASK_SETTING)
    if masks is not None:
        check_phone_masks(masks)
