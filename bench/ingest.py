"""Ingest benchmark: whole calls of every provider over real HTTP into pbxhub's own processes,
against Temporal's own costs measured in the same run on the same servers.

Starts the stack on embedded defaults (the Temporal dev server on its SQLite file, `pbxhub api`
and `pbxhub worker`), or targets a running one (--api-url, --temporal-address, --admin-key).
N calls per fixture scenario (fresh session ids; signed where the PBX signs), posted by C PBXs at
once. Measures webhooks accepted/s, ingress latency, webhook → record visible, calls recorded/s,
the drain after the load, history events and activities per call, RSS of the API and worker.
Baselines: bare signal-with-start of the same events (bench/ingress.py's measure), a bare
FastAPI endpoint parsing the same bodies, and a reference workflow with the same signals and
activities doing nothing (bench/reference_call.py). Prints one JSON line.

Run: .venv/bin/python bench/ingest.py [--calls-per-scenario 40] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bench.ingress as ingress  # noqa: E402
from bench.pbx_calls import (  # noqa: E402
    CallCopy,
    Sender,
    all_records,
    copy_call,
    mapped_events,
    set_up_lines,
    templates,
)
from bench.stack import Stack, free_port, rss_mb  # noqa: E402
from providers.spec_loader import load_specs  # noqa: E402
from workflows.starter import CallSettings, call_workflow_id, deliver_event  # noqa: E402


@dataclass(frozen=True)
class Target:
    """A running pbxhub to measure, instead of one started here."""

    api_url: str
    temporal_address: str
    admin_key: str


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(value: float) -> float:
    return round(value * 1000, 1)


async def throughput(send: Callable[[int], Awaitable[None]], count: int, concurrency: int) -> float:
    """bench/ingress.py's measure (its `_throughput`) at this run's concurrency."""
    ingress.CONCURRENCY = concurrency
    return await ingress._throughput(send, count)


async def watch_records(
    http: httpx.AsyncClient, admin_key: str, seen: dict[str, float], stop: asyncio.Event
) -> None:
    """When each call's record first shows in the API (polled every 0.3 s, as a CRM page would)."""
    while not stop.is_set():
        try:
            for record in await all_records(http, admin_key):
                seen.setdefault(str(record["session_id"]), time.monotonic())
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.3)


async def watch_rss(pids: Callable[[], list[int]], peak: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        for i, pid in enumerate(pids()):
            peak[i] = max(peak[i], rss_mb(pid))
        await asyncio.sleep(0.5)


async def history_per_call(client: Client, workflow_ids: Sequence[str]) -> tuple[float, float]:
    """Mean history events and activities scheduled per call workflow (as far as each has come)."""
    events, activities = [], []
    for workflow_id in workflow_ids:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        events.append(len(history.events))
        activities.append(
            sum(
                e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED for e in history.events
            )
        )
    return statistics.mean(events or [0]), statistics.mean(activities or [0])


async def bare_endpoint_rate(calls: Sequence[CallCopy], channels: Any, concurrency: int) -> float:
    """The same requests to a bare FastAPI endpoint served by uvicorn in its own process."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.bare_endpoint:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
    )
    requests = [(call.template.line, r) for call in calls for r in call.requests]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            for _ in range(100):
                try:
                    await http.get("/")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.2)
            sender = Sender(http, channels)

            async def send(i: int) -> None:
                await sender.post(*requests[i])

            return await throughput(send, len(requests), concurrency)
    finally:
        server.terminate()
        server.wait()


async def signal_with_start_rate(
    client: Client, calls: Sequence[CallCopy], concurrency: int
) -> float:
    """The same calls' events signal-with-started straight to Temporal (no worker: acceptance)."""
    specs = load_specs()
    settings = CallSettings(
        recording_wait_seconds=1, max_call_seconds=60, workflow_id_prefix=uuid.uuid4().hex[:12]
    )
    events = [
        replace(event, session_id=f"b{i}-{event.session_id}")
        for i, call in enumerate(calls)
        for request in call.requests
        for event in mapped_events(specs[call.template.line.provider], call.template.line, request)
    ]

    async def send(i: int) -> None:
        await deliver_event(
            client,
            events[i],
            task_queue="bench-bare",
            call_settings=settings,
            rpc_timeout=timedelta(seconds=10),
        )

    return await throughput(send, len(events), concurrency)


async def reference_rate(
    client: Client, address: str, signals: Sequence[int], activities: int, concurrency: int
) -> float:
    """Calls/s of the do-nothing reference workflow: `signals[i]` signals for call i, then
    `activities` activities, on its own worker process."""
    queue = f"bench-reference-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    worker = subprocess.Popen(
        [sys.executable, "-m", "bench.reference_call", "--address", address, "--task-queue", queue],
        env=env,
    )
    prefix = uuid.uuid4().hex[:8]
    jobs = [(call, n) for call, count in enumerate(signals) for n in range(count)]
    try:
        started = time.monotonic()

        async def send(i: int) -> None:
            call, n = jobs[i]
            await client.start_workflow(
                "BenchReferenceCall",
                activities,
                id=f"ref-{prefix}-{call}",
                task_queue=queue,
                start_signal="event",
                start_signal_args=[n == signals[call] - 1],
            )

        await throughput(send, len(jobs), concurrency)
        query = f"WorkflowType='BenchReferenceCall' AND WorkflowId STARTS_WITH 'ref-{prefix}-'"
        while True:
            done = await client.count_workflows(query + " AND ExecutionStatus='Completed'")
            if done.count >= len(signals):
                return len(signals) / (time.monotonic() - started)
            await asyncio.sleep(0.3)
    finally:
        worker.terminate()
        worker.wait()


