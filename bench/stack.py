"""pbxhub as separate real processes on one data folder, for the load and fault runs: the
Temporal dev server on its SQLite file (started as `pbxhub dev` starts it), the API and the
worker as `pbxhub api` / `pbxhub worker`. Each can be killed and started again; a process that
dies is started again by `supervise`, as systemd or a container runtime would.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from temporalio.client import Client

from pbxhub.child_process import start_child
from pbxhub.dev import start_temporal_dev_server, stop, temporal_record
from pbxhub.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def rss_mb(pid: int) -> float:
    """Resident memory of a running process, in MB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@dataclass
class Stack:
    """The three processes of one pbxhub, on `data_dir`, on free loopback ports."""

    data_dir: Path
    # PBXHUB_* settings for the API and the worker (short waits for a bench).
    environment: dict[str, str] = field(default_factory=dict)
    admin_key: str = "bench-admin-key"
    api_port: int = field(default_factory=free_port)
    temporal_port: int = field(default_factory=free_port)
    ui_port: int = field(default_factory=free_port)
    # the worker's own /metrics: a free port too, never the fixed default another run may hold
    worker_metrics_port: int = field(default_factory=free_port)
    temporal: subprocess.Popen[bytes] | None = None
    api: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    restarts: dict[str, int] = field(default_factory=lambda: {"api": 0, "worker": 0})

    @property
    def settings(self) -> Settings:
        return Settings(
            data_dir=self.data_dir,
            temporal_address=f"127.0.0.1:{self.temporal_port}",
            temporal_ui_port=self.ui_port,
        )

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def database(self) -> Path:
        return (self.data_dir / "pbxhub.db").resolve()

    def start_temporal(self) -> None:
        self.temporal = start_temporal_dev_server(self.settings)

    def stop_temporal(self) -> None:
        if self.temporal is not None:
            stop(self.temporal, temporal_record(self.settings))
            self.temporal = None

    def _service(self, command: str) -> subprocess.Popen[bytes]:
        options = [
            "--data-dir",
            str(self.data_dir),
            "--port",
            str(self.api_port),
            "--temporal-address",
            f"127.0.0.1:{self.temporal_port}",
            "--admin-key",
            self.admin_key,
        ]
        env = {
            **os.environ,
            "PBXHUB_WORKER_METRICS_PORT": str(self.worker_metrics_port),
            **self.environment,
        }
        log = self.data_dir / f"{command}.log"
        process = start_child(
            [sys.executable, "-m", "pbxhub.cli", command, *options],
            log=log,
            record=self.data_dir / f"{command}.pid",
            env=env,
        )
        return process

    def start_api(self) -> None:
        self.api = self._service("api")

    def start_worker(self) -> None:
        self.worker = self._service("worker")

    def kill_worker(self) -> None:
        """SIGKILL: no drain, no goodbye; its tasks time out on the server."""
        if self.worker is not None:
            self.worker.send_signal(signal.SIGKILL)
            self.worker.wait()

    async def client(self, timeout: float = 60) -> Client:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return await Client.connect(f"127.0.0.1:{self.temporal_port}")
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.3)

    async def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.start_temporal()
        await self.client()
        self.start_worker()  # it migrates the store and registers the search attributes
        self.start_api()
        await self.wait_api()

    async def wait_api(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.api_url) as http:
            while True:
                assert self.api is not None and self.api.poll() is None, self.log("api")
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, self.log("api")
                await asyncio.sleep(0.3)

    async def supervise(self) -> None:
        """Start the API or the worker again whenever it has died (until cancelled)."""
        while True:
            await asyncio.sleep(0.5)
            if self.worker is not None and self.worker.poll() is not None:
                self.restarts["worker"] += 1
                self.start_worker()
            if self.api is not None and self.api.poll() is not None:
                self.restarts["api"] += 1
                self.start_api()

    def log(self, service: str) -> str:
        path = self.data_dir / f"{service}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def close(self) -> None:
        for process in (self.api, self.worker):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.stop_temporal()
