"""The Temporal worker: CallWorkflow and its activities, bound to a store."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.worker import Worker

from activities.api_calls import ApiCallActivities
from activities.call_time import CallTimeActivities
from activities.call_writes import CallWriteActivities
from activities.calls import CallActivities
from activities.cards import CardActivities
from activities.follow_up import FollowUpActivities
from activities.pbx import PbxActivities
from activities.recordings import RecordingActivities
from crm import Store
from pbxhub.worker_metrics import WorkerMetrics
from providers.spec import ProviderSpec
from providers.spec_loader import load_specs
from workflows.call import CallWorkflow
from workflows.pbx_action import PbxActionWorkflow

# Every workflow the worker runs: the history replay tests replay on exactly these.
WORKFLOWS = (CallWorkflow, PbxActionWorkflow)


def build_worker(
    client: Client,
    store: Store,
    *,
    task_queue: str,
    threads: int = 16,
    specs: Mapping[str, ProviderSpec] | None = None,
    recordings: RecordingActivities | None = None,
    metrics: WorkerMetrics | None = None,
) -> Worker:
    """`specs`: the provider specs PBX actions are rendered from (default: providers/);
    `recordings`: where recordings are kept and how they are downloaded (default: nowhere, so
    a channel that keeps files records its recordings as failed); `metrics`: where activity
    outcomes are counted (default: not counted)."""
    specs = load_specs() if specs is None else specs
    activities = CallActivities(store)
    pbx = PbxActivities(store, specs)
    recordings = recordings or RecordingActivities(store, specs, storage=None)
    api_calls = ApiCallActivities(store)
    follow_up = FollowUpActivities(store)
    call_time = CallTimeActivities(store)
    cards = CardActivities(store)
    writes = CallWriteActivities(store)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=list(WORKFLOWS),
        activities=[
            activities.lookup_recorded_call,
            activities.lookup_skipped_call,
            activities.find_employees,
            activities.find_employee_by_phone,
            activities.find_or_create_contact,
            activities.save_call,
            activities.save_skipped_call,
            activities.attach_recording,
            writes.write_call,
            follow_up.apply_call_rules,
            call_time.apply_call_time_action,
            call_time.note_refused_action,
            api_calls.open_api_call,
            api_calls.open_ticket,
            api_calls.apply_api_request,
            pbx.send_pbx_action,
            pbx.record_pbx_action,
            recordings.fetch_recording,
            recordings.keep_recording,
            cards.publish_card,
        ],
        # Store activities are synchronous: they run in these threads, off the event loop.
        activity_executor=ThreadPoolExecutor(max_workers=threads),
        max_concurrent_activities=threads,
        interceptors=[metrics] if metrics is not None else [],
    )
