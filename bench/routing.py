"""Routing replies over real HTTP: UIS interactive call processing (the PBX holds the caller
until pbxhub answers) against the bare HTTP stack (/healthz of the same server), in one run.

Starts `pbxhub api` (uvicorn, one process, INFO logs to a file as in production) pinned to one
core with `taskset -c 0` when there is more than one, on an SQLite store of `--contacts`
contacts each with a responsible, and measures from this process (pinned to another core):
- one at a time: latency of a caller with a responsible, an unknown caller, /healthz;
- the max rate: `--concurrency` keep-alive connections sending back to back for `--seconds`;
  req/s achieved, and the server's CPU per request (from /proc), whose inverse is what one core
  answers when it has the core to itself (the machine may be shared);
- a steady `--rate` req/s (an open-loop, paced sender: latency counts from the planned send
  time, so a stall delays every request behind it) for `--seconds`: p50/p99.
Each for the routing question and /healthz, with their ratios. No Temporal server is needed: a
UIS routing question emits no events. The client is a minimal HTTP/1.1 writer so that it, not
the server, is cheap. Prints one JSON line.
Run: .venv/bin/python bench/routing.py [--contacts N] [--seconds S] [--rate R] [--concurrency C]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from crm import ContactPhone, EmployeeLink, Store

REPOSITORY = Path(__file__).resolve().parent.parent
ADMIN_KEY = "bench-routing-admin-key"

# One request as bytes: the i-th of a kind.
Request = Callable[[int], bytes]


@dataclass(frozen=True)
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def cpu_seconds(self) -> float:
        """The server process's user + system CPU so far (all its threads)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def seed(database_url: str, contacts: int) -> tuple[str, int]:
    """A UIS channel that forwards to the responsible, 20 employees, `contacts` contacts
    +7916NNNNNNN each with a responsible; returns the channel key and the employee count."""
    store = Store(database_url)
    store.migrate()
    channel = store.create_channel(
        provider="uis", name="bench", settings={"forward_to_responsible": "on"}
    )
    employees = [
        store.create_employee(
            name=f"Employee {i}",
            phones=[f"+7903{i:07d}"],
            links=[EmployeeLink(channel_id=channel.id, extension=str(100 + i))],
        )
        for i in range(20)
    ]
    for i in range(contacts):
        store.create_contact(
            name=f"Caller {i}",
            phones=[ContactPhone(f"+7916{i:07d}")],
            responsible_employee_ids=[employees[i % len(employees)].id],
        )
    store.close()
    return channel.secret_key, len(employees)


def start_server(folder: Path, database_url: str, core: int | None) -> Server:
    with socket.socket() as probe:  # a free port for this run (released just before use)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = {
        **os.environ,
        "PYTHONPATH": str(REPOSITORY),
        "PBXHUB_DATABASE_URL": database_url,
        "PBXHUB_DATA_DIR": str(folder),
        "PBXHUB_API_HOST": "127.0.0.1",
        "PBXHUB_API_PORT": str(port),
        "PBXHUB_ADMIN_KEY": ADMIN_KEY,
        # never connected: a UIS routing question delivers no events
        "PBXHUB_TEMPORAL_ADDRESS": "127.0.0.1:1",
        "PBXHUB_LOG_LEVEL": "INFO",
    }
    command = [sys.executable, "-m", "pbxhub.cli", "api"]
    if core is not None:
        command = ["taskset", "-c", str(core), *command]
    log = folder / "api.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, env=environment, stdout=output, stderr=subprocess.STDOUT, cwd=folder
        )
    return Server(process, port, log)


