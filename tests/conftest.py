"""Shared fixtures: the store on SQLite and PostgreSQL, the real Temporal servers, and pbxhub
itself (API + worker) wired to them, fresh for every test."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.recordings import RecordingActivities
from api.app import create_app
from api.context import ApiContext
from api.temporal import TemporalGateway
from crm import Store
from pbxhub.temporal_setup import ensure_search_attributes
from pbxhub.worker import build_worker
from providers.spec import load_specs
from workflows.call import SEARCH_ATTRIBUTES, CallResult, call_workflow_id
from workflows.starter import CallSettings

POSTGRES_URL = os.environ.get(
    "PBXHUB_TEST_POSTGRES_URL", "postgresql+psycopg://pbxhub:pbxhub@127.0.0.1:5432/pbxhub_test"
)


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[Engine]:
    """The test database, reachable, or every PostgreSQL test fails saying how to fix it."""
    engine = create_engine(POSTGRES_URL, poolclass=NullPool, connect_args={"connect_timeout": 5})
    problem = None
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as error:
        problem = str(error.orig).strip()
    if problem is not None:
        # Failed outside the `except`, so the report is this message, not a chain of tracebacks.
        pytest.fail(
            f"PostgreSQL at {make_url(POSTGRES_URL)!r} is unreachable: run "
            f"scripts/ensure-postgres.sh (or set PBXHUB_TEST_POSTGRES_URL). {problem}",
            pytrace=False,
        )
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a new SQLite file, or a new PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'pbxhub.db'}"
        return
    engine: Engine = request.getfixturevalue("postgres_engine")
    schema = f"test_{uuid.uuid4().hex[:16]}"
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    # Every connection of the store then creates and finds its tables in this schema only.
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A migrated store on an empty database, one per backend."""
    store = Store(database_url)
    store.migrate()
    yield store
    store.close()


# --- Temporal: the real dev server and the time-skipping test server, no downloads ---------

