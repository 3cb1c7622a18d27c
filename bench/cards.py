"""Live call card latency: from a UIS webhook posted to the SSE event it causes, with 50 employees
connected to `/api/v1/cards/stream` (each the caller contact's responsible, so every card update
goes to all 50) while calls flow. pbxhub runs as its real processes (bench/stack.py) on SQLite or
PostgreSQL. Baseline in the same run: the webhook's own HTTP answer time (ingress alone), so the
ratio says what the workflow, the card activity, the store and the fan-out add. One JSON line.
Run: .venv/bin/python bench/cards.py [--calls N] [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from bench.pbx_calls import Sender, copy_call, set_up_lines, templates
from bench.stack import Stack
from crm import Store
from providers.spec_loader import load_specs

EMPLOYEES = 50
CALLER = "+79161234567"  # the UIS fixtures' caller


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def read_stream(
    http: httpx.AsyncClient, token: str, arrived: dict[tuple[str, str], list[float]]
) -> None:
    """One employee's page: the first arrival of each (session, stage)."""
    headers = {"Authorization": f"Bearer {token}"}
    async with http.stream("GET", "/api/v1/cards/stream", headers=headers) as response:
        response.raise_for_status()
        seen: set[tuple[str, str]] = set()
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                card = json.loads(line[5:])
                key = (str(card["session_id"]), str(card["stage"]))
                if key not in seen:
                    seen.add(key)
                    arrived.setdefault(key, []).append(time.perf_counter())


async def run(
    calls: int, concurrency: int, database_url: str | None, data_dir: Path
) -> dict[str, Any]:
    environment = {"PBXHUB_DATABASE_URL": database_url} if database_url else {}
    stack = Stack(data_dir, environment=environment)
    await stack.start()
    store = Store(database_url or f"sqlite:///{stack.database}")
    readers: list[asyncio.Task[None]] = []
    try:
        (template,) = [t for t in templates(load_specs(), ["uis"]) if t.name == "inbound_answered"]
        limits = httpx.Limits(max_connections=EMPLOYEES + concurrency + 10)
        async with httpx.AsyncClient(base_url=stack.api_url, timeout=60, limits=limits) as http:
            channels = await set_up_lines(http, stack.admin_key, [template.line])
            admin = {"X-API-Key": stack.admin_key}
            staff = []
            for number in range(EMPLOYEES):
                created = await http.post(
                    "/api/v1/employees", json={"name": f"Employee {number}"}, headers=admin
                )
                created.raise_for_status()
                staff.append(created.json()["id"])
            contact = await http.post(
                "/api/v1/contacts",
                json={
                    "name": "Ivan Petrov",
                    "phones": [CALLER],
                    "responsible_employee_ids": staff,
                },
                headers=admin,
            )
            contact.raise_for_status()
            arrived: dict[tuple[str, str], list[float]] = {}
            for employee_id in staff:
                token = store.issue_token(employee_id)
                assert token is not None
                readers.append(asyncio.create_task(read_stream(http, token, arrived)))
            await asyncio.sleep(2)  # all 50 connected
            assert not any(r.done() for r in readers), [r.exception() for r in readers if r.done()]

            sender = Sender(http, channels)
            sent: dict[tuple[str, str], float] = {}
            stages = (
                ("ringing", slice(0, 2)),
                ("talking", slice(2, 3)),
                ("finished", slice(3, None)),
            )
            queue = iter([copy_call(template) for _ in range(calls)])

            async def pbx() -> None:
                for call in queue:
                    (session,) = call.renamed
                    for stage, part in stages:
                        requests = call.requests[part]
                        for request in requests[:-1]:
                            await sender.post(call.template.line, request)
                        sent[(session, stage)] = time.perf_counter()
                        await sender.post(call.template.line, requests[-1])
                        await asyncio.sleep(0.5)  # a call takes time between its stages

            started = time.perf_counter()
            await asyncio.gather(*(pbx() for _ in range(concurrency)))
            elapsed = time.perf_counter() - started
            await asyncio.sleep(3)  # the last cards
            latencies = [
                when - sent[key]
                for key, arrivals in arrived.items()
                if key in sent
                for when in arrivals
            ]
            complete = sum(1 for key in sent if len(arrived.get(key, ())) == EMPLOYEES)
            webhook = sender.latencies
    finally:
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        store.close()
        stack.close()
    card_p50, card_p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    hook_p50, hook_p99 = percentile(webhook, 0.5), percentile(webhook, 0.99)
    return {
        "bench": "cards",
        "database": "postgresql" if database_url else "sqlite",
        "employees_connected": EMPLOYEES,
        "calls": calls,
        "concurrent_calls": concurrency,
        "webhooks_per_s": round(len(webhook) / elapsed, 1),
        "card_updates": len(sent),
        "delivered_to_all_50": complete,
        "sse_events": len(latencies),
        "card_p50_ms": round(card_p50 * 1000, 1),
        "card_p99_ms": round(card_p99 * 1000, 1),
        "baseline_webhook_p50_ms": round(hook_p50 * 1000, 1),
        "baseline_webhook_p99_ms": round(hook_p99 * 1000, 1),
        "card_p50_over_webhook_p50": round(card_p50 / hook_p50, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=4, help="calls in progress at once")
    parser.add_argument("--database-url", help="PostgreSQL (an empty database); default SQLite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        result = asyncio.run(run(args.calls, args.concurrency, args.database_url, Path(folder)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
