"""A call's timeline: every event its PBX sent, in the order pbxhub received them, read from the
histories of the call's workflow runs (signals and telephony API updates; what a run carries
over to the next it had received already). pbxhub keeps no copy of the events itself: once
Temporal's retention has dropped the histories, the page says so."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.service import RPCError

from api.context import ApiContext
from api.temporal import TemporalUnavailable
from contracts.api_requests import API_UPDATE, ApiCallRequest
from contracts.call_workflow import EVENT_SIGNAL
from contracts.events import CallEvent
from workflows.starter import call_workflow_id

# A call has one run, a few when late news came; more are not read.
MAX_RUNS: Final = 10


@dataclass(frozen=True)
class TimelineEntry:
    received_at: datetime
    event: CallEvent
    # the same webhook delivered again (the workflow dropped it)
    repeated: bool = False


@dataclass(frozen=True)
class Timeline:
    entries: list[TimelineEntry] = field(default_factory=list)
    # why there is no timeline to show, when there is none
    note: str | None = None


async def read_timeline(context: ApiContext, channel_id: int, session_id: str) -> Timeline:
    workflow_id = call_workflow_id(
        channel_id, session_id, prefix=context.call_settings.workflow_id_prefix
    )

    async def read(client: Client) -> list[tuple[datetime, CallEvent]]:
        received: list[tuple[datetime, CallEvent]] = []
        runs = client.list_workflows(f'WorkflowId = "{workflow_id}"', limit=MAX_RUNS)
        async for run in runs:
            handle = client.get_workflow_handle(workflow_id, run_id=run.run_id)
            async for event in handle.fetch_history_events():
                received += await _events_of(client.data_converter, event)
        return received

    try:
        received = await context.temporal.call(read)
    except (RPCError, TemporalUnavailable) as error:
        return Timeline(note=f"The PBX's events cannot be read now ({type(error).__name__}).")
    if not received:
        return Timeline(note="No events kept: Temporal keeps a call's history for a while only.")
    received.sort(key=lambda pair: pair[0])
    seen: set[str] = set()
    entries = []
    for at, event in received:
        entries.append(TimelineEntry(at, event, repeated=event.idempotency_key in seen))
        seen.add(event.idempotency_key)
    return Timeline(entries)


async def _events_of(
    converter: DataConverter, event: HistoryEvent
) -> list[tuple[datetime, CallEvent]]:
    """The PBX's events one history event carries, with when pbxhub received them."""
    at = event.event_time.ToDatetime(tzinfo=UTC)
    if event.HasField("workflow_execution_signaled_event_attributes"):
        signal = event.workflow_execution_signaled_event_attributes
        if signal.signal_name != EVENT_SIGNAL:
            return []
        (call_event,) = await converter.decode(signal.input.payloads, [CallEvent])
        return [(at, call_event)]
    if event.HasField("workflow_execution_update_accepted_event_attributes"):
        request = event.workflow_execution_update_accepted_event_attributes.accepted_request
        if request.input.name != API_UPDATE:
            return []
        (api_request,) = await converter.decode(request.input.args.payloads, [ApiCallRequest])
        return [(at, carried) for carried in api_request.events]
    return []
