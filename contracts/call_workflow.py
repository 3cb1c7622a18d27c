"""What a call's workflow is started with, what it answers when asked, and what it ends with.

Their JSON is in every running call's history: a field added keeps a default, none is renamed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from contracts.events import CallEvent
from contracts.messages import CallLeg

# The signal that hands a call's workflow one event (signal-with-start on the first).
EVENT_SIGNAL: Final = "call_event"


@dataclass(frozen=True)
class CallInput:
    channel_id: int
    provider: str
    session_id: str
    recording_wait_seconds: int = 15 * 60
    max_call_seconds: int = 4 * 60 * 60
    # PBX webhooks of one moment arrive out of order, seconds apart: write once it is this quiet.
    settle_seconds: int = 2
    # A recording the PBX has not finished saving is asked for again after this long, doubling
    # up to 5 minutes, this many times in all.
    recording_retry_seconds: float = 10.0
    recording_fetch_attempts: int = 10
    # what a run heard while it closed, handed on to the run continuing it
    carried: list[CallEvent] = field(default_factory=list)


@dataclass(frozen=True)
class CallResult:
    # "call" | "missed" | "skipped" | "amended"
    outcome: str
    call_id: int | None = None
    reason: str | None = None
    incomplete: bool = False
    recording_url: str | None = None
    events: int = 0
    # for "skipped": one of crm.records.SKIP_REASONS ("unknown_employee", "internal", ...)
    reason_code: str | None = None
    # What became of the recording (recordings.policy.RECORDING_STATUSES), and why when it
    # was refused or failed.
    recording_status: str | None = None
    recording_error: str | None = None


@dataclass(frozen=True)
class CallState:
    """What the `state` query answers: the call as the workflow sees it right now."""

    channel_id: int
    session_id: str
    events: int
    kinds: list[str]
    over: bool
    answered: bool
    direction: str | None
    contact_phone: str | None
    employee_extension: str | None
    employee_pbx_id: str | None
    recording_url: str | None
    outcome: str | None
    call_id: int | None
    reason: str | None
    legs: list[CallLeg] = field(default_factory=list)
