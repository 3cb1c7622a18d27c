"""PbxActionWorkflow: one request pbxhub sends to a channel's PBX (click-to-call, channel setup,
a recording link), with its retries, and the outcome kept on the channel when the action asks
for it."""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio import workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.pbx import PbxActivities
    from contracts.messages import (
        PbxActionInput,
        PbxActionResult,
        RecordPbxActionInput,
    )

__all__ = ["PbxActionWorkflow", "pbx_action_workflow_id", "start_pbx_action"]

# Someone waits on a click-to-call or a recording's link: one quick retry, then a clear
# "unreachable". A setup nobody waits on keeps trying for a few minutes (a PBX being restarted).
_WAITED_ON = RetryPolicy(maximum_attempts=2, initial_interval=timedelta(seconds=1))
_RETRIES = {"click_to_call": _WAITED_ON, "recording_link": _WAITED_ON}
_DEFAULT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=8,
)
_STORE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)
)


@workflow.defn
class PbxActionWorkflow:
    @workflow.run
    async def run(self, data: PbxActionInput) -> PbxActionResult:
        try:
            result = await workflow.execute_activity_method(
                PbxActivities.send_pbx_action,
                data,
                start_to_close_timeout=timedelta(seconds=70),
                retry_policy=_RETRIES.get(data.action, _DEFAULT_RETRY),
            )
        except ActivityError as error:
            cause = str(error.cause or error)
            result = PbxActionResult(ok=False, message=cause)
        if data.record_on_channel:
            await workflow.execute_activity_method(
                PbxActivities.record_pbx_action,
                RecordPbxActionInput(data.channel_id, data.action, result, workflow.now()),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=_STORE_RETRY,
            )
        return result


def pbx_action_workflow_id(data: PbxActionInput, *, prefix: str = "pbx") -> str:
    """A fresh id per request: each click and each setup is its own run."""
    return f"{prefix}-{data.action}-{data.channel_id}-{uuid.uuid4().hex[:12]}"


async def start_pbx_action(
    client: Client, data: PbxActionInput, *, task_queue: str, prefix: str = "pbx"
) -> PbxActionResult | None:
    """Start the action; returns None at once (the outcome goes to the channel), or, for an
    action someone waits on (not `record_on_channel`), its result."""
    handle = await client.start_workflow(
        PbxActionWorkflow.run,
        data,
        id=pbx_action_workflow_id(data, prefix=prefix),
        task_queue=task_queue,
    )
    if data.record_on_channel:
        return None
    return await handle.result()
