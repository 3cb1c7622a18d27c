"""CallWorkflow: follows one PBX call session from its first event to its recording, durably.

The call's lifecycle lives here (collect, settle, write, follow up, keep the recording, hand
late news to a continued run); writing is workflows.call_writing, recording custody
workflows.custody, the telephony API's requests workflows.api_requests, and starting and
signalling the workflow from outside workflows.starter.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.calls import CallActivities
    from contracts.api_requests import (
        ACTIONS,
        API_UPDATE,
        CALL_STATUSES,
        ApiCallAnswer,
        ApiCallRequest,
    )
    from contracts.call_time import CALL_TIME_UPDATE, KINDS, CallTimeAction, CallTimeAnswer
    from contracts.call_workflow import EVENT_SIGNAL, CallInput, CallResult, CallState
    from contracts.events import CallEvent, EventKind
    from contracts.messages import LookupRecordedCallInput, SkipReason
    from workflows.api_requests import apply_api_request, open_api_call
    from workflows.call_events import CallEvents
    from workflows.call_time import CallTimeDesk
    from workflows.call_writing import CallWriter
    from workflows.cards import CARD_REFRESH_PATCH, LIVE_CARDS_PATCH, CardPublisher
    from workflows.custody import (
        LATE_RECORDING_PATCH,
        ONE_TIME_LINK_PATCH,
        RECORDING_CUSTODY_PATCH,
        RECORDING_LINK_PATCH,
        RecordingCustody,
    )
    from workflows.search_attributes import index_call, index_channel
    from workflows.store_activity import store_activity

# Events that came while the call was being written are written too, even when they already
# brought the recording the follow-up would otherwise wait for.
LATE_EVENTS_PATCH = "follow-up-events-during-write"
# A run started by stragglers of a session kept as skipped (its recording, after it closed)
# that never become a call leaves it skipped instead of writing an incomplete call.
SKIPPED_STRAGGLERS_PATCH = "skipped-call-stragglers"
# A call's events of the same moment fold in one canonical order, not in arrival order (a
# redelivered or reordered call is written the same); runs from before keep arrival order.
CANONICAL_ORDER_PATCH = "canonical-event-order"


@workflow.defn
class CallWorkflow:
    """One call session: collect events (any order, duplicates dropped), then write the call."""

    @workflow.init
    def __init__(self, data: CallInput) -> None:
        # Set here, not in `run`: an update that starts the workflow is handled before `run`.
        self._input = data
        # Decided first, before any signal or update is folded, so the whole run agrees.
        canonical = workflow.patched(CANONICAL_ORDER_PATCH)
        self._events = CallEvents(data.carried, canonical=canonical)
        self._result: CallResult | None = None
        self._writer = CallWriter(data, self._events)
        self._custody = RecordingCustody(data, self._events)
        self._cards = CardPublisher(data, self._events)
        # The telephony API's view of the call; requests are applied one at a time.
        self._api: ApiCallAnswer | None = None
        self._api_lock = asyncio.Lock()
        # What employees do with the call meanwhile, applied once it is written.
        self._desk = CallTimeDesk(self._events)

    @workflow.signal(name=EVENT_SIGNAL)
    def call_event(self, event: CallEvent) -> None:
        # The same webhook delivered twice carries the same key: it changes nothing.
        self._events.add(event)

    @workflow.update(name=API_UPDATE)
    async def api_request(self, request: ApiCallRequest) -> ApiCallAnswer:
        """A telephony API request: its events join the others; the call and its ticket are
        opened once; a repeated request changes nothing and gets the same answer."""
        repeated = not self._events.remember(request.key)
        if request.action == "create_call":
            self._cards.target(request.target_employee_ids)
        for event in request.events:
            self.call_event(event)
            if request.audio is not None and event.recording_url:
                self._custody.take_uploaded(event.recording_url)
        async with self._api_lock:
            if self._api is None:
                self._api = await open_api_call(self._input, self._events.summary, request)
                self._writer.call_id = self._writer.call_id or self._api.call_id
            if not repeated:
                self._api = await apply_api_request(request, self._api)
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

    @workflow.update(name=CALL_TIME_UPDATE)
    async def call_time_action(self, action: CallTimeAction) -> CallTimeAnswer:
        """An employee's comment, task or contact: applied now, or once the call is written."""
        if action.call_written:
            await workflow.wait_condition(
                lambda: self._writer.call_id is not None or self._result is not None
            )
        if self._writer.call_id is None and self._result is not None:
            raise ApplicationError(
                f"the call was not recorded ({self._result.reason or self._result.outcome})",
                type="CallNotRecorded",
                non_retryable=True,
            )
        answer = await self._desk.take(action, self._writer.call_id)
        if action.kind == "contact" and workflow.patched(CARD_REFRESH_PATCH):
            self._cards.refresh()  # the card shows the contact just made or renamed
        return answer

    @call_time_action.validator
    def _check_call_time_action(self, action: CallTimeAction) -> None:
        if action.kind not in KINDS:
            raise ValueError(f"kind {action.kind!r} is not one of {', '.join(KINDS)}")

    @workflow.query
    def state(self) -> CallState:
        summary = self._events.summary
        return CallState(
            channel_id=self._input.channel_id,
            session_id=self._input.session_id,
            events=len(self._events),
            kinds=[event.kind for event in self._events],
            over=summary.over,
            answered=summary.answered,
            direction=summary.direction,
            contact_phone=summary.contact_phone,
            employee_extension=summary.employee.extension if summary.employee else None,
            employee_pbx_id=summary.employee.pbx_user_id if summary.employee else None,
            recording_url=summary.recording_url,
            outcome=self._result.outcome if self._result else None,
            call_id=self._writer.call_id,
            reason=self._result.reason if self._result else None,
            legs=[leg.as_call_leg() for leg in summary.legs],
        )

    @workflow.run
    async def run(self, data: CallInput) -> CallResult:
        self._input = data
        custody = workflow.patched(RECORDING_CUSTODY_PATCH)
        self._custody.start(
            data,
            asks_pbx=custody and workflow.patched(RECORDING_LINK_PATCH),
            link_once_field=custody and workflow.patched(ONE_TIME_LINK_PATCH),
        )
        watcher = asyncio.create_task(self._custody.fetch_one_time_links()) if custody else None
        try:
            result = await self._run(data)
            if custody:
                result = self._result = await self._custody.keep(result)
                await workflow.wait_condition(workflow.all_handlers_finished)
        finally:
            if watcher is not None:
                watcher.cancel()
        late = self._custody.late_recording(result) if custody else []
        if late and workflow.patched(LATE_RECORDING_PATCH):
            # nothing accepted is lost: a fresh run amends the written call with it
            workflow.continue_as_new(replace(data, carried=late))
        return result

    async def _run(self, data: CallInput) -> CallResult:
        """The call written (or amended), its follow-up done; its recording is kept after."""
        index_channel(data.provider, data.channel_id)
        # A call an earlier run already wrote (its workflow closed, then a late or repeated
        # webhook started this one) is amended, never written again.
        recorded = await store_activity(
            CallActivities.lookup_recorded_call,
            LookupRecordedCallInput(data.channel_id, data.session_id),
        )
        if recorded is not None:
            self._writer.call_id = recorded.call_id
            self._result = await self._writer.amend(recorded.recording_url)
            await self._desk.apply_waiting(self._writer.call_id)
            await workflow.wait_condition(workflow.all_handlers_finished)
            return self._result
        cards = (
            asyncio.create_task(self._cards.run()) if workflow.patched(LIVE_CARDS_PATCH) else None
        )
        try:
            return await self._collect_and_write(data)
        finally:
            if cards is not None:
                await self._close_card(cards)

    async def _close_card(self, cards: asyncio.Task[None]) -> None:
        """The final card published (when the call ended), or its publishing given up."""
        if self._events.summary.over and not cards.done():
            await cards
        elif not cards.done():
            cards.cancel()

    async def _collect_and_write(self, data: CallInput) -> CallResult:
        """A new call: its events collected until it is over, then written and followed up."""
        over_in_time = True
        try:
            await workflow.wait_condition(
                lambda: self._events.summary.over,
                timeout=timedelta(seconds=data.max_call_seconds),
            )
        except TimeoutError:
            over_in_time = False
            skipped = await self._skipped_before(data)
            if skipped is not None:
                index_call(self._events.summary, "skipped", None)
                self._result = CallResult(
                    "skipped",
                    reason=skipped.detail,
                    reason_code=skipped.code,
                    events=len(self._events),
                )
                await self._desk.apply_waiting(None)
                await workflow.wait_condition(workflow.all_handlers_finished)
                return self._result
        if over_in_time:
            await self._settle(data)
        self._result = await self._writer.record(
            self._events.summary,
            incomplete=not over_in_time,
            # with nothing the employee chose waiting, the rules go with the write
            with_rules=not self._desk.waiting,
        )
        # before the channel's rules: a task the employee chose is where the call hangs
        await self._desk.apply_waiting(self._writer.call_id)
        await self._writer.apply_rules(self._result)
        if over_in_time:
            self._result = await self._follow_up(data, self._result)
        # A telephony API request still being answered must get its answer.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._result

    async def _skipped_before(self, data: CallInput) -> SkipReason | None:
        """Why an earlier run kept this session as a skipped call, if one did."""
        if not workflow.patched(SKIPPED_STRAGGLERS_PATCH):
            return None
        return await store_activity(
            CallActivities.lookup_skipped_call,
            LookupRecordedCallInput(data.channel_id, data.session_id),
        )

    async def _settle(self, data: CallInput) -> None:
        """Wait until no new event came for `settle_seconds` (stragglers of the same moment)."""
        for _ in range(30):  # bounded: a PBX that never stops talking still gets its call written
            seen = len(self._events)
            try:
                await workflow.wait_condition(
                    self._events.news_since(seen), timeout=timedelta(seconds=data.settle_seconds)
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
                if not self._custody.awaits_recording():
                    break
                remaining = deadline - workflow.now()
                if remaining <= timedelta(0):
                    workflow.logger.info("no recording for %s within the wait", data.session_id)
                    break
                try:
                    await workflow.wait_condition(
                        self._events.news_since(written), timeout=remaining
                    )
                except TimeoutError:
                    workflow.logger.info("no recording for %s within the wait", data.session_id)
                    break
            await self._settle(data)
            # The store upserts: writing the whole call again adds what the new events said.
            result = await self._writer.record(self._events.summary, incomplete=False)
        return result
