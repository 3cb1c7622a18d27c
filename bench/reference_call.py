"""What Temporal itself costs per call: a workflow taking as many signals (signal-with-start) and
running as many activities as a pbxhub call does, doing nothing else. Its worker runs as its own
process, as pbxhub's does: python -m bench.reference_call --address HOST:PORT --task-queue Q
"""

from __future__ import annotations

import argparse
import asyncio
import os
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker


@activity.defn(name="bench_nothing")
async def nothing() -> None:
    """An activity that does nothing: its cost is Temporal's."""


@workflow.defn(name="BenchReferenceCall")
class ReferenceCall:
    def __init__(self) -> None:
        self._over = False

    @workflow.signal
    def event(self, last: bool) -> None:
        self._over = self._over or last

    @workflow.run
    async def run(self, activities: int) -> None:
        await workflow.wait_condition(lambda: self._over)
        for _ in range(activities):
            await workflow.execute_activity(nothing, start_to_close_timeout=timedelta(seconds=30))


async def serve(address: str, task_queue: str) -> None:
    client = await Client.connect(address)
    async with Worker(
        client, task_queue=task_queue, workflows=[ReferenceCall], activities=[nothing]
    ):
        await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.address, args.task_queue))
    finally:
        os._exit(0)  # temporalio's runtime may crash the interpreter at exit (sdk-python#300)


if __name__ == "__main__":
    main()
