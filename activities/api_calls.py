"""Activities of calls the generic telephony API drives (`workflows.api_requests`): open a call
and its ticket, apply each request (status, employee, comment, uploaded audio) to the store."""

from __future__ import annotations

from temporalio import activity

from contracts.messages import (
    ApplyApiRequestInput,
    CallRecord,
    OpenApiCallInput,
    OpenedApiCall,
    OpenTicketInput,
)
from crm import Store, StoredCall

DIRECTION_WORDS = {"in": "Incoming call from", "out": "Outgoing call to"}


class ApiCallActivities:
    """Store-facing activities of API-driven calls, bound to one `Store` (sync, thread pool)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @activity.defn
    def open_api_call(self, data: OpenApiCallInput) -> OpenedApiCall:
        """The call's row (kind "active" until the call ends) and its contact, created once."""
        contact_id = None
        if data.contact_phone:
            contact, _ = self._store.find_or_create_contact(
                phone=data.contact_phone, phone_raw=data.contact_phone_raw
            )
            contact_id = contact.id
        call, created = self._store.open_call(
            CallRecord(
                channel_id=data.channel_id,
                session_id=data.session_id,
                provider=data.provider,
                kind="active",
                direction=data.direction,
                contact_id=contact_id,
                contact_phone=data.contact_phone,
                contact_phone_raw=data.contact_phone_raw,
                started_at=data.started_at,
            )
        )
        if created:
            activity.logger.info("API call %s opened as call %s", data.session_id, call.id)
        recordings = self._store.list_recordings(call.id)
        return OpenedApiCall(
            call_id=call.id,
            contact_id=call.contact_id,
            status=call.status,
            employee_id=call.employee_id,
            employee_pbx_id=call.employee_pbx_id,
            recording_sha256=recordings[-1].sha256 if recordings else None,
        )

    @activity.defn
    def open_ticket(self, data: OpenTicketInput) -> int:
        """The call's ticket: a task in the channel's default department, one per call."""
        call = self._store.get_call(data.call_id)
        if call is None:
            raise ValueError(f"no call with id {data.call_id}")
        task = self._store.create_task(
            title=ticket_title(call),
            department=data.department,
            assignee_employee_id=data.assignee_employee_id,
            contact_id=call.contact_id,
            call_id=call.id,
            idempotency_key=f"call-ticket:{call.id}",
        )
        # the call is made from its ticket: it will hang there (policies.call_rules attach options)
        self._store.set_call_origin_task(call.id, task.id)
        return task.id

    @activity.defn
    def apply_api_request(self, data: ApplyApiRequestInput) -> None:
        """Status, employee (also the ticket's assignee), comment and audio of one request."""
        self._store.set_call_status(
            data.call_id,
            data.call_status,
            employee_id=data.employee_id,
            employee_pbx_id=data.employee_pbx_id,
        )
        if data.employee_id is not None:
            self._store.update_task(data.ticket_id, assignee_employee_id=data.employee_id)
        if data.comment:
            self._store.add_comment(
                text=data.comment,
                task_id=data.ticket_id,
                call_id=data.call_id,
                idempotency_key=f"api-comment:{data.call_id}:{data.request_key}",
            )
        if data.audio is not None:
            # kept by the API process, in the storage it names
            self._store.add_recording(
                call_id=data.call_id,
                storage=data.audio.storage,
                location=data.audio.location,
                content_type=data.audio.content_type,
                size=data.audio.size,
                sha256=data.audio.sha256,
                duration_seconds=data.audio.duration_seconds,
            )


def ticket_title(call: StoredCall) -> str:
    who = call.contact_phone or call.contact_phone_raw or "an unknown number"
    return f"{DIRECTION_WORDS.get(call.direction or '', 'Call with')} {who}"
