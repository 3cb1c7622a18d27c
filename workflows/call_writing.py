"""How a call's workflow writes what its events add up to: the employee who owns the call (or why
it is not recorded), its contact, the call itself, the channel's rules after it, and the
amendment of a call an earlier run wrote."""

from __future__ import annotations

from dataclasses import replace

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.call_writes import CallWriteActivities
    from activities.calls import CallActivities
    from activities.follow_up import FollowUpActivities
    from contracts.call_owner import (
        employee_phone_skip,
        employee_refs,
        known_id,
        pbx_skip,
        skip_for_employees,
        skipped_call,
    )
    from contracts.call_workflow import CallInput, CallResult
    from contracts.messages import (
        ApplyCallRulesInput,
        AttachRecordingInput,
        CallRecord,
        EmployeeRef,
        FindEmployeeByPhoneInput,
        FindEmployeesInput,
        FindOrCreateContactInput,
        FoundEmployee,
        SkipReason,
        WriteCallInput,
    )
    from workflows.call_events import CallEvents
    from workflows.search_attributes import index_call
    from workflows.store_activity import store_activity
    from workflows.summary import CallSummary

# Runs from before the channel's rules (tasks, attach options, notifications) existed skip them.
CALL_RULES_PATCH = "call-rules"
# Runs from before skipped calls were kept neither look for internal calls nor keep them.
SKIPPED_CALLS_PATCH = "skipped-calls"
# A call is written by one activity (owner, contact, row, rules), not one per step; runs from
# before keep their steps.
ONE_WRITE_PATCH = "one-activity-call-write"


def other_extension(summary: CallSummary) -> EmployeeRef | None:
    """The other party as an extension, when its number is all digits and not a phone number
    (no E.164 reading): both parties may then be the company's."""
    raw = (summary.contact_phone_raw or "").strip()
    if summary.contact_phone or not raw.isdigit():
        return None
    return EmployeeRef(extension=raw)


def first_directed(summary: CallSummary) -> EmployeeRef | None:
    """The employee the call was first directed to: the first leg rung (by the PBX's clock, then
    the events' canonical order), else the first the PBX said it rang, else the call's own
    employee (its caller)."""
    dated = [(leg.rang_at, index) for index, leg in enumerate(summary.legs) if leg.rang_at]
    if dated:
        return summary.legs[min(dated)[1]].employee
    if summary.legs:
        return summary.legs[0].employee
    return summary.rang[0] if summary.rang else summary.employee


