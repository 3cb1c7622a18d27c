"""CallWorkflow: follows one PBX call session from its first event to its recording, durably."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.models import (
        ActionCall,
        ApplyApiRequestInput,
        ApplyCallRulesInput,
        AttachRecordingInput,
        CallRulesResult,
        ContactResult,
        EmployeeRef,
        FetchedRecording,
        FetchRecordingInput,
        FindEmployeeByPhoneInput,
        FindEmployeesInput,
        FindEmployeesResult,
        FindOrCreateContactInput,
        FoundEmployee,
        KeepRecordingInput,
        KeptRecording,
        LookupRecordedCallInput,
        OpenApiCallInput,
        OpenedApiCall,
        OpenTicketInput,
        RecordedCall,
        SaveCallInput,
        SavedCall,
        SaveSkippedCallInput,
        SkipReason,
    )
    from providers.events import CallEvent, EventKind
    from workflows.summary import CallSummary, summarize
    from workflows.telephony_api import (
        ACTIONS,
        API_UPDATE,
        CALL_STATUSES,
        ApiCallAnswer,
        ApiCallRequest,
        next_status,
    )

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

# Workflows started before recording custody existed replay without it.
RECORDING_CUSTODY_PATCH = "recording-custody"
# Runs from before the channel's rules (tasks, attach options, notifications) existed skip them.
CALL_RULES_PATCH = "call-rules"
# Runs from before skipped calls were kept neither look for internal calls nor keep them.
SKIPPED_CALLS_PATCH = "skipped-calls"
# A recording the PBX announces without a link is asked of its API (the spec's recording_link).
RECORDING_LINK_PATCH = "recording-link-by-pbx-api"
# Events that came while the call was being written are written too, even when they already
# brought the recording the follow-up would otherwise wait for.
LATE_EVENTS_PATCH = "follow-up-events-during-write"
# A run started by stragglers of a session kept as skipped (its recording, after it closed)
# that never become a call leaves it skipped instead of writing an incomplete call.
SKIPPED_STRAGGLERS_PATCH = "skipped-call-stragglers"
# A recording that comes while the run is closing (keeping the one before it) is handed, with
# the events that brought it, to a continued run that amends the call.
LATE_RECORDING_PATCH = "recording-while-closing"
# The key a link asked of the PBX's API is fetched under (webhook links are keyed by themselves).
ASKED_LINK = "pbx-api:recording_link"
# An event says its recording link works once (`recording_link_once`): such a link is fetched
# the moment it arrives, before anything else, and its file kept whatever the channel keeps.
ONE_TIME_LINK_PATCH = "recording-link-once-field"
# What runs from before that field read instead: the telephony API's own parameter in extra.
LEGACY_ONE_TIME_LINK_FLAG = "is_temp"
# A channel's own recording limits (attempts, back-off) are applied by the fetch itself, under
# this bound; runs from before that leave the attempts to the retry policy alone.
CHANNEL_RECORDING_LIMITS_PATCH = "channel-recording-limits"
# The most attempts a channel may set (recordings.limits.MAX_FETCH_ATTEMPTS; a test holds
# them equal): the workflow imports no store code.
FETCH_ATTEMPTS_CEILING = 50
# Upper bound of one download attempt; the download's own size and time limits come first.
FETCH_TIMEOUT = timedelta(minutes=30)


async def _store_activity(name: str, arg: Any, result_type: Any) -> Any:
    """Run a store activity with the store's timeout and retry policy."""
    return await workflow.execute_activity(
        name,
        arg,
        start_to_close_timeout=STORE_TIMEOUT,
        retry_policy=STORE_RETRY,
        result_type=result_type,
    )


def _recording_awaited(summary: CallSummary, *, asks_pbx: bool) -> bool:
    """No recording yet, and the PBX has not said that none is coming (nor, when its API is
    asked for links, that one is ready without a link)."""
    if asks_pbx and summary.recording_announced:
        return False
    return summary.recording_url is None and summary.recording_expected is not False


def _action_call(session_id: str, summary: CallSummary) -> ActionCall:
    """The call as the PBX's recording_link action reads it."""
    return ActionCall(
        session_id=session_id,
        started_at=summary.started_at,
        recording_url=summary.recording_url,
        extra=dict(summary.extra),
    )


def _other_extension(summary: CallSummary) -> EmployeeRef | None:
    """The other party as an extension, when its number is all digits and not a phone number
    (no E.164 reading): both parties may then be the company's."""
    raw = (summary.contact_phone_raw or "").strip()
    if summary.contact_phone or not raw.isdigit():
        return None
    return EmployeeRef(extension=raw)


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
    legs: list[dict[str, Any]] = field(default_factory=list)


