"""What crosses the workflow/activity boundary: frozen dataclasses, standard library only."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class EmployeeRef:
    """How a PBX named an employee: its short number and/or the PBX's own user id."""

    extension: str | None = None
    pbx_user_id: str | None = None
    name: str | None = None

    def describe(self) -> str:
        parts = []
        if self.extension:
            parts.append(f"extension {self.extension}")
        if self.pbx_user_id:
            parts.append(f"PBX user id {self.pbx_user_id}")
        return " / ".join(parts) or "no identifier"


@dataclass(frozen=True)
class FindEmployeesInput:
    channel_id: int
    refs: list[EmployeeRef]


@dataclass(frozen=True)
class FoundEmployee:
    employee_id: int
    name: str
    # The employee's short number in the call's channel, when they have one.
    extension: str | None = None


@dataclass(frozen=True)
class FindEmployeesResult:
    # One entry per ref, in order; None where the channel has no such employee.
    employees: list[FoundEmployee | None]


@dataclass(frozen=True)
class LookupRecordedCallInput:
    channel_id: int
    session_id: str


@dataclass(frozen=True)
class RecordedCall:
    call_id: int
    kind: str
    recording_url: str | None


@dataclass(frozen=True)
class FindEmployeeByPhoneInput:
    phone: str


@dataclass(frozen=True)
class FindOrCreateContactInput:
    phone: str
    phone_raw: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class ContactResult:
    contact_id: int
    created: bool


@dataclass(frozen=True)
class SaveCallInput:
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


@dataclass(frozen=True)
class SavedCall:
    call_id: int
    created: bool


@dataclass(frozen=True)
class AttachRecordingInput:
    channel_id: int
    session_id: str
    url: str
    duration: int | None = None
