"""Shared fixtures: the store on SQLite and PostgreSQL, the real Temporal servers, and pbxhub
itself (API + worker) wired to them, fresh for every test."""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import os
import re
import socket
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from activities.recordings import RecordingActivities
from api.app import create_app
from api.context import ApiContext
from api.temporal import TemporalGateway
from contracts.call_workflow import CallResult
from contracts.messages import CallLeg, CallRecord
from crm import Contact, ContactPhone, Employee, Store
from crm.passwords import hash_password
from crm.store.engine import MIGRATIONS_DIR, make_engine
from pbxhub.temporal_setup import ensure_search_attributes
from pbxhub.worker import build_worker
from pbxhub.worker_metrics import WorkerMetrics
from providers.spec_loader import load_specs
from recordings.storage import RecordingStorage, S3Bucket, S3Settings
from workflows.search_attributes import SEARCH_ATTRIBUTES
from workflows.starter import CallSettings, call_workflow_id

# Test servers keep an idle connection a minute: with uvicorn's 5 s, a slow step (a browser signing
# in) let it close a client's connection just as the next request went out (httpx.ReadError).
KEEP_ALIVE = 60
POSTGRES_URL = os.environ.get(
    "PBXHUB_TEST_POSTGRES_URL", "postgresql+psycopg://pbxhub:pbxhub@127.0.0.1:5432/pbxhub_test"
)


@pytest.fixture(autouse=True, scope="session")
def only_this_machine() -> Iterator[None]:
    """No test ever opens a connection off this machine: a socket asked to connect anywhere but
    a loopback address fails the test instead (a PBX spec's default address, a link not
    vetted). Python sockets only; the Temporal and PostgreSQL clients connect to 127.0.0.1."""
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def vetted(sock: socket.socket, address: Any) -> None:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return
        host = str(address[0])
        try:
            loopback = ipaddress.ip_address(host.split("%")[0]).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise AssertionError(f"a test tried to connect to {host}: only loopback is allowed")

    def connect(sock: socket.socket, address: Any) -> None:
        vetted(sock, address)
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        vetted(sock, address)
        return real_connect_ex(sock, address)

    socket.socket.connect = connect  # type: ignore[method-assign, assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign, assignment]
    try:
        yield
    finally:
        socket.socket.connect = real_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]


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


@dataclass(frozen=True)
class Schema:
    """What a database holds, read back: each table's column and index names."""

    columns: dict[str, set[str]]
    indexes: dict[str, set[str]]


def downgrade_to(database_url: str, revision: str) -> Schema:
    """Run the store's migrations down to `revision` (the store closed first) and read back
    what is left, for the tests that a revision's downgrade undoes exactly what it did."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, revision)
        with engine.connect() as connection:
            seen = inspect(connection)
            tables = seen.get_table_names()
            return Schema(
                columns={t: {c["name"] for c in seen.get_columns(t)} for t in tables},
                indexes={t: {str(i["name"]) for i in seen.get_indexes(t)} for t in tables},
            )
    finally:
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


async def start_dev_server() -> WorkflowEnvironment:
    """A real Temporal dev server (in memory) with pbxhub's search attributes."""
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_log_level="error",
        ui=False,
    )


