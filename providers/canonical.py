"""Mapped values coerced to the types of `CallEvent`, and the event's JSON form (the shape of
schemas/call-event.schema.json) used by examples, diffs and anyone who serialises events."""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from contracts.events import CallEvent, Direction, EventKind
from providers.template_filters import FilterValueError, as_list, as_str, is_blank

__all__ = [
    "ENGINE_FIELDS",
    "EVENT_KINDS",
    "FIELD_TYPES",
    "MAPPABLE_FIELDS",
    "MAX_INTEGER",
    "MAX_SESSION_ID_BYTES",
    "CoercionError",
    "Unstorable",
    "coerce_field",
    "event_from_json",
    "event_to_json",
    "session_id_problem",
    "text_problem",
]


class CoercionError(ValueError):
    """A mapped value does not fit its CallEvent field. `spec_fault`: whatever the PBX sent,
    the spec should have converted it (a time without a zone, a phone not through e164, a
    direction not translated); otherwise the value itself is unreadable as the field's type."""

    def __init__(self, message: str, *, spec_fault: bool = False) -> None:
        super().__init__(message)
        self.spec_fault = spec_fault


class Unstorable(CoercionError):
    """A value the PBX sent that pbxhub cannot keep: the request's fault, not the spec's."""


def _field_type(hint: Any) -> str:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    base = typing.get_origin(hint) or hint
    names = {str: "str", int: "int", bool: "bool", datetime: "datetime", list: "list", dict: "dict"}
    return names[base]


_HINTS = typing.get_type_hints(CallEvent)
FIELD_TYPES: dict[str, str] = {
    f.name: _field_type(_HINTS[f.name]) for f in dataclasses.fields(CallEvent)
}
# Filled by the engine, never by a spec's `map`.
ENGINE_FIELDS = frozenset(
    {"kind", "provider", "session_id", "idempotency_key", "channel_id", "extra"}
)
MAPPABLE_FIELDS = tuple(name for name in FIELD_TYPES if name not in ENGINE_FIELDS)
EVENT_KINDS = tuple(kind.value for kind in EventKind)
_DIRECTIONS = frozenset(d.value for d in Direction)
_NON_NEGATIVE = frozenset({"wait_seconds", "talk_seconds", "total_seconds", "recording_duration"})
_E164 = re.compile(r"\+[1-9]\d{6,14}")
# The largest integer pbxhub keeps: ids and a call's numbers are INTEGER columns in the store,
# 32-bit on PostgreSQL (api.bounds builds the API's id types on it).
MAX_INTEGER = 2**31 - 1
# The longest call session id, in UTF-8 bytes: it is part of the call's workflow id
# (`<prefix>-<channel id>-<session id>`, workflows.call), which Temporal limits to 1000 bytes
# by default; workflows.starter.CallSettings keeps the prefix short enough for the rest.
MAX_SESSION_ID_BYTES = 255


def text_problem(text: str) -> str | None:
    """What keeps `text` out of the store, or None: PostgreSQL's text and JSON hold no NUL."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000), which cannot be stored"
    return None


def session_id_problem(session_id: str) -> str | None:
    """What makes `session_id` unusable as a call's session id, or None when it is fine."""
    problem = text_problem(session_id)
    if problem is not None:
        return problem
    size = len(session_id.encode("utf-8"))
    if size > MAX_SESSION_ID_BYTES:
        return f"a call session id is at most {MAX_SESSION_ID_BYTES} bytes, this one is {size}"
    return None


def coerce_field(name: str, value: Any) -> Any:
    """`value` as the type of CallEvent field `name`; raises CoercionError when it cannot be."""
    kind = FIELD_TYPES[name]
    try:
        if kind == "list":
            return [s for s in (_kept_str(v) for v in as_list(value)) if s is not None]
        if is_blank(value):
            return None
        if kind == "str":
            text = _kept_str(value)
            if name == "direction" and text not in _DIRECTIONS:
                raise CoercionError(
                    f"direction must be one of {sorted(_DIRECTIONS)}, got {text!r}",
                    spec_fault=True,
                )
            if name == "contact_phone" and text is not None and not _E164.fullmatch(text):
                raise CoercionError(
                    f"contact_phone must be E.164 (use the e164 filter), got {text!r}",
                    spec_fault=True,
                )
            return text
        if kind == "int":
            number = _to_int(value)
            if not -MAX_INTEGER <= number <= MAX_INTEGER:
                raise Unstorable(f"{number} is out of range (at most {MAX_INTEGER})")
            if name in _NON_NEGATIVE and number < 0:
                raise CoercionError(f"must not be negative, got {number}")
            return number
        if kind == "bool":
            return _to_bool(value)
        if kind == "datetime":
            return _to_datetime(value)
    except FilterValueError as exc:
        raise CoercionError(str(exc)) from exc
    raise CoercionError(f"field {name} is not mappable", spec_fault=True)


def _kept_str(value: Any) -> str | None:
    text = _to_str(value)
    problem = None if text is None else text_problem(text)
    if problem is not None:
        raise Unstorable(problem)
    return text


def _to_str(value: Any) -> str | None:
    if isinstance(value, Mapping | list | tuple):
        raise CoercionError(f"expected a text value, got {type(value).__name__} {value!r}")
    if isinstance(value, datetime):
        return _iso(value)
    return as_str(value)


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise CoercionError(f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+(?:\.0*)?", value.strip()):
        digits = value.strip().split(".")[0]
        if len(digits) > len(str(MAX_INTEGER)) + 1:  # never thousands of digits to int()
            raise Unstorable(f"{digits[:20]}… is out of range (at most {MAX_INTEGER})")
        return int(digits)
    raise CoercionError(f"expected an integer, got {value!r}")


_TRUE = frozenset({"1", "true", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "no", "n", "off"})


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise CoercionError(f"expected a boolean, got {value!r}")


def _to_datetime(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise CoercionError(f"expected an ISO 8601 date-time, got {value!r}") from exc
    if not isinstance(value, datetime):
        raise CoercionError(f"expected a date-time, got {value!r}")
    if value.tzinfo is None:
        raise CoercionError(
            f"date-time {value.isoformat()} has no time zone (read PBX times with local_time)",
            spec_fault=True,
        )
    return value.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def event_to_json(event: CallEvent) -> dict[str, Any]:
    """Every field of the event as JSON-ready values; date-times as ISO 8601 in UTC."""
    result: dict[str, Any] = {}
    for name in FIELD_TYPES:
        value = getattr(event, name)
        if isinstance(value, datetime):
            value = _iso(value)
        elif isinstance(value, list):
            value = list(value)
        elif isinstance(value, dict):
            value = dict(value)
        result[name] = value
    return result


def event_from_json(data: Mapping[str, Any]) -> CallEvent:
    """The inverse of `event_to_json`; unknown keys are an error."""
    unknown = set(data) - set(FIELD_TYPES)
    if unknown:
        raise CoercionError(f"unknown CallEvent field(s): {', '.join(sorted(unknown))}")
    values: dict[str, Any] = dict(data)
    for name, kind in FIELD_TYPES.items():
        if kind == "datetime" and isinstance(values.get(name), str | datetime):
            values[name] = _to_datetime(values[name])
    return CallEvent(**values)
