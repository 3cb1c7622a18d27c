"""Live call cards on PostgreSQL across API replicas: two real API processes (`pbxhub api`) on one
PostgreSQL store and one worker; an employee's stream on each gets every card update of a UIS call
in order, a stream resumes with Last-Event-ID on the other replica, and a replica whose LISTEN
connection the database dropped hears the next call as fast as before."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from card_site import ADMIN_KEY, reading_cards
from conftest import Pbxhub, scenario
from sqlalchemy import Engine, event, text
from temporalio.testing import WorkflowEnvironment

from api.card_bus import CardBus
from crm import Store
from pbxhub.child_process import start_child
from pbxhub.worker import build_worker
from providers.spec_loader import load_specs

STAFF = {"Anna Smirnova": {"extension": "101", "pbx_user_id": "28511"}}
pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


@dataclass
class Replica:
    """One `pbxhub api` process: its URL, its client, its process."""

    url: str
    http: httpx.AsyncClient
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class Replicas:
    hub: Pbxhub  # posts to the first replica
    replicas: list[Replica]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def start_replica(
    tmp_path: Path, name: str, database_url: str, temporal: str, settings: dict[str, str]
) -> Replica:
    port = free_port()
    data_dir = tmp_path / name
    data_dir.mkdir()
    command = [
        sys.executable,
        "-m",
        "pbxhub.cli",
        "api",
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
        "--database-url",
        database_url,
        "--temporal-address",
        temporal,
        "--admin-key",
        ADMIN_KEY,
    ]
    log = data_dir / "api.log"
    process = start_child(
        command, log=log, record=data_dir / "api.pid", env={**os.environ, **settings}
    )
    url = f"http://127.0.0.1:{port}"
    http = httpx.AsyncClient(base_url=url, timeout=10)
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, log.read_text(errors="replace")[-4000:]
        try:
            if (await http.get("/healthz")).status_code == 200:
                return Replica(url, http, process, log)
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, log.read_text(errors="replace")[-4000:]
        await asyncio.sleep(0.2)


def stop_replica(replica: Replica) -> None:
    if replica.process.poll() is None:
        replica.process.send_signal(signal.SIGTERM)
        try:
            replica.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            replica.process.kill()
            replica.process.wait()


@pytest.fixture
async def two_replicas(
    temporal_env: WorkflowEnvironment, database_url: str, tmp_path: Path
) -> AsyncIterator[Replicas]:
    """Two API processes and one worker (this process) on one PostgreSQL store."""
    store = Store(database_url)
    store.migrate()
    task_queue = f"cards-pg-{uuid.uuid4().hex[:8]}"
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    settings = {"PBXHUB_TASK_QUEUE": task_queue, "PBXHUB_WORKFLOW_ID_PREFIX": prefix}
    temporal = temporal_env.client.service_client.config.target_host
    replicas: list[Replica] = []
    try:
        for name in ("api-a", "api-b"):
            replicas.append(await start_replica(tmp_path, name, database_url, temporal, settings))
        async with build_worker(
            temporal_env.client, store, task_queue=task_queue, specs=load_specs()
        ):
            hub = Pbxhub(
                replicas[0].http, store, temporal_env.client, ADMIN_KEY, task_queue, prefix
            )
            yield Replicas(hub, replicas)
    finally:
        for replica in replicas:
            await replica.http.aclose()
            stop_replica(replica)
        store.close()


def token_of(hub: Pbxhub, employee: dict[str, Any]) -> dict[str, str]:
    token = hub.store.issue_token(employee["id"])
    assert token is not None
    return {"Authorization": f"Bearer {token}"}


def finished(cards: list[dict[str, Any]]) -> bool:
    return bool(cards) and cards[-1]["stage"] == "finished"


def stages(cards: list[dict[str, Any]]) -> list[str]:
    """The stages in order, repeats folded (a leg's change is an update of the same stage)."""
    folded: list[str] = []
    for card in cards:
        if not folded or folded[-1] != card["stage"]:
            folded.append(card["stage"])
    return folded


async def test_both_replicas_stream_every_card_update_in_order(two_replicas: Replicas) -> None:
    hub, (a, b) = two_replicas.hub, two_replicas.replicas
    channel, (anna,) = await hub.create_line("uis", STAFF)
    headers = token_of(hub, anna)
    async with reading_cards(a.http, headers) as on_a, reading_cards(b.http, headers) as on_b:
        bodies = scenario("uis", "inbound_answered")
        # the PBX's webhooks, all posted to A, as the call goes: rings, is answered, ends
        for stage, requests in (("ringing", bodies[:2]), ("talking", bodies[2:3])):
            await hub.deliver(channel, requests)
            for reader in (on_a, on_b):
                await reader.until(
                    lambda cards, stage=stage: cards[-1:] and cards[-1]["stage"] == stage
                )
        await hub.deliver(channel, bodies[3:])
        cards_a = await on_a.until(finished)
        cards_b = await on_b.until(finished)

    assert stages(cards_a) == ["ringing", "talking", "finished"]
    assert [card["id"] for card in cards_b] == [card["id"] for card in cards_a]
    assert cards_b == cards_a


async def test_a_stream_dropped_on_one_replica_resumes_on_the_other(
    two_replicas: Replicas,
) -> None:
    hub, (a, b) = two_replicas.hub, two_replicas.replicas
    channel, (anna,) = await hub.create_line("uis", STAFF)
    headers = token_of(hub, anna)
    bodies = scenario("uis", "inbound_answered")
    async with reading_cards(a.http, headers) as on_a:
        await hub.deliver(channel, bodies[:2])  # ringing at Anna
        seen = await on_a.until(lambda cards: len(cards) >= 1)
    last_id = seen[-1]["id"]

    await hub.deliver(channel, bodies[2:])  # talking, finished: while Anna's page is away
    resume = {**headers, "Last-Event-ID": str(last_id)}
    async with reading_cards(b.http, resume) as on_b:
        cards = await on_b.until(finished)
    assert cards[0]["id"] > last_id
    assert stages(seen + cards) == ["ringing", "talking", "finished"]


@pytest.mark.alone  # its evidence is how soon: NOTIFY within 1.5 s, not the 5 s poll
async def test_a_replica_whose_listen_connection_dropped_hears_the_next_call_at_once(
    two_replicas: Replicas, postgres_engine: Engine
) -> None:
    hub, (_, b) = two_replicas.hub, two_replicas.replicas
    channel, (anna,) = await hub.create_line("uis", STAFF)
    headers = token_of(hub, anna)
    async with reading_cards(b.http, headers) as on_b:
        listener = f"pbxhub-cards-{b.process.pid}"
        with postgres_engine.begin() as connection:
            dropped = connection.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE application_name = :name"
                ),
                {"name": listener},
            ).scalar_one()
        assert dropped == 1  # the replica's LISTEN connection, by its name
        await asyncio.sleep(1.5)  # it notices and listens again

        started = time.monotonic()
        await hub.deliver(channel, scenario("uis", "inbound_answered")[:2])
        await on_b.until(lambda cards: len(cards) >= 1, seconds=10)
        # heard by NOTIFY again, not by the slow safety-net poll
        assert time.monotonic() - started < 1.5


