"""The Temporal worker: CallWorkflow and its activities, bound to a store."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.worker import Worker

from activities.calls import CallActivities
from crm import Store
from workflows.call import CallWorkflow


def build_worker(client: Client, store: Store, *, task_queue: str, threads: int = 16) -> Worker:
    activities = CallActivities(store)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[CallWorkflow],
        activities=[
            activities.lookup_recorded_call,
            activities.find_employees,
            activities.find_employee_by_phone,
            activities.find_or_create_contact,
            activities.save_call,
            activities.attach_recording,
        ],
        # Store activities are synchronous: they run in these threads, off the event loop.
        activity_executor=ThreadPoolExecutor(max_workers=threads),
        max_concurrent_activities=threads,
    )
