"""Rows to records: how the store turns its ORM rows into the frozen records of `crm.records`
(copies, so a caller never holds anything a session may change)."""

from __future__ import annotations

import copy
from dataclasses import fields
from typing import Any, Final, TypeVar

from sqlalchemy import Row

from contracts.messages import CallLeg, CallRecord
from crm.records import (
    CallAttachment,
    Channel,
    Comment,
    Contact,
    ContactPhone,
    Employee,
    EmployeeLink,
    Group,
    Notification,
    Recording,
    SkippedCall,
    StoredCall,
    Task,
)
from crm.tables import (
    CallAttachmentRow,
    CallRow,
    ChannelRow,
    CommentRow,
    ContactRow,
    EmployeeRow,
    GroupRow,
    NotificationRow,
    RecordingRow,
    SkippedCallRow,
    TaskRow,
)

# A frozen record type that `_copied` fills from a row.
_R = TypeVar("_R")

# The fields a call's row keeps under the names of `CallRecord`.
CALL_FIELDS: Final = tuple(f.name for f in fields(CallRecord))


def channel_of(row: ChannelRow | Row[Any]) -> Channel:
    """A channel from its ORM row or a plain query's row of the same columns."""
    return Channel(
        id=row.id,
        provider=row.provider,
        name=row.name,
        secret_key=row.secret_key,
        default_country=row.default_country,
        timezone=row.timezone,
        settings=copy.deepcopy(row.settings),
        created_at=row.created_at,
    )


def employee_of(row: EmployeeRow) -> Employee:
    return Employee(
        id=row.id,
        name=row.name,
        phones=[phone.phone for phone in row.phones],
        links=[
            EmployeeLink(
                channel_id=link.channel_id, extension=link.extension, pbx_user_id=link.pbx_user_id
            )
            for link in row.links
        ],
        working_hours=copy.deepcopy(row.working_hours),
        hears_recordings=row.hears_recordings,
        token_expires_at=row.token_expires_at,
    )


def contact_of(row: ContactRow) -> Contact:
    return Contact(
        id=row.id,
        name=row.name,
        phones=[ContactPhone(phone=phone.phone, raw=phone.raw) for phone in row.phones],
        responsible_employee_ids=[responsible.employee_id for responsible in row.responsibles],
        created_at=row.created_at,
        fields=dict(row.fields or {}),
    )


def group_of(row: GroupRow) -> Group:
    return Group(
        id=row.id,
        name=row.name,
        employee_ids=[member.employee_id for member in row.members],
        created_at=row.created_at,
    )


def stored_call_of(row: CallRow) -> StoredCall:
    values = {name: copy.deepcopy(getattr(row, name)) for name in CALL_FIELDS}
    values["legs"] = [CallLeg.from_json(leg) for leg in row.legs or []]
    return StoredCall(
        id=row.id,
        **values,
        status=row.status,
        attachment=attachment_of(row.attachment) if row.attachment is not None else None,
        recording_status=row.recording_status,
        recording_error_code=row.recording_error_code,
        recording_error=row.recording_error,
        recordings=[recording_of(recording) for recording in row.recordings],
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def skipped_call_of(row: SkippedCallRow) -> SkippedCall:
    return _copied(SkippedCall, row)


def task_of(row: TaskRow) -> Task:
    return Task(
        id=row.id,
        title=row.title,
        status=row.status,
        description=row.description,
        department=row.department,
        assignee_employee_id=row.assignee_employee_id,
        contact_id=row.contact_id,
        call_id=row.call_id,
        type=row.type,
        fields=dict(row.fields or {}),
        due_at=row.due_at,
        rule=row.rule,
        closes_on_contact=row.closes_on_contact,
        closed_at=row.closed_at,
        closed_by_call_id=row.closed_by_call_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def comment_of(row: CommentRow) -> Comment:
    return _copied(Comment, row)


def attachment_of(row: CallAttachmentRow) -> CallAttachment:
    return _copied(CallAttachment, row)


def notification_of(row: NotificationRow) -> Notification:
    return _copied(Notification, row)


def recording_of(row: RecordingRow) -> Recording:
    return _copied(Recording, row)


def _copied(record: type[_R], row: Any) -> _R:
    """A record whose fields the row carries under the same names, copied (JSON values too)."""
    names = [f.name for f in fields(record)]  # type: ignore[arg-type]
    return record(**{name: copy.deepcopy(getattr(row, name)) for name in names})