class Connection:
    """One keep-alive HTTP/1.1 connection: a request out, the status and body back."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


def routing_request(key: str, phone: Callable[[int], str]) -> Request:
    def build(i: int) -> bytes:
        body = f"call_session_id={i}&numa={phone(i)}&numb=74950000001".encode()
        return (
            f"POST /hooks/uis/{key}/interactive HTTP/1.1\r\nHost: bench\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    return build


def health_request(_: int) -> bytes:
    return b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"


async def wait_until_up(server: Server, deadline_seconds: float = 60) -> None:
    deadline = time.monotonic() + deadline_seconds
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"pbxhub api exited: {server.log.read_text()[-2000:]}")
        try:
            connection = await Connection.open(server.port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
            continue
        status, _ = await connection.send(health_request(0))
        connection.close()
        if status == 200:
            return


async def one_at_a_time(port: int, request: Request, count: int) -> list[float]:
    connection = await Connection.open(port)
    timings = []
    try:
        for i in range(count):
            started = time.perf_counter()
            status, body = await connection.send(request(i))
            timings.append((time.perf_counter() - started) * 1000)
            assert status == 200, body
    finally:
        connection.close()
    return timings


async def max_rate(
    server: Server, request: Request, *, concurrency: int, seconds: float
) -> dict[str, float]:
    """`concurrency` connections each sending the next request as soon as one is answered."""
    connections = [await Connection.open(server.port) for _ in range(concurrency)]
    answered = 0
    stop_at = time.perf_counter() + seconds

    async def sender(connection: Connection, first: int) -> None:
        nonlocal answered
        i = first
        while time.perf_counter() < stop_at:
            status, body = await connection.send(request(i))
            assert status == 200, body
            answered += 1
            i += concurrency

    cpu_before, started = server.cpu_seconds(), time.perf_counter()
    await asyncio.gather(*(sender(c, n) for n, c in enumerate(connections)))
    wall, cpu = time.perf_counter() - started, server.cpu_seconds() - cpu_before
    for connection in connections:
        connection.close()
    return {
        "requests": answered,
        "achieved_rps": round(answered / wall, 1),
        "server_cpu_ms_per_request": round(cpu * 1000 / answered, 3),
        # what one core answers when the server has it to itself
        "one_core_rps": round(answered / cpu, 1) if cpu else 0.0,
        # under 1: the server waited on something (the client, the machine's other loads)
        "server_core_busy": round(cpu / wall, 2),
    }


async def paced(
    server: Server, request: Request, *, rate: float, seconds: float
) -> dict[str, float]:
    """Open loop: request i leaves at start + i / rate whatever came back; its latency counts
    from that planned moment, so it includes any wait for a free connection."""
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    opened = [await Connection.open(server.port) for _ in range(32)]
    for connection in opened:
        idle.put_nowait(connection)
    timings: list[float] = []
    late_sends = 0

    async def one(i: int, planned: float) -> None:
        connection = await idle.get()
        status, body = await connection.send(request(i))
        timings.append((time.perf_counter() - planned) * 1000)
        idle.put_nowait(connection)
        assert status == 200, body

    count = int(rate * seconds)
    cpu_before = server.cpu_seconds()
    start = time.perf_counter() + 0.05
    tasks = []
    for i in range(count):
        planned = start + i / rate
        delay = planned - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.005:
            late_sends += 1
        tasks.append(asyncio.ensure_future(one(i, planned)))
    await asyncio.gather(*tasks)
    cpu = server.cpu_seconds() - cpu_before
    for connection in opened:
        connection.close()
    return {
        **summary(timings),
        "requests": count,
        "server_core_busy": round(cpu / seconds, 2),
        # sends this process made over 5 ms late (its own loop was held up)
        "late_sends": late_sends,
    }


def summary(timings: list[float]) -> dict[str, float]:
    ordered = sorted(timings)
    return {
        "p50_ms": round(statistics.median(ordered), 3),
        "p99_ms": round(ordered[max(int(len(ordered) * 0.99) - 1, 0)], 3),
        "max_ms": round(ordered[-1], 3),
    }


async def measure(arguments: argparse.Namespace, folder: Path) -> dict[str, object]:
    contacts = arguments.contacts
    database_url = f"sqlite:///{folder}/bench.db"
    key, _ = seed(database_url, contacts)
    cores = sorted(os.sched_getaffinity(0))
    pinned = len(cores) > 1 and shutil.which("taskset") is not None
    server = start_server(folder, database_url, cores[0] if pinned else None)
    if pinned:  # the sender on the other cores, not on the server's
        os.sched_setaffinity(0, cores[1:])
    try:
        await wait_until_up(server)
        known = routing_request(key, lambda i: f"7916{i % contacts:07d}")
        unknown = routing_request(key, lambda _: "79990000000")
        connection = await Connection.open(server.port)
        assert (await connection.send(known(1)))[1] == b'{"phones": ["79030000001"]}'
        assert (await connection.send(unknown(1)))[1] == b'{"returned_code": 1}'
        connection.close()
        for request in (health_request, known, unknown):  # warm up: threads, caches
            await one_at_a_time(server.port, request, 200)

        sequential = {
            name: summary(await one_at_a_time(server.port, request, arguments.requests))
            for name, request in (
                ("healthz", health_request),
                ("responsible", known),
                ("unknown_caller", unknown),
            )
        }
        options = {"concurrency": arguments.concurrency, "seconds": arguments.seconds}
        top = {
            "healthz": await max_rate(server, health_request, **options),
            "responsible": await max_rate(server, known, **options),
            "unknown_caller": await max_rate(server, unknown, **options),
        }
        steady = {
            "healthz": await paced(
                server, health_request, rate=arguments.rate, seconds=arguments.seconds
            ),
            "responsible": await paced(
                server, known, rate=arguments.rate, seconds=arguments.seconds
            ),
        }
    finally:
        server.process.terminate()
        server.process.wait(timeout=30)
    routed, bare = top["responsible"], top["healthz"]
    return {
        "bench": "routing",
        "contacts": contacts,
        "server_pinned_to_core": cores[0] if pinned else None,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "one_at_a_time_ms": sequential,
        "max_rate": top,
        f"steady_{arguments.rate:g}_rps": steady,
        "ratio_one_core_rps_responsible_to_healthz": round(
            routed["one_core_rps"] / bare["one_core_rps"], 3
        ),
        "ratio_achieved_rps_responsible_to_healthz": round(
            routed["achieved_rps"] / bare["achieved_rps"], 3
        ),
        "ratio_steady_p99_responsible_to_healthz": round(
            steady["responsible"]["p99_ms"] / steady["healthz"]["p99_ms"], 2
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=1000, help="one-at-a-time requests")
    parser.add_argument("--seconds", type=float, default=10.0, help="each rate phase")
    parser.add_argument("--rate", type=float, default=200.0, help="the steady phase's req/s")
    parser.add_argument("--concurrency", type=int, default=16, help="the max-rate phase")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        result = asyncio.run(measure(arguments, Path(folder)))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
