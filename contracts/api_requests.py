"""What the generic telephony API hands a call's workflow, and what the workflow answers.

Standard library only (and our dataclasses): the workflow imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from contracts.events import CallEvent
from contracts.messages import KeptFile

API_UPDATE: Final = "telephony_api_request"
ACTIONS: Final = ("create_call", "update_call")
# The seed's statuses: a card is shown while a call is active and hidden once it is final.
ACTIVE_STATUSES: Final = ("ringing", "in-progress")
FINAL_STATUSES: Final = ("canceled", "missed", "failed", "answered", "busy")
CALL_STATUSES: Final = ACTIVE_STATUSES + FINAL_STATUSES


@dataclass(frozen=True)
class ApiCallRequest:
    """One create_call/update_call, already checked and resolved by the API.

    `events` are its canonical call events, folded like any provider's; `employee_id` is the
    one employee it names (user_id, a mapped pbx_user_id, or the single target), who becomes
    the ticket's assignee; `target_employee_ids` are whom the call card is for (empty: all).
    """

    action: str
    key: str
    call_status: str
    events: list[CallEvent]
    department: str | None = None
    employee_id: int | None = None
    employee_pbx_id: str | None = None
    target_employee_ids: list[int] = field(default_factory=list)
    comment: str | None = None
    audio: KeptFile | None = None


@dataclass(frozen=True)
class ApiCallAnswer:
    """The call as the API reports it back to the PBX."""

    call_id: int
    ticket_id: int
    call_status: str
    employee_id: int | None = None
    employee_pbx_id: str | None = None
    recording_sha256: str | None = None


def next_status(current: str | None, reported: str) -> str:
    """A late "ringing" never reopens a call the PBX already called final."""
    if current in FINAL_STATUSES and reported in ACTIVE_STATUSES:
        return current
    return reported
