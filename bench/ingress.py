"""Ingress throughput: UIS webhooks through the whole API vs bare signal-with-start.

Both run in this process against one real Temporal dev server, so the ratio says what the
ingress (HTTP, channel lookup, spec mapping, validation) costs on top of Temporal itself.
Prints one JSON line. Run: .venv/bin/python bench/ingress.py [--events N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.context import ApiContext
from api.temporal import TemporalGateway
from crm import Store
from providers.engine import ChannelContext, IncomingRequest, handle_request
from providers.spec_loader import load_specs
from workflows.search_attributes import SEARCH_ATTRIBUTES
from workflows.starter import CallSettings, deliver_event

FIXTURE = Path(__file__).parents[1] / "tests/fixtures/uis/inbound_answered/01_incoming_call.json"
CONCURRENCY = 16


async def run(events: int) -> dict[str, object]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_log_level="error",
        ui=False,
    )
    specs = load_specs()
    body = FIXTURE.read_text()
    with tempfile.TemporaryDirectory() as folder:
        store = Store(f"sqlite:///{folder}/bench.db")
        store.migrate()
        channel = store.create_channel(provider="uis", name="bench")
        # No worker runs: both sides measure acceptance (durable signal), not processing.
        settings = CallSettings(
            recording_wait_seconds=1, max_call_seconds=60, workflow_id_prefix=uuid.uuid4().hex
        )
        context = ApiContext(
            store=store,
            temporal=TemporalGateway.for_client(env.client),
            specs=specs,
            admin_key="bench",
            public_base_url="http://bench",
            task_queue="bench-ingress",
            call_settings=settings,
        )
        transport = httpx.ASGITransport(app=create_app(context))
        url = f"/hooks/uis/{channel.secret_key}/notify"

        # Baseline: the same event, mapped once, signal-with-started straight to Temporal.
        mapped = handle_request(
            specs["uis"],
            "notify",
            IncomingRequest("POST", {}, {}, body.encode()),
            ChannelContext(channel_id=channel.id),
        ).events[0]
        base_settings = replace(settings, workflow_id_prefix=uuid.uuid4().hex)

        async def direct(i: int) -> None:
            event = replace(mapped, session_id=f"d{i}", idempotency_key=f"d{i}")
            await deliver_event(
                env.client,
                event,
                task_queue="bench-ingress",
                call_settings=base_settings,
                rpc_timeout=timedelta(seconds=10),
            )

        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:

            async def through_api(i: int) -> None:
                payload = body.replace("3410000101", str(9_000_000_000 + i))
                response = await http.post(url, content=payload)
                assert response.status_code == 200, response.text

            baseline = await _throughput(direct, events)
            ingress = await _throughput(through_api, events)
        store.close()
    await env.shutdown()
    return {
        "bench": "ingress",
        "events": events,
        "concurrency": CONCURRENCY,
        "baseline_signal_with_start_per_s": round(baseline, 1),
        "ingress_per_s": round(ingress, 1),
        "ratio_ingress_to_baseline": round(ingress / baseline, 3),
    }


async def _throughput(send: object, events: int) -> float:
    queue = iter(range(events))

    async def worker() -> None:
        for i in queue:
            await send(i)  # type: ignore[operator]

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return events / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=400)
    result = asyncio.run(run(parser.parse_args().events))
    print(json.dumps(result), flush=True)
    os._exit(0)  # temporalio's runtime may crash the interpreter at exit (sdk-python#300)


if __name__ == "__main__":
    main()
