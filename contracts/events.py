"""The canonical call event every provider mapping produces (see schemas/call-event.schema.json).

Standard library only: workflows, activities, providers and the API import this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class EventKind(StrEnum):
    CALL_STARTED = "call_started"
    RINGING = "ringing"
    TALK_STARTED = "talk_started"
    TALK_FINISHED = "talk_finished"
    CALL_FINISHED = "call_finished"
    CALL_LOST = "call_lost"
    RECORDING_READY = "recording_ready"
    STATUS_UPDATE = "status_update"


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


@dataclass(frozen=True)
class CallEvent:
    """One thing a PBX told us about one call session, in pbxhub's own words.

    Times are timezone-aware UTC. `extra` keeps every further parameter the PBX sent,
    as strings, so nothing the PBX said is lost.
    """

    kind: str
    provider: str
    session_id: str
    idempotency_key: str
    channel_id: int = 0
    occurred_at: datetime | None = None
    direction: str | None = None
    contact_phone: str | None = None
    contact_phone_raw: str | None = None
    contact_name: str | None = None
    virtual_number: str | None = None
    line_name: str | None = None
    employee_extension: str | None = None
    employee_pbx_id: str | None = None
    employee_name: str | None = None
    employee_phone: str | None = None
    rang_extensions: list[str] = field(default_factory=list)
    rang_pbx_ids: list[str] = field(default_factory=list)
    leg_id: str | None = None
    started_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    wait_seconds: int | None = None
    talk_seconds: int | None = None
    total_seconds: int | None = None
    answered: bool | None = None
    recording_url: str | None = None
    recording_duration: int | None = None
    # Whether the PBX says a recording will come: False lets the call stop waiting for one.
    recording_expected: bool | None = None
    # The PBX says the recording's link works once: its file is fetched the moment it arrives
    # and kept whatever the channel keeps of links (a dead link is worth nothing).
    recording_link_once: bool = False
    # Set when the PBX says this call is not to be recorded (and why); see workflows.summary.
    skip_reason: str | None = None
    tags: list[str] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)
