"""The REST API's request and response bodies."""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from typing import Any, Generic, TypeVar

import phonenumbers
from pydantic import BaseModel, Field, field_validator, model_validator

from api.analytics import check_analytics_settings
from api.bounds import StoredId, StoredJson, StoredText
from api.proxies import parse_networks
from crm import check_working_hours
from policies.call_rules import RULE_SETTINGS, check_rule_settings
from policies.forwarding import FORWARDING_MODES, FORWARDING_SETTING
from providers.engine import CHANNEL_SOURCES_SETTING
from recordings.policy import check_recording_settings

T = TypeVar("T")


class ChannelCreate(BaseModel):
    provider: str = Field(description="A provider id from providers/, e.g. 'uis'", examples=["uis"])
    name: StoredText = Field(min_length=1, max_length=200, examples=["Sales line"])
    default_country: str = Field(
        default="RU", description="ISO 3166 region used to read national phone numbers"
    )
    timezone: str = Field(default="Europe/Moscow", description="IANA zone of the PBX's local times")
    settings: StoredJson = Field(default_factory=dict)

    @field_validator("default_country")
    @classmethod
    def known_country(cls, value: str) -> str:
        value = value.upper()
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown country code {value!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown IANA time zone {value!r}") from error
        return value

    @field_validator("settings")
    @classmethod
    def known_routing_settings(cls, value: dict[str, Any]) -> dict[str, Any]:
        # The settings the ingress itself reads: a typo would silently mean "off" / "closed".
        mode = value.get(FORWARDING_SETTING)
        if mode is not None and not isinstance(mode, bool) and mode not in FORWARDING_MODES:
            raise ValueError(
                f"{FORWARDING_SETTING} must be one of {', '.join(FORWARDING_MODES)}, not {mode!r}"
            )
        sources = value.get(CHANNEL_SOURCES_SETTING)
        if sources is not None:
            if isinstance(sources, str):
                sources = [part for part in sources.split(",") if part.strip()]
            if not isinstance(sources, list) or not all(isinstance(n, str) for n in sources):
                raise ValueError(f"{CHANNEL_SOURCES_SETTING} must be a list of networks (CIDR)")
            parse_networks(sources)  # ValueError names the bad entry
        return value

    @field_validator("settings")
    @classmethod
    def known_display_settings(cls, value: dict[str, Any]) -> dict[str, Any]:
        check_analytics_settings(value)  # custom_fields, lines, phone_masks
        return value

    @field_validator("settings")
    @classmethod
    def valid_call_rules(cls, value: dict[str, Any]) -> dict[str, Any]:
        # contact_template, task_rules, attach_to: a mistake names its place (policies.call_rules)
        check_rule_settings(value)
        return value

    @field_validator("settings")
    @classmethod
    def known_recording_settings(cls, value: dict[str, Any]) -> dict[str, Any]:
        check_recording_settings(value)  # recording_storage, recording_hosts
        return value


class ChannelOut(BaseModel):
    id: int
    provider: str
    name: str
    secret_key: str
    default_country: str
    timezone: str
    settings: dict[str, Any]
    created_at: datetime
    # What to paste into the PBX: one URL per endpoint of the provider's spec, by endpoint name.
    webhook_urls: dict[str, str]
    # The one URL to give a PBX that appends its own sub-paths (<base>/events/call): every
    # endpoint answers at <base>/<its path>. None for the telephony API (one URL of its own).
    webhook_base_url: str | None = None
    # What the PBX last answered to a request pbxhub sent it (the provider's channel_setup)
    # when it refused: {action, status, message, at}; None once it says ok.
    last_error: dict[str, Any] | None = None


class ChannelUpdate(BaseModel):
    name: StoredText | None = Field(default=None, min_length=1, max_length=200)
    settings: StoredJson | None = Field(
        default=None,
        description="A JSON merge patch of the settings: null removes a key, objects merge",
    )

    @field_validator("settings")
    @classmethod
    def known_display_settings(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            check_analytics_settings(value, patch=True)
        return value

    @field_validator("settings")
    @classmethod
    def known_recording_settings(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            # null removes a setting: nothing to check
            check_recording_settings({k: v for k, v in value.items() if v is not None})
        return value

    @field_validator("settings")
    @classmethod
    def valid_call_rules(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        # Each rule setting in a patch is given whole (null removes it) and checked as such.
        if value is not None:
            check_rule_settings({k: value[k] for k in RULE_SETTINGS if value.get(k) is not None})
        return value


class EmployeeLinkIn(BaseModel):
    channel_id: StoredId
    extension: StoredText | None = Field(default=None, description="The employee's short number")
    pbx_user_id: StoredText | None = Field(
        default=None, description="The PBX's own id for the employee"
    )


HEARS_RECORDINGS = (
    "The right to hear recordings: calls attached as hidden comments show to this employee "
    "(on the contacts and tasks they see)"
)


class EmployeeCreate(BaseModel):
    name: StoredText = Field(min_length=1, max_length=200)
    phones: list[StoredText] = Field(default_factory=list, description="The employee's own numbers")
    links: list[EmployeeLinkIn] = Field(default_factory=list)
    working_hours: StoredJson | None = Field(
        default=None,
        description='{"timezone": "Europe/Moscow", "days": {"mon": [["09:00", "18:00"]]}}',
    )
    hears_recordings: bool = Field(default=False, description=HEARS_RECORDINGS)

    @field_validator("working_hours")
    @classmethod
    def valid_working_hours(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else check_working_hours(value)


class EmployeeUpdate(BaseModel):
    """What the admin changes of an employee; a field left out stays as it is."""

    hears_recordings: bool | None = Field(default=None, description=HEARS_RECORDINGS)


class EmployeeOut(BaseModel):
    id: int
    name: str
    phones: list[str]
    links: list[EmployeeLinkIn]
    working_hours: dict[str, Any] | None = None
    hears_recordings: bool = False
    # when their API token expires (None: it lasts until revoked, or they have none)
    token_expires_at: datetime | None = None


class EmployeeTokenIn(BaseModel):
    """How long an employee's new API token lasts."""

    expires_in_days: int | None = Field(
        default=None,
        ge=1,
        le=3650,
        description="Days until the token stops opening anything; left out: until it is "
        "revoked or replaced",
    )


class EmployeeTokenOut(BaseModel):
    """An employee's new API token, shown this once: pbxhub keeps only its SHA-256."""

    employee_id: int
    token: str = Field(description="Send it as `Authorization: Bearer <token>`")
    expires_at: datetime | None = Field(default=None, description="None: until revoked")


class ContactPhoneOut(BaseModel):
    phone: str
    raw: str | None


class ContactOut(BaseModel):
    id: int
    name: str | None
    phones: list[ContactPhoneOut]
    responsible_employee_ids: list[int]
    created_at: datetime
    # filled from the channel's contact template when a call made the contact
    fields: dict[str, str] = Field(default_factory=dict)


class AnalyticsFieldOut(BaseModel):
    name: str
    value: str | int | None


class LineOut(BaseModel):
    number: str | None
    name: str
    color: str | None = None


class CallRecordingOut(BaseModel):
    """A call's recording as a person plays it: `url` (relative to the API) streams the file
    kept by pbxhub, or leads to the PBX's link; `status` says what became of it."""

    # kept, pending (a link, not kept yet), linked, authorized_link, not_kept, refused, failed
    status: str
    url: str | None = None
    # why it was refused or failed, in words, and as a code to count by
    reason: str | None = None
    error_code: str | None = None
    id: int | None = None
    content_type: str | None = None
    size: int | None = None
    sha256: str | None = None
    duration_seconds: int | None = None


def call_recording(call: dict[str, Any]) -> dict[str, Any] | None:
    """The `recording` of a call's JSON, from the store's call (crm.StoredCall as a dict)."""
    kept = call.get("recordings") or []
    status = call.get("recording_status")
    shown: dict[str, Any] = {"reason": call.get("recording_error")}
    shown["error_code"] = call.get("recording_error_code")
    if kept:
        latest = kept[-1]
        return {
            **shown,
            "status": "kept",
            "url": f"/api/v1/recordings/{latest['id']}",
            "id": latest["id"],
            "content_type": latest["content_type"],
            "size": latest["size"],
            "sha256": latest["sha256"],
            "duration_seconds": latest.get("duration_seconds") or call.get("recording_duration"),
        }
    if status in ("linked", "authorized_link"):
        return {**shown, "status": status, "url": f"/api/v1/calls/{call['id']}/recording"}
    if status is not None:
        return {**shown, "status": status}
    if call.get("recording_url"):
        return {**shown, "status": "pending"}
    return None


class CallAttachmentOut(BaseModel):
    # contact, latest_active_task, matching_task, new_task, origin_task (the task it was made
    # from); None while only the origin task is known
    mode: str | None
    contact_id: int | None
    task_id: int | None
    # the call as a hidden comment on the task or contact, when the channel asks for that
    comment_id: int | None
    hidden: bool
    origin_task_id: int | None
    attached_at: datetime | None


class CallOut(BaseModel):
    id: int
    channel_id: int
    session_id: str
    provider: str
    kind: str
    direction: str | None
    contact_id: int | None
    contact_phone: str | None
    contact_phone_raw: str | None
    virtual_number: str | None
    line_name: str | None
    employee_id: int | None
    employee_extension: str | None
    employee_pbx_id: str | None
    started_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    wait_seconds: int | None
    talk_seconds: int | None
    total_seconds: int | None
    tags: list[str]
    extra: dict[str, str]
    recording_url: str | None
    recording_duration: int | None
    incomplete: bool
    legs: list[dict[str, Any]]
    # The status the generic telephony API last reported; None for webhook providers.
    status: str | None = None
    created_at: datetime
    updated_at: datetime
    # The reference "Call" / "Missed call" analytics in their documented order, then the
    # channel's custom fields (api.analytics); dates and times in the channel's zone.
    analytics: list[AnalyticsFieldOut] = Field(default_factory=list)
    # The numbers as people read them (the channel's phone masks); the E.164 values stay above.
    contact_phone_display: str | None = None
    virtual_number_display: str | None = None
    # The line, named by the channel's `lines` setting, else by the PBX, else its number.
    line: LineOut | None = None
    # Its recording: where to play it and what became of it; None while nothing is known.
    recording: CallRecordingOut | None = None
    # Where the call hangs (the channel's attach_to): its contact, a task, a hidden comment.
    attachment: CallAttachmentOut | None = None

    @model_validator(mode="before")
    @classmethod
    def _recording_of_the_stored_call(cls, data: Any) -> Any:
        if isinstance(data, dict) and "recording" not in data and "id" in data:
            return {**data, "recording": call_recording(data)}
        return data


class SkippedCallOut(BaseModel):
    """A call not recorded on purpose, and why (`reason`: unknown_employee, employee_phone,
    internal, pbx; `detail` for a person)."""

    id: int
    channel_id: int
    session_id: str
    provider: str
    reason: str
    detail: str
    direction: str | None
    contact_phone: str | None
    contact_phone_raw: str | None
    virtual_number: str | None
    employee_extension: str | None
    employee_pbx_id: str | None
    started_at: datetime | None
    ended_at: datetime | None
    extra: dict[str, str]
    occurred_at: datetime
    created_at: datetime
    updated_at: datetime


class GroupCreate(BaseModel):
    name: StoredText = Field(min_length=1, max_length=200)
    employee_ids: list[StoredId] = Field(default_factory=list)


class GroupMemberIn(BaseModel):
    employee_id: StoredId


class GroupOut(BaseModel):
    id: int
    name: str
    employee_ids: list[int]
    created_at: datetime


class TaskOut(BaseModel):
    id: int
    title: str
    status: str
    description: str | None
    department: str | None
    assignee_employee_id: int | None
    contact_id: int | None
    call_id: int | None
    type: str | None = None
    fields: dict[str, str] = Field(default_factory=dict)
    due_at: datetime | None = None
    # the name of the channel's task rule that made it
    rule: str | None = None
    # a call-back task: closed by the first answered call with its contact after its own call
    closes_on_contact: bool = False
    closed_at: datetime | None = None
    closed_by_call_id: int | None = None
    created_at: datetime
    updated_at: datetime


class CommentOut(BaseModel):
    id: int
    text: str
    task_id: int | None
    call_id: int | None
    contact_id: int | None = None
    author_employee_id: int | None = None
    # seen only by those who may hear recordings (a call attached as a hidden comment)
    hidden: bool = False
    created_at: datetime


class CommentCreate(BaseModel):
    author_employee_id: StoredId | None = Field(
        default=None,
        description="The employee who writes it: required with the admin key; with an "
        "employee's token, that employee (naming another is refused)",
    )
    text: StoredText = Field(min_length=1, max_length=10_000, examples=["Called back, all clear"])


class NotificationOut(BaseModel):
    id: int
    employee_id: int
    # missed_call: a missed inbound call from a contact the employee is responsible for
    kind: str
    text: str
    call_id: int | None
    contact_id: int | None
    created_at: datetime


class TelephonyCallData(BaseModel):
    """The generic telephony API's answer, field for field as seed 002 has it."""

    call_id: int
    # the PBX's own id of the call; None for a call pbxhub named itself
    pbx_call_id: str | None
    user_id: int | None
    pbx_user_id: str | None
    call_status: str
    # the link of the kept recording, when one was uploaded
    audio_record: str | None
    ticket_id: int


class TelephonyAnswerOut(BaseModel):
    data: TelephonyCallData


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int