@asynccontextmanager
async def card_bus_on(store: Store) -> AsyncIterator[CardBus]:
    bus = CardBus(store)
    yield bus
    bus.disconnect_all()


@pytest.fixture
def store_on(database_url: str) -> Iterator[Store]:
    store = Store(database_url)
    store.migrate()
    yield store
    store.close()


async def test_a_card_committed_after_a_later_one_still_reaches_the_stream(
    store_on: Store,
) -> None:
    """Two workers' threads write cards at once: the one that took its id first but committed
    last is delivered too (a reader never skips past an id still to be committed)."""
    store = store_on
    first_in = threading.Event()
    let_go = threading.Event()

    def hold_first_commit(connection: Any) -> None:
        if threading.current_thread().name == "first" and not first_in.is_set():
            first_in.set()
            let_go.wait(5)

    event.listen(store._write_engine, "commit", hold_first_commit)
    try:
        async with card_bus_on(store) as bus:
            subscription = await bus.subscribe(7)

            def publish(key: str) -> None:
                store.publish_card({"key": key, "channel_id": 0, "stage": "ringing"}, [7])

            first = threading.Thread(target=publish, args=("0:first",), name="first")
            first.start()
            assert await asyncio.to_thread(first_in.wait, 5)
            second = threading.Thread(target=publish, args=("0:second",), name="second")
            second.start()
            await asyncio.sleep(1.0)  # the second, if it could, has been read by now
            let_go.set()
            await asyncio.to_thread(first.join)
            await asyncio.to_thread(second.join)
            got: list[str] = []
            async with asyncio.timeout(10):
                while len(got) < 2:
                    card = await subscription.queue.get()
                    assert card is not None
                    got.append(card.key)
    finally:
        event.remove(store._write_engine, "commit", hold_first_commit)
    assert sorted(got) == ["0:first", "0:second"]
