"""A long activity in a worker thread heartbeats while it works (activities/heartbeats.py): with
a heartbeat timeout far shorter than its work, it still finishes, on the real Temporal dev
server; without the beats the same attempt times out. So a worker killed mid-fetch costs a
recording a minute's wait, not the fetch's 30-minute start-to-close time."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.client import WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.heartbeats import heartbeating


@activity.defn
def slow_work(beats: bool) -> str:
    if beats:
        with heartbeating(0.2):
            time.sleep(3)
    else:
        time.sleep(3)
    return "done"


@workflow.defn(sandboxed=False)
class SlowWorkWorkflow:
    @workflow.run
    async def run(self, beats: bool) -> str:
        return await workflow.execute_activity(
            slow_work,
            beats,
            start_to_close_timeout=timedelta(minutes=5),
            heartbeat_timeout=timedelta(seconds=1),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


async def run_slow_work(env: WorkflowEnvironment, beats: bool) -> str:
    queue = f"heartbeats-{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(2) as threads:
        async with Worker(
            env.client,
            task_queue=queue,
            workflows=[SlowWorkWorkflow],
            activities=[slow_work],
            activity_executor=threads,
        ):
            return await env.client.execute_workflow(
                SlowWorkWorkflow.run, beats, id=f"slow-{queue}", task_queue=queue
            )


async def test_three_seconds_of_work_under_a_one_second_heartbeat_timeout_finishes(
    temporal_env: WorkflowEnvironment,
) -> None:
    assert await run_slow_work(temporal_env, beats=True) == "done"


async def test_the_same_work_without_heartbeats_times_out(
    temporal_env: WorkflowEnvironment,
) -> None:
    with pytest.raises(WorkflowFailureError):
        await run_slow_work(temporal_env, beats=False)


def test_outside_an_activity_the_block_just_runs() -> None:
    with heartbeating(0.01):
        time.sleep(0.05)
