"""Routing latency: UIS interactive call processing (the PBX waits on it) vs the /healthz route.

Both go through the same in-process ASGI app, one request at a time, in the same run, so the
ratio says what answering a routing question costs on top of the HTTP stack itself: the channel
read, the spec (parse, recognise, validate), the store read in a thread under the deadline, the
reply template. The store is SQLite with `--contacts` contacts, each with a responsible. No
Temporal server is needed: a routing question emits no events.
Prints one JSON line. Run: .venv/bin/python bench/routing.py [--requests N] [--contacts N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable

import httpx

from api.app import create_app
from api.context import ApiContext
from api.temporal import TemporalGateway
from crm import EmployeeLink, Store
from providers.spec_loader import load_specs
from workflows.starter import CallSettings

Send = Callable[[int], Awaitable[httpx.Response]]


async def run(requests: int, contacts: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        store = Store(f"sqlite:///{folder}/bench.db")
        store.migrate()
        channel = store.create_channel(
            provider="uis", name="bench", settings={"forward_to_responsible": "on"}
        )
        employees = [
            store.create_employee(
                name=f"Employee {i}",
                phones=[f"+7903{i:07d}"],
                links=[EmployeeLink(channel_id=channel.id, extension=str(100 + i))],
            )
            for i in range(20)
        ]
        for i in range(contacts):
            contact, _ = store.find_or_create_contact(phone=f"+7916{i:07d}", name=f"Caller {i}")
            store.set_contact_responsibles(contact.id, [employees[i % len(employees)].id])
        context = ApiContext(
            store=store,
            # never connected: a routing question delivers no events
            temporal=TemporalGateway.for_address("127.0.0.1:1", namespace="default"),
            specs=load_specs(),
            admin_key="bench",
            public_base_url="http://bench",
            task_queue="bench-routing",
            call_settings=CallSettings(recording_wait_seconds=1, max_call_seconds=60),
        )
        url = f"/hooks/uis/{channel.secret_key}/interactive"
        transport = httpx.ASGITransport(app=create_app(context))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:

            async def health(_: int) -> httpx.Response:
                return await http.get("/healthz")

            async def known(i: int) -> httpx.Response:
                form = {"call_session_id": str(i), "numa": f"7916{i % contacts:07d}"}
                return await http.post(url, data=form)

            async def unknown(i: int) -> httpx.Response:
                return await http.post(url, data={"call_session_id": str(i), "numa": "79990000000"})

            answer = (await known(1)).json()
            assert answer == {"phones": ["79030000001"]}, answer
            assert (await unknown(1)).json() == {"returned_code": 1}
            for send in (health, known, unknown):  # warm up: threads, connections, caches
                await _latencies(send, 50)
            baseline = await _latencies(health, requests)
            routed = await _latencies(known, requests)
            not_found = await _latencies(unknown, requests)
        store.close()
    return {
        "bench": "routing",
        "requests": requests,
        "contacts": contacts,
        "healthz_ms": _summary(baseline),
        "interactive_responsible_ms": _summary(routed),
        "interactive_unknown_caller_ms": _summary(not_found),
        "ratio_interactive_to_healthz_p50": round(
            statistics.median(routed) / statistics.median(baseline), 2
        ),
        "routing_timeout_ms": round(context.routing_timeout.total_seconds() * 1000),
    }


async def _latencies(send: Send, requests: int) -> list[float]:
    timings = []
    for i in range(requests):
        started = time.perf_counter()
        response = await send(i)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
    return timings


def _summary(timings: list[float]) -> dict[str, float]:
    ordered = sorted(timings)
    return {
        "p50": round(statistics.median(ordered), 3),
        "p95": round(ordered[int(len(ordered) * 0.95) - 1], 3),
        "p99": round(ordered[int(len(ordered) * 0.99) - 1], 3),
        "max": round(ordered[-1], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--contacts", type=int, default=5000)
    arguments = parser.parse_args()
    result = asyncio.run(run(arguments.requests, arguments.contacts))
    print(json.dumps(result), flush=True)
    os._exit(0)


if __name__ == "__main__":
    main()
