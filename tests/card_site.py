"""pbxhub as live call cards need it in tests: the API under uvicorn on a loopback port (SSE needs
real HTTP), the real Temporal dev server and a worker, one store; and an SSE reader."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from conftest import KEEP_ALIVE, Pbxhub
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.card_bus import CardBus
from api.context import ApiContext
from api.temporal import TemporalGateway
from crm import Store
from pbxhub.worker import build_worker
from providers.spec_loader import load_specs
from workflows.starter import CallSettings

ADMIN_KEY = "test-admin-key"


@asynccontextmanager
async def serve(context: ApiContext, app: FastAPI | None = None) -> AsyncIterator[str]:
    """The app on 127.0.0.1 (a free port) in this event loop; its base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(
            app or create_app(context),
            log_level="warning",
            lifespan="off",
            timeout_keep_alive=KEEP_ALIVE,
        )
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if serving.done():
                serving.result()
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await serving
        sock.close()


def context_for(store: Store, env: WorkflowEnvironment, task_queue: str, prefix: str) -> ApiContext:
    return ApiContext(
        store=store,
        temporal=TemporalGateway.for_client(env.client),
        specs=load_specs(),
        admin_key=ADMIN_KEY,
        public_base_url="http://testserver",
        task_queue=task_queue,
        call_settings=CallSettings(
            recording_wait_seconds=1, max_call_seconds=3600, workflow_id_prefix=prefix
        ),
        temporal_rpc_timeout=timedelta(seconds=3),
        card_keepalive_seconds=0.5,
    )


@dataclass
class LiveHub(Pbxhub):
    """pbxhub over real HTTP: its URL and its card bus too."""

    url: str = ""
    bus: CardBus | None = None


@asynccontextmanager
async def live_pbxhub(env: WorkflowEnvironment, store: Store) -> AsyncIterator[LiveHub]:
    """The API over real HTTP and a worker on a fresh task queue, on `store`."""
    task_queue = f"cards-{uuid.uuid4().hex[:8]}"
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    context = context_for(store, env, task_queue, prefix)
    app = create_app(context)
    async with (
        serve(context, app) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as http,
        build_worker(env.client, store, task_queue=task_queue, specs=context.specs),
    ):
        yield LiveHub(
            http, store, env.client, ADMIN_KEY, task_queue, prefix, url, app.state.card_bus
        )


@dataclass
class CardReader:
    """An open `/api/v1/cards/stream`: the card updates it brought, in order."""

    cards: list[dict[str, Any]] = field(default_factory=list)
    comments: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def read(self, http: httpx.AsyncClient, headers: dict[str, str]) -> None:
        async with http.stream("GET", "/api/v1/cards/stream", headers=headers) as response:
            assert response.status_code == 200, await response.aread()
            assert response.headers["content-type"].startswith("text/event-stream")
            data: list[str] = []
            async for line in response.aiter_lines():
                if line.startswith(":"):
                    self.comments += 1
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif line == "" and data:
                    self.cards.append(json.loads("".join(data)))
                    data = []
                    self.arrived.set()

    async def until(self, done: Any, seconds: float = 10) -> list[dict[str, Any]]:
        """Wait until `done(cards)` holds; the cards."""
        async with asyncio.timeout(seconds):
            while not done(self.cards):
                self.arrived.clear()
                await self.arrived.wait()
        return self.cards


@asynccontextmanager
async def reading_cards(
    http: httpx.AsyncClient, headers: dict[str, str]
) -> AsyncIterator[CardReader]:
    reader = CardReader()
    task = asyncio.create_task(reader.read(http, headers))
    await asyncio.sleep(0.3)  # connected and subscribed
    if task.done():
        task.result()
    try:
        yield reader
    finally:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
