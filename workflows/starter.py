"""The client side of a call's workflow: how the outside world hands it an event (signal-with-
start) or a telephony API request (update-with-start), under one workflow id per call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from contracts.api_requests import API_UPDATE, ApiCallAnswer, ApiCallRequest
from contracts.call_time import CALL_TIME_UPDATE, CallTimeAction, CallTimeAnswer
from contracts.call_workflow import EVENT_SIGNAL, CallInput, CallState
from contracts.events import CallEvent
from workflows.call import CallWorkflow

# Temporal's default limit on a workflow id (its `limit.maxIDLength`), in bytes.
TEMPORAL_MAX_ID_BYTES: Final = 1000
# A prefix this long leaves room in `<prefix>-<channel id>-<session id>` for any 64-bit channel
# id and the longest session id (providers.canonical.MAX_SESSION_ID_BYTES, tested).
MAX_WORKFLOW_ID_PREFIX_BYTES: Final = 200


def call_workflow_id(channel_id: int, session_id: str, *, prefix: str = "call") -> str:
    """One workflow per (channel, PBX call session); the prefix tells installations apart."""
    return f"{prefix}-{channel_id}-{session_id}"


@dataclass(frozen=True, kw_only=True)
class CallSettings:
    recording_wait_seconds: int
    max_call_seconds: int
    # Several pbxhub installations may share one Temporal namespace: their ids must not meet.
    workflow_id_prefix: str = "call"
    settle_seconds: int = 2
    # how a recording the PBX has not finished saving is asked for again (CallInput's)
    recording_retry_seconds: float = 10.0
    recording_fetch_attempts: int = 10

    def __post_init__(self) -> None:
        size = len(self.workflow_id_prefix.encode("utf-8"))
        if size > MAX_WORKFLOW_ID_PREFIX_BYTES:
            raise ValueError(
                f"workflow_id_prefix: at most {MAX_WORKFLOW_ID_PREFIX_BYTES} bytes, not {size}, "
                f"so that call workflow ids fit Temporal's {TEMPORAL_MAX_ID_BYTES}"
            )


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
        _call_input(event.channel_id, event.provider, event.session_id, call_settings),
        id=call_workflow_id(
            event.channel_id, event.session_id, prefix=call_settings.workflow_id_prefix
        ),
        task_queue=task_queue,
        start_signal=EVENT_SIGNAL,
        start_signal_args=[event],
        rpc_timeout=rpc_timeout,
    )


async def send_api_request(
    client: Client,
    request: ApiCallRequest,
    *,
    channel_id: int,
    provider: str,
    session_id: str,
    task_queue: str,
    call_settings: CallSettings,
    rpc_timeout: timedelta = timedelta(seconds=30),
) -> ApiCallAnswer:
    """Hand a telephony API request to its call's workflow (starting it if need be) and wait
    for the answer: the call and ticket ids once the workflow has written them.

    Raises `WorkflowUpdateFailedError` when the workflow refuses the request, and
    `WorkflowUpdateRPCTimeoutOrCancelledError` when no answer came within `rpc_timeout`.
    """
    start = WithStartWorkflowOperation(
        CallWorkflow.run,
        _call_input(channel_id, provider, session_id, call_settings),
        id=call_workflow_id(channel_id, session_id, prefix=call_settings.workflow_id_prefix),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    answer: ApiCallAnswer = await client.execute_update_with_start_workflow(
        API_UPDATE,
        request,
        # Temporal itself answers a repeated update id with the first outcome.
        id=request.key,
        start_workflow_operation=start,
        result_type=ApiCallAnswer,
        rpc_timeout=rpc_timeout,
    )
    return answer


async def send_call_time_action(
    client: Client,
    action: CallTimeAction,
    *,
    channel_id: int,
    provider: str,
    session_id: str,
    written: bool,
    task_queue: str,
    call_settings: CallSettings,
    rpc_timeout: timedelta = timedelta(seconds=10),
) -> CallTimeAnswer:
    """Hand an employee's action to the call's workflow and wait for its answer (pending until
    the call is written). A call already `written` whose workflow has closed gets a new run,
    which amends it; a call not written has to have its workflow running (else RPCError
    NOT_FOUND: no such call in progress)."""
    workflow_id = call_workflow_id(channel_id, session_id, prefix=call_settings.workflow_id_prefix)
    if not written:
        handle = client.get_workflow_handle(workflow_id)
        answer: CallTimeAnswer = await handle.execute_update(
            CALL_TIME_UPDATE,
            action,
            id=action.key,
            result_type=CallTimeAnswer,
            rpc_timeout=rpc_timeout,
        )
        return answer
    start = WithStartWorkflowOperation(
        CallWorkflow.run,
        _call_input(channel_id, provider, session_id, call_settings),
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    answer = await client.execute_update_with_start_workflow(
        CALL_TIME_UPDATE,
        action,
        id=action.key,
        start_workflow_operation=start,
        result_type=CallTimeAnswer,
        rpc_timeout=rpc_timeout,
    )
    return answer


async def call_state(client: Client, workflow_id: str) -> CallState:
    """The call as its workflow sees it now (RPCError NOT_FOUND: no workflow with that id)."""
    state: CallState = await client.get_workflow_handle(workflow_id).query(CallWorkflow.state)
    return state


def _call_input(
    channel_id: int, provider: str, session_id: str, call_settings: CallSettings
) -> CallInput:
    return CallInput(
        channel_id=channel_id,
        provider=provider,
        session_id=session_id,
        recording_wait_seconds=call_settings.recording_wait_seconds,
        max_call_seconds=call_settings.max_call_seconds,
        settle_seconds=call_settings.settle_seconds,
        recording_retry_seconds=call_settings.recording_retry_seconds,
        recording_fetch_attempts=call_settings.recording_fetch_attempts,
    )