def unreachable_temporal() -> TemporalGateway:
    """A gateway to a port where no Temporal listens: what the API sees when Temporal is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    # Closed again before it is used: nothing listens there.
    return TemporalGateway.for_address(f"127.0.0.1:{port}", namespace="default")


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server (in memory), shared by the session."""
    env = await start_dev_server()
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

    async def create_staff(
        self, channel: dict[str, Any], staff: Mapping[str, Mapping[str, str]]
    ) -> list[dict[str, Any]]:
        """An employee per entry of `staff`, in its order: their name → their link on the
        channel (`extension`, and `pbx_user_id` where the PBX names its users)."""
        return [
            await self.create_employee(name, links=[{"channel_id": channel["id"], **link}])
            for name, link in staff.items()
        ]

    async def create_line(
        self, provider: str, staff: Mapping[str, Mapping[str, str]], **channel_fields: Any
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """A channel of `provider` (`channel_fields` as the REST API takes them) and its
        employees (`create_staff`), set up over REST as an admin would."""
        channel = await self.create_channel(provider, **channel_fields)
        return channel, await self.create_staff(channel, staff)

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

    async def deliver(
        self,
        channel: dict[str, Any],
        requests: Iterable[tuple[str, bytes]],
        *,
        endpoint: str | Callable[[str], str] = "notify",
        sign: Callable[[bytes], dict[str, str]] | None = None,
        reply: str | None = None,
    ) -> None:
        """Post a scenario's requests (`scenario`) in the given order as the PBX does, each taken
        with a 200 (and answered with `reply`, when given). `endpoint` is the webhook's, or a
        function of the file name for a PBX with a URL per request type; `sign` gives the headers
        that sign a body, for a PBX that signs."""
        for name, body in requests:
            response = await self.post_hook(
                channel,
                endpoint if isinstance(endpoint, str) else endpoint(name),
                body,
                content_type=content_type_of(name),
                headers=sign(body) if sign else None,
            )
            assert response.status_code == 200, f"{name}: {response.status_code} {response.text}"
            assert reply is None or response.text == reply, f"{name}: {response.text!r}"

    async def calls_and_missed(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Every call record and every missed call pbxhub holds, each list whole (one page)."""
        calls = await self.get("/api/v1/calls")
        missed = await self.get("/api/v1/missed-calls")
        assert calls["total"] == len(calls["items"]) and missed["total"] == len(missed["items"])
        return calls["items"], missed["items"]

    async def the_one_record(self, kind: Literal["call", "missed"]) -> dict[str, Any]:
        """The only record pbxhub holds: one call and no missed call, or the other way round."""
        calls, missed = await self.calls_and_missed()
        records = {"call": calls, "missed": missed}
        other = "missed" if kind == "call" else "call"
        assert len(records[kind]) == 1, records
        assert records[other] == [], records
        record: dict[str, Any] = records[kind][0]
        return record

    async def the_one_contact(
        self, phone: str, raw: str, name: str | None = None
    ) -> dict[str, Any]:
        """The only contact pbxhub holds, with the one number `phone` (as the PBX wrote it: `raw`)
        and, when given, the name `name`."""
        contacts = await self.get("/api/v1/contacts")
        assert len(contacts) == 1
        assert contacts[0]["phones"] == [{"phone": phone, "raw": raw}]
        if name is not None:
            assert contacts[0]["name"] == name
        contact: dict[str, Any] = contacts[0]
        return contact

    async def assert_no_workflow(self, channel: dict[str, Any], session_id: str | int) -> None:
        """No call workflow was ever started for the session."""
        with pytest.raises(RPCError) as error:
            await self.workflow(channel, session_id).describe()
        assert error.value.status == RPCStatusCode.NOT_FOUND


FORM = "application/x-www-form-urlencoded"


def content_type_of(name: str) -> str:
    """The content type of a scenario's request by its file name: `.txt` bodies are forms."""
    return FORM if name.endswith(".txt") else "application/json"


def wall_clock(text: str, utc_offset_hours: int) -> datetime:
    """A wall-clock time of a zone `utc_offset_hours` ahead of UTC as the aware UTC instant the
    store must hold (the fixtures' dates see no change of daylight saving time)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC) - timedelta(hours=utc_offset_hours)


def instant(value: str | None) -> datetime | None:
    """A time the API answered, as an aware datetime to compare (None stays None)."""
    return None if value is None else datetime.fromisoformat(value)


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


@dataclass
class Gate:
    """A point in a real store's method where a test holds whoever gets there: while the gate
    is closed, callers wait (at most `seconds`) until it opens; `reached` says one arrived,
    `left` that one went on. A test closes it, does what must happen meanwhile, and opens it,
    also when it fails."""

    seconds: float = 15
    closed: threading.Event = field(default_factory=threading.Event)
    reached: threading.Event = field(default_factory=threading.Event)
    opened: threading.Event = field(default_factory=threading.Event)
    left: threading.Event = field(default_factory=threading.Event)

    def close(self) -> None:
        self.reached.clear()
        self.left.clear()
        self.opened.clear()
        self.closed.set()

    def open(self) -> None:
        self.closed.clear()
        self.opened.set()

    def pass_through(self) -> None:
        if self.closed.is_set():
            self.reached.set()
            self.opened.wait(self.seconds)
            self.left.set()

    async def wait_reached(self) -> bool:
        """Whether a caller reached the gate within `seconds` (waited off the event loop)."""
        return await asyncio.to_thread(self.reached.wait, self.seconds)


@asynccontextmanager
async def running_pbxhub(
    env: WorkflowEnvironment, tmp_path: Path, *, store_class: type[Store] = Store, **settings: Any
) -> AsyncIterator[Pbxhub]:
    """The API (in-process ASGI) and a worker on a fresh task queue, on a fresh SQLite store
    (of `store_class`: a real Store that a test may make slow or failing); `settings` are
    ApiContext fields (`recordings`: where the API keeps uploads and reads recordings, by
    default the local folder), and `recording_activities`: a function of the store and the
    specs making the worker's RecordingActivities (default: the same storage, loopback links
    refused)."""
    # given again by a test (or scripts/record_histories.py) that restarts pbxhub mid-call
    task_queue = settings.pop("task_queue", None) or f"calls-{uuid.uuid4().hex[:8]}"
    id_prefix = settings.pop("workflow_id_prefix", None) or f"test-{uuid.uuid4().hex[:8]}"
    store = store_class(f"sqlite:///{tmp_path / 'pbxhub.db'}")
    store.migrate()
    admin_key = "test-admin-key"
    specs = load_specs()
    storage = settings.pop("recordings", None) or RecordingStorage.local(tmp_path / "recordings")
    make_recordings = settings.pop("recording_activities", None) or (
        lambda store, specs: RecordingActivities(store, specs, storage=storage)
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
        temporal_rpc_timeout=settings.pop("temporal_rpc_timeout", timedelta(seconds=3)),
        recordings=storage,
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
            metrics=WorkerMetrics(context.metrics.registry),  # as `pbxhub dev` counts
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


@pytest.fixture
def s3_bucket() -> Iterator[S3Bucket]:
    """A real S3-compatible server (moto's, in a thread) on 127.0.0.1, with a bucket. The keys
    are given, so boto3 never looks for credentials anywhere else (no instance metadata)."""
    from moto.server import ThreadedMotoServer

    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    settings = S3Settings(
        bucket="pbxhub-recordings",
        prefix="calls/",
        endpoint_url=f"http://{host}:{port}",
        region="us-east-1",
        access_key_id="test",
        secret_access_key="test",
    )
    bucket = S3Bucket(settings)
    bucket._client.create_bucket(Bucket=settings.bucket)
    try:
        yield bucket
    finally:
        server.stop()


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


# --- The pages in a real browser: Debian's Chromium driven by Playwright, never a download ---

CHROMIUM = Path(os.environ.get("PBXHUB_TEST_CHROMIUM", "/usr/bin/chromium"))
# Where a failed browser test leaves its last screen.
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-results" / "screenshots"


@dataclass(frozen=True)
class Site:
    """pbxhub's API served over real HTTP on a loopback port (its pages too), on a fresh
    SQLite store; no Temporal behind it (the pages read the store)."""

    url: str
    store: Store
    admin_key: str
    # where the local storage keeps recordings' files (None: no storage)
    recordings_dir: Path | None = None

    @property
    def admin(self) -> dict[str, str]:
        return {"X-API-Key": self.admin_key}


@asynccontextmanager
async def serving_pbxhub(store: Store, recordings_dir: Path | None = None) -> AsyncIterator[Site]:
    """The app under uvicorn on 127.0.0.1 (a free port, bound before the app is made, so the
    app's public URL is its own), in this event loop, until the block ends; recordings are read
    from `recordings_dir` (the local storage)."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    context = ApiContext(
        store=store,
        temporal=unreachable_temporal(),
        specs=load_specs(),
        admin_key="test-admin-key",
        public_base_url=url,
        task_queue="pages-no-temporal",
        call_settings=CallSettings(recording_wait_seconds=5, max_call_seconds=3600),
        recordings=RecordingStorage.local(recordings_dir) if recordings_dir else None,
    )
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(context), log_level="warning", lifespan="off", timeout_keep_alive=KEEP_ALIVE
        )
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if serving.done():
                serving.result()  # it failed to start: say why
            await asyncio.sleep(0.01)
        yield Site(url, store, context.admin_key, recordings_dir)
    finally:
        server.should_exit = True
        await serving
        sock.close()


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    store = Store(f"sqlite:///{tmp_path / 'pbxhub.db'}")
    store.migrate()
    try:
        async with serving_pbxhub(store, tmp_path / "recordings") as served:
            yield served
    finally:
        store.close()


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Any]:
    """Debian's Chromium (scripts/ensure-chromium.sh installs it), started once per session by
    Playwright, headless; the browser of Playwright's own is never fetched."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"no browser at {CHROMIUM}: run scripts/ensure-chromium.sh "
            "(or set PBXHUB_TEST_CHROMIUM)",
            pytrace=False,
        )
    os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        # as root, Chromium starts only without its sandbox (the page is our own, on loopback)
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        yield browser
        await browser.close()


@pytest.fixture
async def browser_page(
    chromium: Any, site: Site, request: pytest.FixtureRequest
) -> AsyncIterator[Any]:
    """A fresh browser profile (no cookies) and a page on `site`; a failed test leaves its
    screenshot in test-results/screenshots/."""
    context = await chromium.new_context(base_url=site.url)
    context.set_default_timeout(5_000)
    page = await context.new_page()
    try:
        yield page
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
            await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        await context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    # the test's own outcome, for fixtures that keep evidence when it failed (browser_page)
    report = yield
    if report.when == "call":
        item.report_call = report  # type: ignore[attr-defined]
    return report


async def signin_form_token(http: httpx.AsyncClient) -> str:
    """The CSRF token of the sign-in form `http` was just given (and its cookie kept)."""
    form = await http.get("/signin")
    marker = 'name="csrf_token" value="'
    start = form.text.index(marker) + len(marker)
    return form.text[start : form.text.index('"', start)]


async def sign_in_on_page(page: Any, login: str, password: str) -> None:
    """Fill in the sign-in form the browser shows and send it, as a person does."""
    await page.get_by_label("Login").fill(login)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def sign_in_over_http(http: httpx.AsyncClient, login: str, password: str) -> str:
    """Sign `http` in as a browser does; the session's CSRF token, for the pages' forms."""
    token = await signin_form_token(http)
    form = {"login": login, "password": password, "csrf_token": token}
    assert (await http.post("/signin", data=form)).status_code == 303
    page = await http.get("/calls")
    marker = 'name="csrf_token" value="'
    start = page.text.index(marker) + len(marker)
    return page.text[start : page.text.index('"', start)]


@dataclass(frozen=True)
class ContactWithCall:
    contact: Contact
    call_id: int
    recording_id: int
    audio: bytes


def employee_who_signs_in(site: Site, name: str, password: str) -> Employee:
    """An employee with a sign-in: their name in lower case, and `password`."""
    employee = site.store.create_employee(name=name)
    login = name.lower()
    site.store.set_employee_sign_in(employee.id, login=login, password_hash=hash_password(password))
    return employee


def contact_with_a_recorded_call(site: Site, responsible: Employee, phone: str) -> ContactWithCall:
    """A contact `responsible` answers for, with a comment and an answered call whose recording
    pbxhub keeps in its local storage."""
    store = site.store
    contact = store.create_contact(
        name=f"Caller {phone[-4:]}",
        phones=[ContactPhone(phone=phone, raw=phone)],
        fields={"company": "Roga i Kopyta"},
        responsible_employee_ids=[responsible.id],
    )
    channel = store.create_channel(provider="uis", name="Sales line")
    started = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    call, _ = store.save_call(
        CallRecord(
            channel_id=channel.id,
            session_id=f"session-{phone}",
            provider="uis",
            kind="call",
            direction="in",
            contact_id=contact.id,
            contact_phone=phone,
            employee_id=responsible.id,
            started_at=started,
            answered_at=started + timedelta(seconds=5),
            ended_at=started + timedelta(seconds=47),
            talk_seconds=42,
            legs=[
                CallLeg(employee_extension="100", employee_name="Reception", answered=False),
                CallLeg(employee_name=responsible.name, answered=True, talk_seconds=42),
            ],
        )
    )
    audio = b"ID3" + bytes(range(256)) * 8
    assert site.recordings_dir is not None
    site.recordings_dir.mkdir(parents=True, exist_ok=True)
    (site.recordings_dir / f"{call.id}.mp3").write_bytes(audio)
    recording, _ = store.add_recording(
        call_id=call.id,
        storage="local",
        location=f"{call.id}.mp3",
        content_type="audio/mpeg",
        size=len(audio),
        sha256=hashlib.sha256(audio).hexdigest(),
    )
    store.add_comment(
        text="Asked for a quote <b>today</b>",
        contact_id=contact.id,
        author_employee_id=responsible.id,
    )
    return ContactWithCall(contact, call.id, recording.id, audio)
