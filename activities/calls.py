"""Call activities: find employees and contacts, write call records, attach recording links."""

from __future__ import annotations

from dataclasses import asdict

from temporalio import activity

from activities.follow_up import new_contact_values
from contracts.messages import (
    AttachRecordingInput,
    CallRecord,
    ContactResult,
    FindEmployeeByPhoneInput,
    FindEmployeesInput,
    FindEmployeesResult,
    FindOrCreateContactInput,
    FoundEmployee,
    LookupRecordedCallInput,
    RecordedCall,
    SavedCall,
    SaveSkippedCallInput,
    SkipReason,
)
from crm import SkippedCallRecord, Store


class CallActivities:
    """The store-facing activities of a call, bound to one `Store` (sync: run in a thread pool)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @activity.defn
    def lookup_recorded_call(self, data: LookupRecordedCallInput) -> RecordedCall | None:
        call = self._store.get_call_by_session(data.channel_id, data.session_id)
        # An "active" row is one the telephony API opened for this very call: not written yet.
        if call is None or call.kind == "active":
            return None
        return RecordedCall(call_id=call.id, kind=call.kind, recording_url=call.recording_url)

    @activity.defn
    def lookup_skipped_call(self, data: LookupRecordedCallInput) -> SkipReason | None:
        """Why the session was kept as a skipped call, if it was."""
        skipped = self._store.get_skipped_call_by_session(data.channel_id, data.session_id)
        if skipped is None:
            return None
        return SkipReason(skipped.reason, skipped.detail)

    @activity.defn
    def find_employees(self, data: FindEmployeesInput) -> FindEmployeesResult:
        found: list[FoundEmployee | None] = []
        for ref in data.refs:
            employee = self._store.find_employee(
                data.channel_id, extension=ref.extension, pbx_user_id=ref.pbx_user_id
            )
            if employee is None:
                found.append(None)
                continue
            extension = employee.extension_on(data.channel_id)
            found.append(FoundEmployee(employee.id, employee.name, extension))
        return FindEmployeesResult(employees=found)

    @activity.defn
    def find_employee_by_phone(self, data: FindEmployeeByPhoneInput) -> FoundEmployee | None:
        employee = self._store.find_employee_by_phone(data.phone)
        return None if employee is None else FoundEmployee(employee.id, employee.name)

    @activity.defn
    def find_or_create_contact(self, data: FindOrCreateContactInput) -> ContactResult:
        name, fields, responsibles = data.name, dict[str, str](), list[int]()
        if data.channel_id is not None and self._store.find_contact_by_phone(data.phone) is None:
            # a new contact: from the channel's contact template, with responsibles by rule
            name, fields, responsibles = new_contact_values(self._store, data)
        contact, created = self._store.find_or_create_contact(
            phone=data.phone,
            phone_raw=data.phone_raw,
            name=name,
            fields=fields,
            responsible_employee_ids=responsibles,
        )
        if created:
            activity.logger.info("new contact %s for %s", contact.id, data.phone)
        return ContactResult(contact_id=contact.id, created=created)

    @activity.defn
    def save_call(self, data: CallRecord) -> SavedCall:
        stored, created = self._store.save_call(data)
        return SavedCall(call_id=stored.id, created=created)

    @activity.defn
    def save_skipped_call(self, data: SaveSkippedCallInput) -> int:
        """Keep a call that is not recorded with its reason (never a silent drop); its id."""
        fields = asdict(data)
        reason = fields.pop("reason")
        stored, _ = self._store.save_skipped_call(
            SkippedCallRecord(**fields, reason=reason["code"], detail=reason["detail"])
        )
        activity.logger.warning(
            "call %s of channel %s not recorded: %s",
            data.session_id,
            data.channel_id,
            data.reason.detail,
        )
        return stored.id

    @activity.defn
    def attach_recording(self, data: AttachRecordingInput) -> bool:
        stored = self._store.attach_recording_link(
            data.channel_id, data.session_id, url=data.url, duration=data.duration
        )
        return stored is not None
