"""How the outside world hands an event to its call's workflow: signal-with-start."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio.client import Client

from providers.events import CallEvent
from workflows.call import EVENT_SIGNAL, CallInput, CallWorkflow, call_workflow_id


@dataclass(frozen=True, kw_only=True)
class CallSettings:
    recording_wait_seconds: int
    max_call_seconds: int
    # Several pbxhub installations may share one Temporal namespace: their ids must not meet.
    workflow_id_prefix: str = "call"
    settle_seconds: int = 2


async def deliver_event(
    client: Client,
    event: CallEvent,
    *,
    task_queue: str,
    call_settings: CallSettings,
    rpc_timeout: timedelta = timedelta(seconds=5),
) -> None:
    """Signal the call's workflow, starting it if this is the first event it hears of.

    Returns only once Temporal has durably accepted the signal; raises otherwise.
    """
    await client.start_workflow(
        CallWorkflow.run,
        CallInput(
            channel_id=event.channel_id,
            provider=event.provider,
            session_id=event.session_id,
            recording_wait_seconds=call_settings.recording_wait_seconds,
            max_call_seconds=call_settings.max_call_seconds,
            settle_seconds=call_settings.settle_seconds,
        ),
        id=call_workflow_id(
            event.channel_id, event.session_id, prefix=call_settings.workflow_id_prefix
        ),
        task_queue=task_queue,
        start_signal=EVENT_SIGNAL,
        start_signal_args=[event],
        rpc_timeout=rpc_timeout,
    )
