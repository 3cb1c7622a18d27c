"""CallWorkflow: follows one PBX call session from its first event to its recording, durably."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from activities.models import (
        AttachRecordingInput,
        ContactResult,
        EmployeeRef,
        FindEmployeeByPhoneInput,
        FindEmployeesInput,
        FindEmployeesResult,
        FindOrCreateContactInput,
        FoundEmployee,
        LookupRecordedCallInput,
        RecordedCall,
        SaveCallInput,
        SavedCall,
    )
    from providers.events import CallEvent
    from workflows.summary import CallSummary, summarize

# Search attributes that make calls findable in the Temporal UI; registered by the dev runner.
PROVIDER = SearchAttributeKey.for_keyword("PbxProvider")
CHANNEL = SearchAttributeKey.for_keyword("PbxChannel")
DIRECTION = SearchAttributeKey.for_keyword("CallDirection")
CONTACT_PHONE = SearchAttributeKey.for_keyword("ContactPhone")
EMPLOYEE_EXTENSION = SearchAttributeKey.for_keyword("EmployeeExtension")
OUTCOME = SearchAttributeKey.for_keyword("CallOutcome")
SEARCH_ATTRIBUTES = [PROVIDER, CHANNEL, DIRECTION, CONTACT_PHONE, EMPLOYEE_EXTENSION, OUTCOME]

EVENT_SIGNAL = "call_event"

# The store may be down for a while: keep trying (nothing accepted is lost), but give up at once
# on data the store refuses, which no retry can fix.
STORE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=["ValueError", "ConflictError"],
)
STORE_TIMEOUT = timedelta(seconds=30)


async def _store_activity(name: str, arg: Any, result_type: Any) -> Any:
    """Run a store activity with the store's timeout and retry policy."""
    return await workflow.execute_activity(
        name,
        arg,
        start_to_close_timeout=STORE_TIMEOUT,
        retry_policy=STORE_RETRY,
        result_type=result_type,
    )


def call_workflow_id(channel_id: int, session_id: str, *, prefix: str = "call") -> str:
    """One workflow per (channel, PBX call session); the prefix tells installations apart."""
    return f"{prefix}-{channel_id}-{session_id}"


@dataclass(frozen=True)
class CallInput:
    channel_id: int
    provider: str
    session_id: str
    recording_wait_seconds: int = 15 * 60
    max_call_seconds: int = 4 * 60 * 60
    # PBX webhooks of one moment arrive out of order, seconds apart: write once it is this quiet.
    settle_seconds: int = 2


@dataclass(frozen=True)
class CallResult:
    # "call" | "missed" | "skipped" | "amended"
    outcome: str
    call_id: int | None = None
    reason: str | None = None
    incomplete: bool = False
    recording_url: str | None = None
    events: int = 0


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
    legs: list[dict[str, Any]] = field(default_factory=list)


