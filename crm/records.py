"""The values the store hands out and takes in: frozen dataclasses, never ORM objects.

Everything above `crm` (activities, the API) speaks only these types, so the tables can change
without touching their callers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

# A "call" is an answered call; a "missed" one is a lost inbound call or a failed outbound one.
CALL_KINDS: Final = frozenset({"call", "missed"})
DIRECTIONS: Final = frozenset({"in", "out"})


@dataclass(frozen=True)
class Channel:
    """One PBX account connected to pbxhub; its secret key is the path segment in webhook URLs."""

    id: int
    provider: str
    name: str
    secret_key: str
    default_country: str
    timezone: str
    settings: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class EmployeeLink:
    """How the PBX of one channel names an employee: a short number and/or its own user id."""

    channel_id: int
    extension: str | None = None
    pbx_user_id: str | None = None


@dataclass(frozen=True)
class Employee:
    """A person who takes calls, possibly in several channels; `phones` are their own numbers."""

    id: int
    name: str
    phones: list[str] = field(default_factory=list)
    links: list[EmployeeLink] = field(default_factory=list)


@dataclass(frozen=True)
class ContactPhone:
    """A contact's number in E.164 (`+74951234567`) and as the PBX first sent it."""

    phone: str
    raw: str | None = None


@dataclass(frozen=True)
class Contact:
    """A caller or callee outside the company, found by phone; responsibles come in rule order."""

    id: int
    name: str | None
    phones: list[ContactPhone]
    responsible_employee_ids: list[int]
    created_at: datetime


@dataclass(frozen=True)
class CallRecord:
    """What a finished call workflow writes: one answered call or one missed call."""

    channel_id: int
    session_id: str
    provider: str
    kind: str
    direction: str | None
    contact_id: int | None = None
    contact_phone: str | None = None
    contact_phone_raw: str | None = None
    virtual_number: str | None = None
    line_name: str | None = None
    employee_id: int | None = None
    employee_extension: str | None = None
    employee_pbx_id: str | None = None
    started_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    wait_seconds: int | None = None
    talk_seconds: int | None = None
    total_seconds: int | None = None
    tags: list[str] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)
    recording_url: str | None = None
    recording_duration: int | None = None
    incomplete: bool = False
    legs: list[dict[str, Any]] = field(default_factory=list)


# Keyword-only: `id` comes first and the timestamps last, around fields that have defaults.
@dataclass(frozen=True, kw_only=True)
class StoredCall:
    """A call record as the store keeps it, with its id and bookkeeping times."""

    id: int
    channel_id: int
    session_id: str
    provider: str
    kind: str
    direction: str | None
    contact_id: int | None = None
    contact_phone: str | None = None
    contact_phone_raw: str | None = None
    virtual_number: str | None = None
    line_name: str | None = None
    employee_id: int | None = None
    employee_extension: str | None = None
    employee_pbx_id: str | None = None
    started_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    wait_seconds: int | None = None
    talk_seconds: int | None = None
    total_seconds: int | None = None
    tags: list[str] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)
    recording_url: str | None = None
    recording_duration: int | None = None
    incomplete: bool = False
    legs: list[dict[str, Any]] = field(default_factory=list)
    created_at: datetime
    updated_at: datetime