async def run(
    calls_per_scenario: int, concurrency: int, target: Target | None, data_dir: Path
) -> dict[str, Any]:
    stack = None
    if target is None:
        stack = Stack(data_dir)
        await stack.start()
        target = Target(stack.api_url, f"127.0.0.1:{stack.temporal_port}", stack.admin_key)
    client = await Client.connect(target.temporal_address)
    chosen = templates(load_specs())
    try:
        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(base_url=target.api_url, timeout=30, limits=limits) as http:
            lines = {t.line.provider: t.line for t in chosen}.values()
            channels = await set_up_lines(http, target.admin_key, lines)
            seen: dict[str, float] = {}
            stop = asyncio.Event()
            watcher = asyncio.create_task(watch_records(http, target.admin_key, seen, stop))

            # Warm-up and what to expect: one copy of each scenario; those that got a record.
            warm = [copy_call(t) for t in chosen]
            sender = Sender(http, channels)
            for call in warm:
                for request in call.requests:
                    await sender.post(call.template.line, request)
            await _until(lambda: all(s in seen for c in warm for s in c.renamed), timeout=60)
            recording = {
                c.template.name + c.template.line.provider
                for c in warm
                if any(s in seen for s in c.renamed)
            }

            calls = [copy_call(t) for t in chosen for _ in range(calls_per_scenario)]
            expected = [c for c in calls if c.template.name + c.template.line.provider in recording]
            finished: dict[str, float] = {}
            peak = [0.0, 0.0]

            def pids() -> list[int]:
                processes = (stack.api, stack.worker) if stack else ()
                return [p.pid for p in processes if p is not None]

            rss = asyncio.create_task(watch_rss(pids, peak, stop))
            sender = Sender(http, channels)
            queue = iter(calls)

            async def pbx() -> None:
                for call in queue:
                    for request in call.requests:
                        await sender.post(call.template.line, request)
                    for session in call.renamed:
                        finished[session] = time.monotonic()

            load_started = time.monotonic()
            await asyncio.gather(*(pbx() for _ in range(concurrency)))
            load_ended = time.monotonic()
            sessions = [s for c in expected for s in c.renamed]
            await _until(lambda: all(s in seen for s in sessions), timeout=600)
            stop.set()
            await asyncio.gather(watcher, rss)

            visible = [seen[s] - finished[s] for s in sessions if s in seen]
            last_seen = max((seen[s] for s in sessions if s in seen), default=load_ended)
            recorded = sum(1 for s in sessions if s in seen)
            webhooks = len(sender.latencies)
            sample = [
                call_workflow_id(channels[c.template.line.provider]["id"], s)
                for c in expected[:20]
                for s in c.renamed
            ]
            events_per_call, activities_per_call = await history_per_call(client, sample)
            signals = [
                sum(
                    len(mapped_events(load_specs()[c.template.line.provider], c.template.line, r))
                    for r in c.requests
                )
                for c in expected
            ]

        bare_sws = await signal_with_start_rate(client, calls, concurrency)
        bare_http = await bare_endpoint_rate(calls, channels, concurrency)
        reference = await reference_rate(
            client, target.temporal_address, signals, round(activities_per_call), concurrency
        )
        accepted = webhooks / (load_ended - load_started)
        recorded_rate = recorded / (last_seen - load_started)
        return {
            "bench": "ingest",
            "scenarios": len(chosen),
            "calls": len(calls),
            "calls_expected_recorded": len(expected),
            "calls_recorded": recorded,
            "webhooks": webhooks,
            "concurrency": concurrency,
            "webhooks_accepted_per_s": round(accepted, 1),
            "ingress_latency_ms_p50": ms(percentile(sender.latencies, 0.5)),
            "ingress_latency_ms_p99": ms(percentile(sender.latencies, 0.99)),
            "refused_or_retried": len(sender.failures) + sender.retries,
            "record_visible_ms_p50": ms(percentile(visible, 0.5)),
            "record_visible_ms_p99": ms(percentile(visible, 0.99)),
            "calls_recorded_per_s": round(recorded_rate, 2),
            "drain_seconds_after_load": round(last_seen - load_ended, 1),
            "history_events_per_call": round(events_per_call, 1),
            "activities_per_call": round(activities_per_call, 1),
            "rss_mb_api": round(peak[0], 1),
            "rss_mb_worker": round(peak[1], 1),
            "baseline_signal_with_start_per_s": round(bare_sws, 1),
            "baseline_bare_fastapi_per_s": round(bare_http, 1),
            "baseline_reference_calls_per_s": round(reference, 2),
            "ratio_ingress_to_signal_with_start": round(accepted / bare_sws, 3),
            "ratio_ingress_to_bare_fastapi": round(accepted / bare_http, 3),
            "ratio_calls_to_reference_workflow": round(recorded_rate / reference, 3),
        }
    finally:
        if stack is not None:
            stack.close()


async def _until(done: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        await asyncio.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls-per-scenario", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--api-url", help="a running pbxhub's API (with the two below)")
    parser.add_argument("--temporal-address")
    parser.add_argument("--admin-key")
    args = parser.parse_args()
    target = None
    if args.api_url:
        if not (args.temporal_address and args.admin_key):
            parser.error("--api-url needs --temporal-address and --admin-key")
        target = Target(args.api_url, args.temporal_address, args.admin_key)
    with tempfile.TemporaryDirectory() as folder:
        result = asyncio.run(run(args.calls_per_scenario, args.concurrency, target, Path(folder)))
    print(json.dumps(result), flush=True)
    os._exit(0)  # temporalio's runtime may crash the interpreter at exit (sdk-python#300)


if __name__ == "__main__":
    main()