@workflow.defn
class CallWorkflow:
    """One call session: collect events (any order, duplicates dropped), then write the call."""

    def __init__(self) -> None:
        self._input: CallInput | None = None
        self._events: list[CallEvent] = []
        self._seen_keys: set[str] = set()
        self._result: CallResult | None = None
        self._call_id: int | None = None

    @workflow.signal(name=EVENT_SIGNAL)
    def call_event(self, event: CallEvent) -> None:
        # The same webhook delivered twice carries the same key: it changes nothing.
        if event.idempotency_key in self._seen_keys:
            return
        self._seen_keys.add(event.idempotency_key)
        self._events.append(event)

    @workflow.query
    def state(self) -> CallState:
        summary = summarize(self._events)
        return CallState(
            channel_id=self._input.channel_id if self._input else 0,
            session_id=self._input.session_id if self._input else "",
            events=len(self._events),
            kinds=[e.kind for e in self._events],
            over=summary.over,
            answered=summary.answered,
            direction=summary.direction,
            contact_phone=summary.contact_phone,
            employee_extension=summary.employee.extension if summary.employee else None,
            employee_pbx_id=summary.employee.pbx_user_id if summary.employee else None,
            recording_url=summary.recording_url,
            outcome=self._result.outcome if self._result else None,
            call_id=self._call_id,
            reason=self._result.reason if self._result else None,
            legs=[leg.as_json() for leg in summary.legs],
        )

    @workflow.run
    async def run(self, data: CallInput) -> CallResult:
        self._input = data
        workflow.upsert_search_attributes(
            [PROVIDER.value_set(data.provider), CHANNEL.value_set(str(data.channel_id))]
        )
        # A call an earlier run already wrote (its workflow closed, then a late or repeated
        # webhook started this one) is amended, never written again.
        recorded = await _store_activity(
            "lookup_recorded_call",
            LookupRecordedCallInput(data.channel_id, data.session_id),
            RecordedCall | None,
        )
        if recorded is not None:
            self._call_id = recorded.call_id
            self._result = await self._amend(data, recorded.recording_url)
            return self._result

        over_in_time = True
        try:
            await workflow.wait_condition(
                lambda: summarize(self._events).over,
                timeout=timedelta(seconds=data.max_call_seconds),
            )
        except TimeoutError:
            over_in_time = False
        if over_in_time:
            await self._settle(data)
        self._result = await self._record(
            data, summarize(self._events), incomplete=not over_in_time
        )
        if over_in_time:
            self._result = await self._follow_up(data, self._result)
        return self._result

    async def _settle(self, data: CallInput) -> None:
        """Wait until no new event came for `settle_seconds` (stragglers of the same moment)."""
        for _ in range(30):  # bounded: a PBX that never stops talking still gets its call written
            seen = len(self._events)
            try:
                await workflow.wait_condition(
                    lambda seen=seen: len(self._events) != seen,  # type: ignore[misc]
                    timeout=timedelta(seconds=data.settle_seconds),
                )
            except TimeoutError:
                return

    async def _follow_up(self, data: CallInput, result: CallResult) -> CallResult:
        """After the call is written: wait for its recording; rewrite it when events add to it."""
        deadline = workflow.now() + timedelta(seconds=data.recording_wait_seconds)
        while result.outcome == "call" and summarize(self._events).recording_url is None:
            written = len(self._events)
            remaining = deadline - workflow.now()
            if remaining <= timedelta(0):
                workflow.logger.info("no recording for %s within the wait", data.session_id)
                break
            try:
                await workflow.wait_condition(
                    lambda written=written: len(self._events) != written,  # type: ignore[misc]
                    timeout=remaining,
                )
            except TimeoutError:
                workflow.logger.info("no recording for %s within the wait", data.session_id)
                break
            await self._settle(data)
            # The store upserts: writing the whole call again adds what the new events said.
            result = await self._record(data, summarize(self._events), incomplete=False)
        return result

    async def _record(
        self, data: CallInput, summary: CallSummary, *, incomplete: bool
    ) -> CallResult:
        kind = "call" if summary.answered else "missed"
        owner, skip_reason = await self._resolve_employee(data, summary)
        employee_id = owner.employee_id if owner else None
        owner_extension = owner.extension if owner else None
        self._index(summary, kind if skip_reason is None else "skipped", owner_extension)
        if skip_reason is not None:
            workflow.logger.warning("call %s not recorded: %s", data.session_id, skip_reason)
            return CallResult("skipped", reason=skip_reason, events=len(self._events))

        contact_id = None
        if summary.contact_phone:
            contact = await _store_activity(
                "find_or_create_contact",
                FindOrCreateContactInput(
                    summary.contact_phone, summary.contact_phone_raw, summary.contact_name
                ),
                ContactResult,
            )
            contact_id = contact.contact_id

        saved = await _store_activity(
            "save_call",
            SaveCallInput(
                channel_id=data.channel_id,
                session_id=data.session_id,
                provider=data.provider,
                kind=kind,
                direction=summary.direction,
                contact_id=contact_id,
                contact_phone=summary.contact_phone,
                contact_phone_raw=summary.contact_phone_raw,
                virtual_number=summary.virtual_number,
                line_name=summary.line_name,
                employee_id=employee_id,
                employee_extension=(summary.employee.extension if summary.employee else None)
                or owner_extension,
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
                legs=[leg.as_json() for leg in summary.legs],
            ),
            SavedCall,
        )
        self._call_id = saved.call_id
        return CallResult(
            kind,
            call_id=saved.call_id,
            incomplete=incomplete,
            recording_url=summary.recording_url,
            events=len(self._events),
        )

    async def _resolve_employee(
        self, data: CallInput, summary: CallSummary
    ) -> tuple[FoundEmployee | None, str | None]:
        """The employee who owns the call, or why the call must not be recorded."""
        refs: list[EmployeeRef] = [summary.employee] if summary.employee else []
        refs += [ref for ref in summary.rang if ref not in refs]
        found: list[FoundEmployee | None] = []
        if refs:
            result = await _store_activity(
                "find_employees",
                FindEmployeesInput(data.channel_id, refs),
                FindEmployeesResult,
            )
            found = result.employees
        if summary.employee is not None and found[0] is None:
            return None, f"unknown employee: {summary.employee.describe()}"
        if summary.employee is None and summary.rang and not any(found):
            described = ", ".join(ref.describe() for ref in summary.rang)
            return None, f"rang only unknown employees: {described}"
        if summary.contact_phone:
            own = await _store_activity(
                "find_employee_by_phone",
                FindEmployeeByPhoneInput(summary.contact_phone),
                FoundEmployee | None,
            )
            if own is not None:
                return None, f"the other party is employee {own.name}'s own phone"
        return (found[0] if summary.employee is not None else None), None

    async def _amend(self, data: CallInput, known_recording: str | None) -> CallResult:
        # The starting signal is already in; take what is new to the stored call: its recording.
        summary = summarize(self._events)
        if summary.recording_url and summary.recording_url != known_recording:
            await self._attach(data, summary)
        return CallResult(
            "amended",
            call_id=self._call_id,
            recording_url=summary.recording_url or known_recording,
            events=len(self._events),
        )

    async def _attach(self, data: CallInput, summary: CallSummary) -> None:
        assert summary.recording_url is not None
        await _store_activity(
            "attach_recording",
            AttachRecordingInput(
                data.channel_id, data.session_id, summary.recording_url, summary.recording_duration
            ),
            bool,
        )

    def _index(self, summary: CallSummary, outcome: str, extension: str | None) -> None:
        pairs: list[SearchAttributeUpdate[str]] = [OUTCOME.value_set(outcome)]
        if summary.direction:
            pairs.append(DIRECTION.value_set(summary.direction))
        if summary.contact_phone:
            pairs.append(CONTACT_PHONE.value_set(summary.contact_phone))
        extension = extension or (summary.employee.extension if summary.employee else None)
        if extension:
            pairs.append(EMPLOYEE_EXTENSION.value_set(extension))
        workflow.upsert_search_attributes(pairs)