class CallWriter:
    """Writes one call session to the store; remembers what the store said of its employees and
    contact, and the call's id once written."""

    def __init__(self, data: CallInput, events: CallEvents) -> None:
        self._data = data
        self._events = events
        self.call_id: int | None = None
        # The employees the PBX named, as the store knows them; whether this call made its contact.
        self._known: list[tuple[EmployeeRef, FoundEmployee | None]] = []
        self._new_contact = False
        self._rules_applied = False

    async def record(
        self, summary: CallSummary, *, incomplete: bool, with_rules: bool = False
    ) -> CallResult:
        """The call written as `summary` says (the store upserts), or kept as skipped and why;
        `with_rules`: the channel's rules applied in the same activity (older runs: after)."""
        if workflow.patched(ONE_WRITE_PATCH):
            return await self._write_at_once(summary, incomplete=incomplete, with_rules=with_rules)
        kind = "call" if summary.answered else "missed"
        # the events this write is made of (more may come while its activities run)
        written = len(self._events)
        owner, skip = await self._resolve_employee(summary)
        # the PBX itself may say the call is not to be recorded (e.g. a channel setting)
        if summary.skip_reason:
            skip = pbx_skip(summary.skip_reason)
        employee_id = owner.employee_id if owner else None
        owner_extension = owner.extension if owner else None
        index_call(summary, kind if skip is None else "skipped", owner_extension)
        if skip is not None:
            # kept with its reason, never dropped silently
            if workflow.patched(SKIPPED_CALLS_PATCH):
                await self._save_skipped(summary, skip)
            return CallResult("skipped", reason=skip.detail, reason_code=skip.code, events=written)

        contact_id = None
        if summary.contact_phone:
            contact = await store_activity(
                CallActivities.find_or_create_contact,
                replace(
                    self._contact_input(summary, summary.contact_phone),
                    answered_employee_id=employee_id if summary.answered else None,
                    first_directed_employee_id=known_id(first_directed(summary), self._known),
                ),
            )
            contact_id = contact.contact_id
            self._new_contact = self._new_contact or contact.created

        saved = await store_activity(
            CallActivities.save_call,
            replace(
                self._call_record(summary, kind, incomplete=incomplete),
                contact_id=contact_id,
                employee_id=employee_id,
                employee_extension=(summary.employee.extension if summary.employee else None)
                or owner_extension,
            ),
        )
        self.call_id = saved.call_id
        return CallResult(
            kind,
            call_id=saved.call_id,
            incomplete=incomplete,
            recording_url=summary.recording_url,
            events=written,
        )

    def _contact_input(self, summary: CallSummary, phone: str) -> FindOrCreateContactInput:
        """The caller's contact to find or make, as the PBX named them on this line."""
        return FindOrCreateContactInput(
            phone,
            summary.contact_phone_raw,
            summary.contact_name,
            channel_id=self._data.channel_id,
            direction=summary.direction,
            virtual_number=summary.virtual_number,
            line_name=summary.line_name,
        )

    def _call_record(self, summary: CallSummary, kind: str, *, incomplete: bool) -> CallRecord:
        """The call as `summary` has it; its contact and owner are the store's to fill."""
        data = self._data
        return CallRecord(
            channel_id=data.channel_id,
            session_id=data.session_id,
            provider=data.provider,
            kind=kind,
            direction=summary.direction,
            contact_phone=summary.contact_phone,
            contact_phone_raw=summary.contact_phone_raw,
            virtual_number=summary.virtual_number,
            line_name=summary.line_name,
            employee_extension=summary.employee.extension if summary.employee else None,
            employee_pbx_id=summary.employee.pbx_user_id if summary.employee else None,
            started_at=summary.started_at,
            answered_at=summary.answered_at,
            ended_at=summary.ended_at,
            wait_seconds=summary.wait_seconds,
            talk_seconds=summary.talk_seconds,
            total_seconds=summary.total_seconds,
            tags=summary.tags,
            extra=summary.extra,
            recording_url=summary.recording_url,
            recording_duration=summary.recording_duration,
            incomplete=incomplete,
            legs=[leg.as_call_leg() for leg in summary.legs],
        )

    async def _write_at_once(
        self, summary: CallSummary, *, incomplete: bool, with_rules: bool
    ) -> CallResult:
        """`record` in one activity: a task and three history events instead of one per step."""
        kind = "call" if summary.answered else "missed"
        written = len(self._events)
        contact = None
        if summary.contact_phone:
            # whom it answered and first rang: write_call knows once it has found the employees
            contact = self._contact_input(summary, summary.contact_phone)
        done = await store_activity(
            CallWriteActivities.write_call,
            WriteCallInput(
                call=self._call_record(summary, kind, incomplete=incomplete),
                employee=summary.employee,
                rang=list(summary.rang),
                other_extension=other_extension(summary),
                first_directed=first_directed(summary),
                contact=contact,
                pbx_skip_reason=summary.skip_reason,
                apply_rules=with_rules,
            ),
        )
        self._new_contact = self._new_contact or done.new_contact
        self._rules_applied = self._rules_applied or done.rules_applied
        if done.skip is not None:
            index_call(summary, "skipped", None)
            skip = done.skip
            return CallResult("skipped", reason=skip.detail, reason_code=skip.code, events=written)
        index_call(summary, kind, done.owner_extension)
        self.call_id = done.call_id
        return CallResult(
            kind,
            call_id=done.call_id,
            incomplete=incomplete,
            recording_url=summary.recording_url,
            events=written,
        )

    async def apply_rules(self, result: CallResult) -> None:
        """The channel's rules on a written call: notifications, tasks, where it hangs."""
        if result.call_id is None or result.outcome not in ("call", "missed"):
            return
        if self._rules_applied:  # by the activity that wrote the call
            return
        if not workflow.patched(CALL_RULES_PATCH):
            return
        await store_activity(
            FollowUpActivities.apply_call_rules,
            ApplyCallRulesInput(result.call_id, new_contact=self._new_contact),
        )

    async def _resolve_employee(
        self, summary: CallSummary
    ) -> tuple[FoundEmployee | None, SkipReason | None]:
        """The employee who owns the call, or why the call must not be recorded."""
        refs = employee_refs(summary.employee, summary.rang)
        # The other party's number with no E.164 reading, all digits: perhaps an extension of
        # ours, which makes the call an internal one (asked in the same lookup, last).
        other = other_extension(summary) if workflow.patched(SKIPPED_CALLS_PATCH) else None
        found: list[FoundEmployee | None] = []
        if refs or other:
            result = await store_activity(
                CallActivities.find_employees,
                FindEmployeesInput(self._data.channel_id, refs + ([other] if other else [])),
            )
            found = result.employees
            self._known = list(zip(refs, found, strict=False))
        colleague = found.pop() if other else None
        skip = skip_for_employees(summary.employee, summary.rang, found, other, colleague)
        if skip is not None:
            return None, skip
        if summary.contact_phone:
            own = await store_activity(
                CallActivities.find_employee_by_phone,
                FindEmployeeByPhoneInput(summary.contact_phone),
            )
            if own is not None:
                return None, employee_phone_skip(own)
        return (found[0] if summary.employee is not None else None), None

    async def _save_skipped(self, summary: CallSummary, skip: SkipReason) -> None:
        # the call's record as it would be written: its kind and completeness are not kept
        call = self._call_record(summary, "skipped", incomplete=False)
        await store_activity(CallActivities.save_skipped_call, skipped_call(call, skip))

    async def amend(self, known_recording: str | None) -> CallResult:
        """A call an earlier run wrote: take what is new to it (the starting signal is in): its
        recording."""
        summary = self._events.summary
        if summary.recording_url and summary.recording_url != known_recording:
            await store_activity(
                CallActivities.attach_recording,
                AttachRecordingInput(
                    self._data.channel_id,
                    self._data.session_id,
                    summary.recording_url,
                    summary.recording_duration,
                ),
            )
        return CallResult(
            "amended",
            call_id=self.call_id,
            recording_url=summary.recording_url or known_recording,
            events=len(self._events),
        )
