"""The values the store hands out and takes in: frozen dataclasses, never ORM objects.

Everything above `crm` (activities, the API) speaks only these types, so the tables can change
without touching their callers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

# A call as its workflow writes it: one type from the workflow to the store (StoredCall adds to it).
from contracts.messages import CallRecord

# A "call" is an answered call; a "missed" one is a lost inbound call or a failed outbound one;
# an "active" one is still going on (the telephony API opens calls before they end).
CALL_KINDS: Final = frozenset({"call", "missed", "active"})
DIRECTIONS: Final = frozenset({"in", "out"})
TASK_STATUSES: Final = frozenset({"open", "closed"})


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
    # When they take calls: {"timezone": "Europe/Moscow", "days": {"mon": [["09:00", "18:00"]]}};
    # None means no schedule is known. Checked by `crm.check_working_hours`.
    working_hours: dict[str, Any] | None = None
    # The right to hear recordings: calls attached as hidden comments show to them
    # (policies.access).
    hears_recordings: bool = False
    # When their API token expires (None: it lasts until revoked or replaced, or there is none).
    token_expires_at: datetime | None = None

    def extension_on(self, channel_id: int) -> str | None:
        """Their short number on that channel's PBX, if it gives them one."""
        return next((link.extension for link in self.links if link.channel_id == channel_id), None)


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
    # Filled from the channel's contact template when a call created the contact.
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RoutedEmployee:
    """A contact's first responsible as a routing reply needs them: their short number on the
    channel that asks, their own numbers in the order entered, and when they work."""

    id: int
    name: str
    extension: str | None
    phones: tuple[str, ...] = ()
    # None means no schedule is known. Checked by `crm.check_working_hours`.
    working_hours: dict[str, Any] | None = None


@dataclass(frozen=True)
class Responsible:
    """The contact owning a number (its id and name) and its first responsible employee (None:
    nobody is): the answer to a PBX's routing question, read in one query."""

    contact_id: int
    contact_name: str | None
    employee: RoutedEmployee | None


# Its own fields keyword-only: they follow the record's, which have defaults.
@dataclass(frozen=True, kw_only=True)
class StoredCall(CallRecord):
    """A call record as the store keeps it, with its id, what became of it since, and its
    bookkeeping times."""

    id: int
    # The status the generic telephony API last reported for it; None for webhook providers.
    status: str | None = None
    # Where the call hangs (contact, task, hidden comment); None until that is decided.
    attachment: CallAttachment | None = None
    # What became of its recording (recordings.policy.RECORDING_STATUSES) and, refused or
    # failed, why; None while nothing is known. `recordings`: the audio kept, oldest first.
    recording_status: str | None = None
    recording_error_code: str | None = None
    recording_error: str | None = None
    recordings: list[Recording] = field(default_factory=list)
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Group:
    """A named set of employees, independent of channels (a call can be shown to a group)."""

    id: int
    name: str
    employee_ids: list[int]
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class Task:
    """A task ("ticket"): work for one employee, in a department, often about a call."""

    id: int
    title: str
    status: str
    description: str | None = None
    department: str | None = None
    assignee_employee_id: int | None = None
    contact_id: int | None = None
    call_id: int | None = None
    # What work it is ("call_back", "deal", ...) and its own fields: attach rules match them.
    type: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    due_at: datetime | None = None
    # The channel's task rule that created it, by name.
    rule: str | None = None
    # A call-back task: it closes itself once the contact is reached by a later answered call.
    closes_on_contact: bool = False
    closed_at: datetime | None = None
    closed_by_call_id: int | None = None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, kw_only=True)
class Comment:
    """A comment on a call, a task and/or a contact card; a hidden one is shown only to those who
    may hear recordings (a call attached "as a hidden comment")."""

    id: int
    text: str
    task_id: int | None = None
    call_id: int | None = None
    contact_id: int | None = None
    author_employee_id: int | None = None
    hidden: bool = False
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class CallAttachment:
    """Where a call (its analytics and recording) hangs: its contact, or a task of that contact,
    perhaps as a hidden comment. `origin_task_id` is the task the call was made from."""

    call_id: int
    # "contact" | "latest_active_task" | "matching_task" | "new_task" | "origin_task"; None while
    # only the origin task is known (the call has not ended yet)
    mode: str | None = None
    contact_id: int | None = None
    task_id: int | None = None
    comment_id: int | None = None
    hidden: bool = False
    origin_task_id: int | None = None
    attached_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class CallPlace:
    """Where a call (its analytics, recording and comments) hangs, with what decides who may see
    it there (`policies.access`): the contact and/or task of its attachment (before it is attached,
    the call's contact), that task's own contact, and whether it hangs as a hidden comment."""

    call_id: int
    contact: Contact | None = None
    task: Task | None = None
    # The contact of `task`: its responsibles see the task too (often `contact` itself).
    task_contact: Contact | None = None
    hidden: bool = False


@dataclass(frozen=True, kw_only=True)
class Notification:
    """Something an employee is told about, e.g. a missed call from one of their contacts."""

    id: int
    employee_id: int
    kind: str
    text: str
    call_id: int | None = None
    contact_id: int | None = None
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class Recording:
    """A call's audio in pbxhub's custody; `location` is relative to the storage's root."""

    id: int
    call_id: int
    storage: str
    location: str
    content_type: str
    size: int
    sha256: str
    source_url: str | None = None
    duration_seconds: int | None = None
    created_at: datetime


# Why a call was not recorded (PLANFIX.md §1.8), kept so that none is dropped silently: the
# employee on it is unknown in the channel (a short number nobody has), the other party is an
# employee's own phone, both parties are the company's extensions, or the PBX said so itself.
SKIP_REASONS: Final = frozenset({"unknown_employee", "employee_phone", "internal", "pbx"})


@dataclass(frozen=True)
class SkippedCallRecord:
    """A call session the workflow decided not to record, and why (`reason` is one of
    SKIP_REASONS, `detail` says it for a person: "unknown employee: extension 115")."""

    channel_id: int
    session_id: str
    provider: str
    reason: str
    detail: str
    direction: str | None = None
    contact_phone: str | None = None
    contact_phone_raw: str | None = None
    virtual_number: str | None = None
    employee_extension: str | None = None
    employee_pbx_id: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    extra: dict[str, str] = field(default_factory=dict)


# Its own fields keyword-only: they follow the record's, which have defaults.
@dataclass(frozen=True, kw_only=True)
class SkippedCall(SkippedCallRecord):
    """A skipped call as the store keeps it."""

    id: int
    occurred_at: datetime
    created_at: datetime
    updated_at: datetime
