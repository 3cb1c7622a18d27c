"""`pbxhub dev` as real processes: its Temporal dev server dies with it, even of SIGKILL, and a
Temporal server it did not start is never silently reused."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pbxhub.dev import start_temporal_dev_server, stop, temporal_record
from pbxhub.settings import Settings

PBXHUB = [sys.executable, "-m", "pbxhub.cli"]

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass
class Ports:
    api: int
    temporal: int
    ui: int

    def options(self) -> list[str]:
        return [
            "--port",
            str(self.api),
            "--temporal-address",
            f"127.0.0.1:{self.temporal}",
            "--temporal-ui-port",
            str(self.ui),
        ]


@pytest.fixture
def ports() -> Ports:
    return Ports(api=free_port(), temporal=free_port(), ui=free_port())


@dataclass
class Dev:
    """A `pbxhub dev` process, its output in files."""

    process: subprocess.Popen[bytes]
    out: Path
    err: Path

    def output(self) -> str:
        return self.out.read_text() + self.err.read_text()

    def wait_running(self, api_port: int, timeout: float = 90) -> None:
        """Until its API answers (its signal handlers are in place from then on)."""
        deadline = time.monotonic() + timeout
        while not listens(api_port):
            assert self.process.poll() is None, f"dev exited early:\n{self.output()}"
            assert time.monotonic() < deadline, f"dev did not start:\n{self.output()}"
            time.sleep(0.2)

    def children(self) -> list[int]:
        pid = self.process.pid
        return [
            int(child)
            for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()
        ]


@pytest.fixture
def run_dev(tmp_path: Path, ports: Ports) -> Iterator[Callable[..., Dev]]:
    started: list[Dev] = []

    def start(*extra: str) -> Dev:
        out, err = tmp_path / f"dev{len(started)}.out", tmp_path / f"dev{len(started)}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = subprocess.Popen(
                [*PBXHUB, "dev", "--data-dir", str(tmp_path / "data"), *ports.options(), *extra],
                stdout=stdout,
                stderr=stderr,
            )
        dev = Dev(process, out, err)
        started.append(dev)
        return dev

    yield start
    for dev in started:
        if dev.process.poll() is None:
            dev.process.kill()
            dev.process.wait()


def is_alive(pid: int) -> bool:
    """Running, not a zombie (an orphan's zombie may wait for a reaper that never comes)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def wait_gone(pid: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while is_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def listens(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_a_killed_dev_takes_its_temporal_server_with_it(
    run_dev: Callable[..., Dev], ports: Ports, tmp_path: Path
) -> None:
    dev = run_dev()
    dev.wait_running(ports.api)
    [temporal] = dev.children()
    assert listens(ports.temporal)
    # its state (temporal.db, its log, the record naming it) is as private as pbxhub's own
    for path in (tmp_path / "data").rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path

    dev.process.send_signal(signal.SIGKILL)
    dev.process.wait()

    try:
        assert wait_gone(temporal), "the Temporal dev server outlived its pbxhub dev"
        assert not listens(ports.temporal)
    finally:
        if is_alive(temporal):
            os.kill(temporal, signal.SIGKILL)


def test_the_next_dev_stops_a_temporal_server_an_earlier_one_left_running(
    run_dev: Callable[..., Dev],
    ports: Ports,
    tmp_path: Path,
) -> None:
    # What a parent without the kernel's death signal (not Linux) leaves behind: a Temporal dev
    # server started by pbxhub for this data folder, still running with no `dev` around it.
    earlier = Settings(
        data_dir=tmp_path / "data",
        temporal_address=f"127.0.0.1:{ports.temporal}",
        temporal_ui_port=ports.ui,
    )
    leftover = start_temporal_dev_server(earlier)
    try:
        deadline = time.monotonic() + 60
        while not listens(ports.temporal):
            assert time.monotonic() < deadline, "the leftover Temporal server did not start"
            time.sleep(0.2)

        dev = run_dev()
        dev.wait_running(ports.api)

        assert f"stopped the Temporal dev server (pid {leftover.pid})" in dev.output()
        assert leftover.poll() is not None
        [own] = dev.children()
        assert own != leftover.pid

        dev.process.send_signal(signal.SIGTERM)  # a clean stop takes its server and record along
        assert dev.process.wait(timeout=60) == 0, dev.output()
        assert wait_gone(own)
        assert not temporal_record(earlier).exists()
    finally:
        stop(leftover, temporal_record(earlier))


@pytest.mark.parametrize("held", ["temporal", "ui", "api"])
def test_dev_refuses_a_port_held_by_a_process_it_did_not_start(
    run_dev: Callable[..., Dev],
    ports: Ports,
    tmp_path: Path,
    held: str,
) -> None:
    port = getattr(ports, held)
    with socket.socket() as foreign:
        foreign.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        foreign.bind(("127.0.0.1", port))
        foreign.listen()

        dev = run_dev()
        assert dev.process.wait(timeout=60) == 1

    message = dev.output()
    assert f"127.0.0.1:{port}" in message
    assert "did not start" in message
    assert {"temporal": "--external-temporal", "ui": "--temporal-ui-port", "api": "--port"}[
        held
    ] in message
    # refused before anything started: no Temporal of its own, no state
    assert not (tmp_path / "data" / "temporal.db").exists()


def test_a_worker_stopped_by_sigterm_exits_cleanly_without_a_traceback(
    tmp_path: Path,
) -> None:
    # A worker waiting for a Temporal that is not there (docker stop during a deployment).
    worker = subprocess.Popen(
        [*PBXHUB, "worker", "--data-dir", str(tmp_path / "data")]
        + ["--temporal-address", f"127.0.0.1:{free_port()}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (tmp_path / "data" / "pbxhub.db").exists():  # its store is open: it is waiting
        assert worker.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    worker.send_signal(signal.SIGTERM)
    _, stderr = worker.communicate(timeout=60)

    assert worker.returncode in (0, 130), stderr  # stopped, not killed by the signal
    assert "Traceback" not in stderr
