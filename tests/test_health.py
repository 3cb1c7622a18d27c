"""/healthz says the process answers; /readyz says whether it can take calls, 503 naming what
is unreachable: a Temporal nobody listens for, a database nobody answers for (real sockets on
127.0.0.1, no server behind them)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from conftest import Pbxhub, unreachable_temporal
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.context import ApiContext
from api.temporal import TemporalGateway
from crm import Store
from workflows.starter import CallSettings


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: nothing listens there


@asynccontextmanager
async def api(store: Store, temporal: TemporalGateway) -> AsyncIterator[httpx.AsyncClient]:
    context = ApiContext(
        store=store,
        temporal=temporal,
        specs={},
        admin_key="admin-key-for-health",
        public_base_url="http://testserver",
        task_queue="health",
        call_settings=CallSettings(recording_wait_seconds=1, max_call_seconds=60),
    )
    transport = httpx.ASGITransport(app=create_app(context))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
    await temporal.aclose()


async def test_with_temporal_and_the_database_up_pbxhub_is_ready(pbxhub: Pbxhub) -> None:
    ready = await pbxhub.http.get("/readyz")
    health = await pbxhub.http.get("/healthz")

    assert (ready.status_code, ready.json()) == (200, {"status": "ready", "unavailable": {}})
    assert (health.status_code, health.json()) == (200, {"status": "ok"})


async def test_with_temporal_unreachable_readyz_answers_503_naming_temporal(
    tmp_path: Path,
) -> None:
    store = Store(f"sqlite:///{tmp_path / 'pbxhub.db'}")
    store.migrate()
    async with api(store, unreachable_temporal()) as http:
        ready = await http.get("/readyz")
        health = await http.get("/healthz")

    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "unavailable"
    assert list(body["unavailable"]) == ["temporal"]
    assert "connect" in body["unavailable"]["temporal"]
    assert health.status_code == 200  # the process itself is up
    store.close()


async def test_with_the_database_unreachable_readyz_answers_503_naming_the_database(
    temporal_env: WorkflowEnvironment,
) -> None:
    password = "not-to-be-shown"
    store = Store(f"postgresql+psycopg://pbxhub:{password}@127.0.0.1:{closed_port()}/pbxhub")
    async with api(store, TemporalGateway.for_client(temporal_env.client)) as http:
        ready = await http.get("/readyz")

    assert ready.status_code == 503
    body = ready.json()
    assert list(body["unavailable"]) == ["database"]
    assert password not in ready.text
    store.close()
