"""What workflows and activities hand each other: frozen dataclasses, standard library only.

Their JSON is in running calls' histories: a field added keeps a default, none is renamed.
"""

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

    def same_as(self, other: EmployeeRef) -> bool:
        """The same employee, by any identifier both refs carry."""
        return bool(
            (self.extension and self.extension == other.extension)
            or (self.pbx_user_id and self.pbx_user_id == other.pbx_user_id)
        )


@dataclass(frozen=True)
class CallLeg:
    """One employee's part in a call as it is written and shown: rung, perhaps talked, perhaps
    closed by the PBX while the call went on (another employee answered)."""

    leg_id: str | None = None
    employee_extension: str | None = None
    employee_pbx_id: str | None = None
    employee_name: str | None = None
    rang_at: datetime | None = None
    answered_at: datetime | None = None
    talk_ended_at: datetime | None = None
    talk_seconds: int | None = None
    answered: bool = False
    closed: bool = False
    closed_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        """The leg as the store keeps it: times in ISO 8601, like the workflow payload."""

        def iso(value: datetime | None) -> str | None:
            return None if value is None else value.isoformat()

        return {
            "leg_id": self.leg_id,
            "employee_extension": self.employee_extension,
            "employee_pbx_id": self.employee_pbx_id,
            "employee_name": self.employee_name,
            "rang_at": iso(self.rang_at),
            "answered_at": iso(self.answered_at),
            "talk_ended_at": iso(self.talk_ended_at),
            "talk_seconds": self.talk_seconds,
            "answered": self.answered,
            "closed": self.closed,
            "closed_at": iso(self.closed_at),
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> CallLeg:
        """A leg as the store keeps it (`as_json`), read back."""

        def when(name: str) -> datetime | None:
            text = value.get(name)
            return None if text is None else datetime.fromisoformat(text)

        return cls(
            leg_id=value.get("leg_id"),
            employee_extension=value.get("employee_extension"),
            employee_pbx_id=value.get("employee_pbx_id"),
            employee_name=value.get("employee_name"),
            rang_at=when("rang_at"),
            answered_at=when("answered_at"),
            talk_ended_at=when("talk_ended_at"),
            talk_seconds=value.get("talk_seconds"),
            answered=bool(value.get("answered")),
            closed=bool(value.get("closed")),
            closed_at=when("closed_at"),
        )


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
    """A call's contact, found by phone or made from the channel's contact template (when
    `channel_id` is given), with the responsibles the rules pick for a new one."""

    phone: str
    phone_raw: str | None = None
    name: str | None = None
    channel_id: int | None = None
    direction: str | None = None
    virtual_number: str | None = None
    line_name: str | None = None
    # who talked with the contact (answered, or made the call), and whom the call first rang
    answered_employee_id: int | None = None
    first_directed_employee_id: int | None = None


@dataclass(frozen=True)
class ContactResult:
    contact_id: int
    created: bool


@dataclass(frozen=True)
class CallRecord:
    """A call as its workflow writes it (the save_call activity's argument) and as the store
    takes it: one answered call, one missed call, or one the telephony API keeps open."""

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
    legs: list[CallLeg] = field(default_factory=list)


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


# -- the generic telephony API ----------------------------------------------------------------


@dataclass(frozen=True)
class OpenApiCallInput:
    channel_id: int
    session_id: str
    provider: str
    direction: str | None
    contact_phone: str | None = None
    contact_phone_raw: str | None = None
    started_at: datetime | None = None


@dataclass(frozen=True)
class OpenedApiCall:
    """The call row as it stands: new, or as an earlier run of the workflow left it."""

    call_id: int
    contact_id: int | None
    status: str | None
    employee_id: int | None
    employee_pbx_id: str | None
    recording_sha256: str | None


@dataclass(frozen=True)
class OpenTicketInput:
    call_id: int
    department: str | None
    assignee_employee_id: int | None


@dataclass(frozen=True)
class ApplyApiRequestInput:
    """What one create_call/update_call changes on its call and ticket; applying it twice is a
    no-op (the comment and the recording are keyed)."""

    call_id: int
    ticket_id: int
    call_status: str
    request_key: str
    employee_id: int | None = None
    employee_pbx_id: str | None = None
    comment: str | None = None
    audio: KeptFile | None = None


@dataclass(frozen=True)
class ActionEmployee:
    """The employee a PBX action is for, as its templates read it (`args.employee`)."""

    id: int
    name: str
    extension: str | None = None
    # the PBX's own id of them (UIS's employee id), when its API names people that way
    pbx_user_id: str | None = None


@dataclass(frozen=True)
class ActionCall:
    """The call a recording_link action asks about, as its templates read it (`args.call`)."""

    session_id: str
    started_at: datetime | None = None
    # what the webhooks gave (may be empty: the PBX's API is the only way to the file)
    recording_url: str | None = None
    # the call's parameters (e.g. Zadarma's call_id_with_rec, the recording's own key)
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PbxActionInput:
    """One outbound request to a channel's PBX: an action of its spec (providers.actions) and
    the arguments its role takes (click_to_call: employee, phone; channel_setup: webhook_urls;
    recording_link: call, lifetime_seconds). With `record_on_channel`, the outcome is kept as
    the channel's `last_error`."""

    channel_id: int
    action: str
    employee: ActionEmployee | None = None
    phone: str | None = None
    webhook_urls: dict[str, str] = field(default_factory=dict)
    record_on_channel: bool = False
    call: ActionCall | None = None
    lifetime_seconds: int | None = None


@dataclass(frozen=True)
class PbxActionResult:
    """What the PBX answered: `ok`, or `message` for the person who asked. `status` is None when
    the PBX could not be reached (or the request could not be made: `sent` is false)."""

    ok: bool
    status: int | None = None
    message: str | None = None
    # what the PBX's answer came to, in pbxhub's words ("the PBX refused: HTTP 401"): its own
    # text goes to the log only, never to people
    answer: str = ""
    sent: bool = True
    # what an ok answer gave (recording_link: the URL)
    link: str | None = None
    # the PBX has nothing yet: asking again later may work
    retry: bool = False


@dataclass(frozen=True)
class RecordPbxActionInput:
    channel_id: int
    action: str
    result: PbxActionResult
    at: datetime


# -- calls not recorded -------------------------------------------------------------------------


@dataclass(frozen=True)
class SkipReason:
    """Why a call is not recorded: `code` is one of crm.records.SKIP_REASONS, `detail` says it
    for a person ("unknown employee: extension 115")."""

    code: str
    detail: str


@dataclass(frozen=True)
class SaveSkippedCallInput:
    channel_id: int
    session_id: str
    provider: str
    reason: SkipReason
    direction: str | None = None
    contact_phone: str | None = None
    contact_phone_raw: str | None = None
    virtual_number: str | None = None
    employee_extension: str | None = None
    employee_pbx_id: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    extra: dict[str, str] = field(default_factory=dict)


# -- recording custody ------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchRecordingInput:
    """A recording link to keep for a channel; `call_id` once the call is written (None for a
    one-time link fetched at once, before anything else). Without `url` (the PBX's webhooks
    gave none), the PBX's API is asked for one about `call`."""

    channel_id: int
    url: str | None
    call_id: int | None = None
    # the PBX's own figure, kept when the file does not tell its duration
    pbx_duration: int | None = None
    call: ActionCall | None = None
    # the call's session: a link fetched "before the call is written" may come again after
    # it was, and what the written call keeps is then not fetched twice
    session_id: str | None = None
    # the PBX said the link works once: its file is kept whatever the channel keeps of links
    link_once: bool = False
    # how many attempts the installation allows (the channel's own setting comes first); None:
    # the workflow's retry policy alone decides (runs from before channels had their own)
    fetch_attempts: int | None = None


@dataclass(frozen=True)
class KeptFile:
    """A recording's audio as storage holds it: downloaded by the worker, or uploaded through
    the telephony API and kept by the API process before the workflow hears of it."""

    location: str
    content_type: str
    size: int
    sha256: str
    # uploads recorded before they went to the configured storage were kept in the local folder
    storage: str = "local"
    duration_seconds: int | None = None


@dataclass(frozen=True)
class FetchedRecording:
    """What fetching a link came to. `mode` is the channel's recording mode; `status` is
    "kept" (`file` is new, or `recording_id` was kept before), "refused" (the link guard said
    no) or "failed", with `error_code` and `error`; None when the mode keeps no file."""

    mode: str
    status: str | None = None
    file: KeptFile | None = None
    recording_id: int | None = None
    error_code: str | None = None
    error: str | None = None
    # the link the PBX's API gave (there was none in the webhooks): kept as the call's link
    link: str | None = None


@dataclass(frozen=True)
class KeepRecordingInput:
    call_id: int
    # the webhooks' link; None when the PBX's API was asked for one
    url: str | None
    fetched: FetchedRecording


@dataclass(frozen=True)
class KeptRecording:
    """What the call now says of its recording (calls.recording_status)."""

    status: str
    recording_id: int | None = None
    error: str | None = None


# -- what a call leaves behind by the channel's rules -----------------------------------------


@dataclass(frozen=True)
class ApplyCallRulesInput:
    call_id: int
    # the call made its contact: task rules may ask for that (`when.new_contact`)
    new_contact: bool = False


@dataclass(frozen=True)
class CallRulesResult:
    """What the channel's rules did after one call; applying them again repeats nothing."""

    task_ids: list[int] = field(default_factory=list)
    notified_employee_ids: list[int] = field(default_factory=list)
    attach_mode: str | None = None
    attached_task_id: int | None = None
    closed_task_ids: list[int] = field(default_factory=list)


# -- the one-activity call write (activities.call_writes) ------------------------------------
# Owner, contact, row and rules in one activity: each step was a workflow task and three
# history events of its own.


@dataclass(frozen=True)
class WriteCallInput:
    """`call` as the workflow sees it (employee_id, contact_id and the owner's extension are the
    store's to fill); `contact` when the other party has a phone number (its employee ids, too,
    are the store's to fill)."""

    call: CallRecord
    # the employee the PBX says the call is, and those it says it rang
    employee: EmployeeRef | None = None
    rang: list[EmployeeRef] = field(default_factory=list)
    # the other party's all-digit number with no E.164 reading: an extension of ours, perhaps
    other_extension: EmployeeRef | None = None
    first_directed: EmployeeRef | None = None
    contact: FindOrCreateContactInput | None = None
    # the PBX itself says the call is not to be recorded
    pbx_skip_reason: str | None = None
    # the channel's rules after the call is written (its first write, nothing else waiting)
    apply_rules: bool = False


@dataclass(frozen=True)
class WrittenCall:
    """The call as written (`call_id`), or kept as skipped and why (`skip`)."""

    call_id: int | None = None
    skip: SkipReason | None = None
    # the owner's extension on the channel (for the workflow's search attributes)
    owner_extension: str | None = None
    new_contact: bool = False
    rules_applied: bool = False