@workflow.defn
class CallWorkflow:
    """One call session: collect events (any order, duplicates dropped), then write the call."""

    @workflow.init
    def __init__(self, data: CallInput) -> None:
        # Set here, not in `run`: an update that starts the workflow is handled before `run`.
        self._input: CallInput | None = data
        self._events: list[CallEvent] = list(data.carried)
        self._seen_keys: set[str] = {event.idempotency_key for event in data.carried}
        self._result: CallResult | None = None
        self._call_id: int | None = None
        # The employees the PBX named, as the store knows them; whether this call made its contact.
        self._known: list[tuple[EmployeeRef, FoundEmployee | None]] = []
        self._new_contact = False
        # The telephony API's view of the call; requests are applied one at a time.
        self._api: ApiCallAnswer | None = None
        self._api_lock = asyncio.Lock()
        # Recording links: in pbxhub's custody already (uploaded audio), being fetched, fetched.
        self._in_custody: set[str] = set()
        self._fetching: set[str] = set()
        self._fetched: dict[str, FetchedRecording] = {}
        # Whether a recording announced without a link is asked of the PBX's API.
        self._asks_pbx = False
        # Whether a link works once is the event's canonical field (not the PBX's parameter).
        self._link_once_field = False
        # The recording the run last decided about, and how many events it had then.
        self._recording_decided: tuple[str | None, int] = (None, 0)

    @workflow.signal(name=EVENT_SIGNAL)
    def call_event(self, event: CallEvent) -> None:
        # The same webhook delivered twice carries the same key: it changes nothing.
        if event.idempotency_key in self._seen_keys:
            return
        self._seen_keys.add(event.idempotency_key)
        self._events.append(event)

    @workflow.update(name=API_UPDATE)
    async def api_request(self, request: ApiCallRequest) -> ApiCallAnswer:
        """A telephony API request: its events join the others; the call and its ticket are
        opened once; a repeated request changes nothing and gets the same answer."""
        repeated = request.key in self._seen_keys
        self._seen_keys.add(request.key)
        for event in request.events:
            self.call_event(event)
            if request.audio is not None and event.recording_url:
                # uploaded, and stored by the API already: its link is ours, nothing to fetch
                self._in_custody.add(event.recording_url)
        async with self._api_lock:
            if self._api is None:
                self._api = await self._open_api_call(request)
            if not repeated:
                self._api = await self._apply_api_request(request, self._api)
        return self._api

    @api_request.validator
    def _check_api_request(self, request: ApiCallRequest) -> None:
        if request.action not in ACTIONS:
            raise ValueError(f"action {request.action!r} is not one of {', '.join(ACTIONS)}")
        if request.call_status not in CALL_STATUSES:
            raise ValueError(f"call_status {request.call_status!r} is not a known status")
        started = any(event.kind == EventKind.CALL_STARTED for event in request.events)
        if request.action == "create_call" and not started:
            raise ValueError("create_call must carry the call_started event")

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
        custody = workflow.patched(RECORDING_CUSTODY_PATCH)
        self._asks_pbx = custody and workflow.patched(RECORDING_LINK_PATCH)
        self._link_once_field = custody and workflow.patched(ONE_TIME_LINK_PATCH)
        watcher = asyncio.create_task(self._fetch_one_time_links(data)) if custody else None
        try:
            result = await self._run(data)
            if custody:
                result = self._result = await self._keep_recording(data, result)
                await workflow.wait_condition(workflow.all_handlers_finished)
        finally:
            if watcher is not None:
                watcher.cancel()
        late = self._late_recording(result) if custody else []
        if late and workflow.patched(LATE_RECORDING_PATCH):
            # nothing accepted is lost: a fresh run amends the written call with it
            workflow.continue_as_new(replace(data, carried=late))
        return result

    async def _run(self, data: CallInput) -> CallResult:
        """The call written (or amended), its follow-up done; its recording is kept after."""
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
            await workflow.wait_condition(workflow.all_handlers_finished)
            return self._result

        over_in_time = True
        try:
            await workflow.wait_condition(
                lambda: summarize(self._events).over,
                timeout=timedelta(seconds=data.max_call_seconds),
            )
        except TimeoutError:
            over_in_time = False
            skipped = await self._skipped_before(data)
            if skipped is not None:
                self._index(summarize(self._events), "skipped", None)
                self._result = CallResult(
                    "skipped",
                    reason=skipped.detail,
                    reason_code=skipped.code,
                    events=len(self._events),
                )
                await workflow.wait_condition(workflow.all_handlers_finished)
                return self._result
        if over_in_time:
            await self._settle(data)
        self._result = await self._record(
            data, summarize(self._events), incomplete=not over_in_time
        )
        await self._apply_rules(self._result)
        if over_in_time:
            self._result = await self._follow_up(data, self._result)
        # A telephony API request still being answered must get its answer.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._result

    async def _skipped_before(self, data: CallInput) -> SkipReason | None:
        """Why an earlier run kept this session as a skipped call, if one did."""
        if not workflow.patched(SKIPPED_STRAGGLERS_PATCH):
            return None
        skipped: SkipReason | None = await _store_activity(
            "lookup_skipped_call",
            LookupRecordedCallInput(data.channel_id, data.session_id),
            SkipReason | None,
        )
        return skipped

    # -- recording custody --------------------------------------------------------------------

    def _one_time_link(self) -> tuple[str, int | None] | None:
        """A link the PBX says works once, not yet being fetched (and its duration)."""
        for event in self._events:
            url = event.recording_url
            if (
                event.kind == EventKind.RECORDING_READY
                and url
                and self._works_once(event)
                and url not in self._fetching
                and url not in self._in_custody
            ):
                return url, event.recording_duration
        return None

    def _works_once(self, event: CallEvent) -> bool:
        if self._link_once_field:
            return bool(event.recording_link_once)
        # a run from before: its events said so in extra; the field, in events since
        return bool(event.recording_link_once) or (
            event.extra.get(LEGACY_ONE_TIME_LINK_FLAG) == "1"
        )

    async def _fetch_one_time_links(self, data: CallInput) -> None:
        """Runs beside the call: a one-time link is fetched the moment it arrives, before the
        call is written (a second fetch would find it gone)."""
        while True:
            await workflow.wait_condition(lambda: self._one_time_link() is not None)
            link = self._one_time_link()
            assert link is not None
            await self._fetch(data, link[0], call_id=None, duration=link[1], once=True)

    async def _fetch(
        self,
        data: CallInput,
        url: str | None,
        *,
        call_id: int | None,
        duration: int | None,
        call: ActionCall | None = None,
        once: bool = False,
    ) -> FetchedRecording:
        """Keep the file behind a link (when the channel keeps files, or the link works once;
        without a link, the one the PBX's API gives), retrying with back-off while the PBX has
        no file yet; what could not be had comes back as "failed"."""
        key = url or ASKED_LINK
        self._fetching.add(key)
        # the fetch gives up itself after the channel's attempts (else the installation's)
        own_limits = workflow.patched(CHANNEL_RECORDING_LIMITS_PATCH)
        attempts = data.recording_fetch_attempts
        bound = max(attempts, FETCH_ATTEMPTS_CEILING) if own_limits else attempts
        try:
            fetched: FetchedRecording = await workflow.execute_activity(
                "fetch_recording",
                FetchRecordingInput(
                    data.channel_id,
                    url,
                    call_id,
                    duration,
                    call,
                    session_id=data.session_id,
                    link_once=once,
                    fetch_attempts=attempts if own_limits else None,
                ),
                start_to_close_timeout=FETCH_TIMEOUT,
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=data.recording_retry_seconds),
                    backoff_coefficient=2.0,
                    maximum_interval=timedelta(minutes=5),
                    maximum_attempts=bound,
                ),
                result_type=FetchedRecording,
            )
        except ActivityError as error:
            cause = error.cause
            code, reason = "error", str(cause or error)
            if isinstance(cause, ApplicationError):
                reason = cause.message
                code = str(cause.details[0]) if cause.details else cause.type or code
            workflow.logger.warning("recording of %s not fetched: %s", data.session_id, reason)
            fetched = FetchedRecording(
                mode="keep_file",
                status="failed",
                error_code=code,
                error=f"{reason} (gave up after {bound} attempts)",
            )
        self._fetched[key] = fetched
        return fetched

    def _recording_key(self, summary: CallSummary) -> str | None:
        """The call's recording as the run keeps it: its link, or the PBX's API's one."""
        if summary.recording_url:
            return summary.recording_url
        return ASKED_LINK if self._asks_pbx and summary.recording_announced else None

    def _late_recording(self, result: CallResult) -> list[CallEvent]:
        """The events since the recording was last decided about, when they bring another
        recording to a written call (one uploaded through the API is stored already)."""
        decided, seen = self._recording_decided
        key = self._recording_key(summarize(self._events))
        if result.call_id is None or key in (None, decided) or key in self._in_custody:
            return []
        return self._events[seen:]

    async def _keep_recording(self, data: CallInput, result: CallResult) -> CallResult:
        """The written call's recording, kept as its channel says: the file (fetched now, or
        already when the link was one-time), the link, or nothing; the outcome goes on the
        call."""
        summary = summarize(self._events)
        self._recording_decided = (self._recording_key(summary), len(self._events))
        url = summary.recording_url
        if result.call_id is None or (url and url in self._in_custody):
            return result
        if not url and not (self._asks_pbx and summary.recording_announced):
            return result
        key = url or ASKED_LINK
        if key in self._fetching:
            await workflow.wait_condition(lambda: key in self._fetched)
            fetched = self._fetched[key]
        else:
            fetched = await self._fetch(
                data,
                url,
                call_id=result.call_id,
                duration=summary.recording_duration,
                # the PBX's API may be the way to the file, with or without a link
                call=_action_call(data.session_id, summary),
            )
        kept: KeptRecording = await _store_activity(
            "keep_recording", KeepRecordingInput(result.call_id, url, fetched), KeptRecording
        )
        return replace(result, recording_status=kept.status, recording_error=kept.error)

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
        catch_up = workflow.patched(LATE_EVENTS_PATCH)
        while result.outcome == "call":
            written = result.events if catch_up else len(self._events)
            # what came while the call was written (the recording, perhaps) is written now
            if len(self._events) == written:
                if not _recording_awaited(summarize(self._events), asks_pbx=self._asks_pbx):
                    break
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
        # the events this write is made of (more may come while its activities run)
        written = len(self._events)
        owner, skip = await self._resolve_employee(data, summary)
        # the PBX itself may say the call is not to be recorded (e.g. a channel setting)
        if summary.skip_reason:
            skip = SkipReason("pbx", summary.skip_reason)
        employee_id = owner.employee_id if owner else None
        owner_extension = owner.extension if owner else None
        self._index(summary, kind if skip is None else "skipped", owner_extension)
        if skip is not None:
            # kept with its reason, never dropped silently
            if workflow.patched(SKIPPED_CALLS_PATCH):
                await self._save_skipped(data, summary, skip)
            return CallResult("skipped", reason=skip.detail, reason_code=skip.code, events=written)

        contact_id = None
        if summary.contact_phone:
            contact = await _store_activity(
                "find_or_create_contact",
                FindOrCreateContactInput(
                    summary.contact_phone,
                    summary.contact_phone_raw,
                    summary.contact_name,
                    channel_id=data.channel_id,
                    direction=summary.direction,
                    virtual_number=summary.virtual_number,
                    line_name=summary.line_name,
                    answered_employee_id=employee_id if summary.answered else None,
                    first_directed_employee_id=self._employee_id(_first_directed(summary)),
                ),
                ContactResult,
            )
            contact_id = contact.contact_id
            self._new_contact = self._new_contact or contact.created

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
            events=written,
        )

    async def _apply_rules(self, result: CallResult) -> None:
        """The channel's rules on a written call: notifications, tasks, where it hangs."""
        if result.call_id is None or result.outcome not in ("call", "missed"):
            return
        if not workflow.patched(CALL_RULES_PATCH):
            return
        await _store_activity(
            "apply_call_rules",
            ApplyCallRulesInput(result.call_id, new_contact=self._new_contact),
            CallRulesResult,
        )

    def _employee_id(self, ref: EmployeeRef | None) -> int | None:
        """The store's id of an employee the PBX named in this call, if the store knows them."""
        for known, found in self._known:
            if ref is not None and found is not None and _same_employee(known, ref):
                return found.employee_id
        return None

    async def _resolve_employee(
        self, data: CallInput, summary: CallSummary
    ) -> tuple[FoundEmployee | None, SkipReason | None]:
        """The employee who owns the call, or why the call must not be recorded."""
        refs: list[EmployeeRef] = [summary.employee] if summary.employee else []
        refs += [ref for ref in summary.rang if ref not in refs]
        # The other party's number with no E.164 reading, all digits: perhaps an extension of
        # ours, which makes the call an internal one (asked in the same lookup, last).
        other = _other_extension(summary) if workflow.patched(SKIPPED_CALLS_PATCH) else None
        found: list[FoundEmployee | None] = []
        if refs or other:
            result = await _store_activity(
                "find_employees",
                FindEmployeesInput(data.channel_id, refs + ([other] if other else [])),
                FindEmployeesResult,
            )
            found = result.employees
            self._known = list(zip(refs, found, strict=False))
        colleague = found.pop() if other else None
        if summary.employee is not None and found[0] is None:
            return None, SkipReason(
                "unknown_employee", f"unknown employee: {summary.employee.describe()}"
            )
        if summary.employee is None and summary.rang and not any(found):
            described = ", ".join(ref.describe() for ref in summary.rang)
            return None, SkipReason("unknown_employee", f"rang only unknown employees: {described}")
        if colleague is not None and other is not None:
            return None, SkipReason(
                "internal",
                f"internal call: the other party is {other.describe()} ({colleague.name})",
            )
        if summary.contact_phone:
            own = await _store_activity(
                "find_employee_by_phone",
                FindEmployeeByPhoneInput(summary.contact_phone),
                FoundEmployee | None,
            )
            if own is not None:
                return None, SkipReason(
                    "employee_phone", f"the other party is employee {own.name}'s own phone"
                )
        return (found[0] if summary.employee is not None else None), None

    async def _save_skipped(self, data: CallInput, summary: CallSummary, skip: SkipReason) -> None:
        await _store_activity(
            "save_skipped_call",
            SaveSkippedCallInput(
                channel_id=data.channel_id,
                session_id=data.session_id,
                provider=data.provider,
                reason=skip,
                direction=summary.direction,
                contact_phone=summary.contact_phone,
                contact_phone_raw=summary.contact_phone_raw,
                virtual_number=summary.virtual_number,
                employee_extension=summary.employee.extension if summary.employee else None,
                employee_pbx_id=summary.employee.pbx_user_id if summary.employee else None,
                started_at=summary.started_at,
                ended_at=summary.ended_at,
                extra=summary.extra,
            ),
            int,
        )

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

    async def _open_api_call(self, request: ApiCallRequest) -> ApiCallAnswer:
        assert self._input is not None
        data, summary = self._input, summarize(self._events)
        opened = await _store_activity(
            "open_api_call",
            OpenApiCallInput(
                data.channel_id,
                data.session_id,
                data.provider,
                summary.direction,
                summary.contact_phone,
                summary.contact_phone_raw,
                summary.started_at,
            ),
            OpenedApiCall,
        )
        ticket_id = await _store_activity(
            "open_ticket",
            OpenTicketInput(opened.call_id, request.department, request.employee_id),
            int,
        )
        self._call_id = self._call_id or opened.call_id
        return ApiCallAnswer(
            call_id=opened.call_id,
            ticket_id=ticket_id,
            call_status=opened.status or request.call_status,
            employee_id=opened.employee_id,
            employee_pbx_id=opened.employee_pbx_id,
            recording_sha256=opened.recording_sha256,
        )

    async def _apply_api_request(
        self, request: ApiCallRequest, current: ApiCallAnswer
    ) -> ApiCallAnswer:
        status = next_status(current.call_status, request.call_status)
        await _store_activity(
            "apply_api_request",
            ApplyApiRequestInput(
                call_id=current.call_id,
                ticket_id=current.ticket_id,
                call_status=status,
                request_key=request.key,
                employee_id=request.employee_id,
                employee_pbx_id=request.employee_pbx_id,
                comment=request.comment,
                audio=request.audio,
            ),
            None,
        )
        return replace(
            current,
            call_status=status,
            employee_id=request.employee_id or current.employee_id,
            employee_pbx_id=request.employee_pbx_id or current.employee_pbx_id,
            recording_sha256=request.audio.sha256 if request.audio else current.recording_sha256,
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


def _same_employee(a: EmployeeRef, b: EmployeeRef) -> bool:
    return bool(
        (a.extension and a.extension == b.extension)
        or (a.pbx_user_id and a.pbx_user_id == b.pbx_user_id)
    )


def _first_directed(summary: CallSummary) -> EmployeeRef | None:
    """The employee the call was first directed to: the first leg rung (by the PBX's clock, then
    arrival), else the first the PBX said it rang, else the call's own employee (its caller)."""
    dated = [(leg.rang_at, index) for index, leg in enumerate(summary.legs) if leg.rang_at]
    if dated:
        return summary.legs[min(dated)[1]].employee
    if summary.legs:
        return summary.legs[0].employee
    return summary.rang[0] if summary.rang else summary.employee