BIN = Path(sys.executable).parent
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server (in memory), shared by the session."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_log_level="error",
        ui=False,
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """Temporal's time-skipping test server: timers of hours pass in milliseconds."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(BIN / "temporal-test-server")
    )
    await ensure_search_attributes(env.client, env.client.namespace)
    yield env
    await env.shutdown()


@dataclass
class Pbxhub:
    """pbxhub as a PBX and a user see it: HTTP in, the store and the call workflows behind."""

    http: httpx.AsyncClient
    store: Store
    client: Client
    admin_key: str
    task_queue: str
    workflow_id_prefix: str

    async def create_channel(self, provider: str = "uis", **fields: Any) -> dict[str, Any]:
        response = await self.http.post(
            "/api/v1/channels",
            json={"provider": provider, "name": f"{provider} test line", **fields},
            headers=self.admin,
        )
        assert response.status_code == 201, response.text
        channel: dict[str, Any] = response.json()
        return channel

    async def create_employee(self, name: str, **fields: Any) -> dict[str, Any]:
        response = await self.http.post(
            "/api/v1/employees", json={"name": name, **fields}, headers=self.admin
        )
        assert response.status_code == 201, response.text
        employee: dict[str, Any] = response.json()
        return employee

    @property
    def admin(self) -> dict[str, str]:
        return {"X-API-Key": self.admin_key}

    async def post_hook(
        self,
        channel: dict[str, Any],
        endpoint: str,
        body: bytes | dict[str, Any],
        *,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """POST a webhook: a dict as JSON, bytes as they are with `content_type`; `headers`
        add to (or replace) the request's, e.g. a PBX's signature."""
        url = f"/hooks/{channel['provider']}/{channel['secret_key']}/{endpoint}"
        if isinstance(body, dict):
            return await self.http.post(url, json=body, headers=headers, **kwargs)
        return await self.http.post(
            url, content=body, headers={"content-type": content_type, **(headers or {})}, **kwargs
        )

    async def get(self, path: str, **params: Any) -> Any:
        response = await self.http.get(path, params=params, headers=self.admin)
        assert response.status_code == 200, response.text
        return response.json()

    def workflow(self, channel: dict[str, Any], session_id: str | int) -> WorkflowHandle[Any, Any]:
        return self.client.get_workflow_handle(self.workflow_id(channel, session_id))

    def workflow_id(self, channel: dict[str, Any], session_id: str | int) -> str:
        return call_workflow_id(channel["id"], str(session_id), prefix=self.workflow_id_prefix)

    async def call_result(self, channel: dict[str, Any], session_id: str | int) -> CallResult:
        handle = self.client.get_workflow_handle(
            self.workflow_id(channel, session_id), result_type=CallResult
        )
        result = await handle.result()
        assert isinstance(result, CallResult)
        return result


def scenario(provider: str, name: str) -> list[tuple[str, bytes]]:
    """A whole call as the PBX delivers it: (file name, body) in delivery order. Bodies are
    `NN_<event>.json`, or `NN_<event>.txt` for form-encoded ones (a trailing newline an editor
    may add is not part of a form body)."""
    folder = FIXTURES / provider / name
    paths = sorted(p for p in folder.iterdir() if p.suffix in (".json", ".txt"))
    return [
        (
            path.name,
            path.read_bytes().rstrip(b"\r\n") if path.suffix == ".txt" else path.read_bytes(),
        )
        for path in paths
    ]


@asynccontextmanager
async def running_pbxhub(
    env: WorkflowEnvironment, tmp_path: Path, *, store_class: type[Store] = Store, **settings: Any
) -> AsyncIterator[Pbxhub]:
    """The API (in-process ASGI) and a worker on a fresh task queue, on a fresh SQLite store
    (of `store_class`: a real Store that a test may make slow or failing); `settings` are
    ApiContext fields, and `recordings`: a function of the store and the specs making the
    worker's RecordingActivities (default: the local folder, loopback links refused)."""
    task_queue = f"calls-{uuid.uuid4().hex[:8]}"
    id_prefix = f"test-{uuid.uuid4().hex[:8]}"
    store = store_class(f"sqlite:///{tmp_path / 'pbxhub.db'}")
    store.migrate()
    admin_key = "test-admin-key"
    specs = load_specs()
    recordings_dir = settings.pop("recordings_dir", tmp_path / "recordings")
    make_recordings = settings.pop("recordings", None) or (
        lambda store, specs: RecordingActivities.local(store, specs, recordings_dir)
    )
    context = ApiContext(
        store=store,
        temporal=settings.pop("temporal", None) or TemporalGateway.for_client(env.client),
        specs=specs,
        admin_key=admin_key,
        public_base_url="http://testserver",
        task_queue=task_queue,
        call_settings=CallSettings(
            recording_wait_seconds=settings.pop("recording_wait_seconds", 5),
            max_call_seconds=settings.pop("max_call_seconds", 3600),
            # Tests share one Temporal server while each has its own store.
            workflow_id_prefix=id_prefix,
            recording_retry_seconds=settings.pop("recording_retry_seconds", 0.5),
            recording_fetch_attempts=settings.pop("recording_fetch_attempts", 4),
        ),
        temporal_rpc_timeout=timedelta(seconds=3),
        recordings_dir=recordings_dir,
        **settings,
    )
    transport = httpx.ASGITransport(app=create_app(context))
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as http,
        build_worker(
            env.client,
            store,
            task_queue=task_queue,
            specs=specs,
            recordings=make_recordings(store, specs),
        ),
    ):
        yield Pbxhub(http, store, env.client, admin_key, task_queue, id_prefix)
    store.close()


@pytest.fixture
async def pbxhub(temporal_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Pbxhub]:
    async with running_pbxhub(temporal_env, tmp_path) as hub:
        yield hub


@pytest.fixture
async def pbxhub_skipping_time(
    time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> AsyncIterator[Pbxhub]:
    async with running_pbxhub(time_skipping_env, tmp_path) as hub:
        yield hub


# temporalio's Rust runtime may crash the interpreter while it exits (sdk-python#300), turning a
# green run into 134/139: leave with pytest's own status once everything is reported.
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[_EXIT_STATUS] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    status = config.stash.get(_EXIT_STATUS, None)
    if status is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


_EXIT_STATUS = pytest.StashKey[int]()
