"""A value a request sends (a session id, a URL path) cannot forge a log line nor send escapes to
the operator's terminal: every record is one line, through the one formatter pbxhub installs."""

from __future__ import annotations

import io
import logging
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from conftest import BIN, Pbxhub, running_pbxhub
from temporalio.testing import WorkflowEnvironment
from test_zadarma_calls import post, zadarma_line_taking_fixture_times

from pbxhub.logging_setup import LOG_FORMAT, SingleLineFormatter

FORGED = "\n2026-01-01 00:00:00,000 INFO pbxhub.ingress: accepted notify_end \x1b[2J\r"
# Where a record starts: its time, its level, its logger.
RECORD_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ [\w.]+: ")


class Records(logging.Handler):
    """Counts the records it is handed, for comparing with the lines written."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


@pytest.fixture
def written() -> Iterator[tuple[io.StringIO, Records]]:
    """What pbxhub's formatter writes for every record of the process (root), and a count of
    the records."""
    stream, records = io.StringIO(), Records()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(SingleLineFormatter(LOG_FORMAT))
    root = logging.getLogger()
    previous = root.level
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    root.addHandler(records)
    yield stream, records
    root.removeHandler(handler)
    root.removeHandler(records)
    root.setLevel(previous)


def assert_one_line_per_record(text: str, records: int | None = None) -> None:
    lines = text.splitlines()
    for line in lines:
        assert RECORD_START.match(line), f"a line that is no record: {line!r}"
    assert "\x1b" not in text and "\r" not in text
    if records is not None:
        assert len(lines) == records


def test_a_message_with_line_breaks_and_escapes_is_one_line() -> None:
    record = logging.LogRecord(
        "pbxhub.ingress", logging.INFO, __file__, 1, "accepted (session %s)", (FORGED,), None
    )

    line = SingleLineFormatter(LOG_FORMAT).format(record)

    assert_one_line_per_record(line, records=1)
    assert "(session \\n2026-01-01 00:00:00,000 INFO pbxhub.ingress: accepted" in line
    assert "\\x1b[2J\\r)" in line


def test_a_traceback_stays_under_its_record_however_its_message_reads() -> None:
    try:
        raise ValueError(f"bad session {FORGED}")
    except ValueError:
        record = logging.LogRecord(
            "pbxhub.ingress", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )

    text = SingleLineFormatter(LOG_FORMAT).format(record)

    first, *details = text.split("\n")
    assert RECORD_START.match(first)
    # the exception's own line break stays (a traceback is read by people), indented like the
    # rest of it: no line of it starts like a record
    assert details and all(line.startswith("    ") for line in details)
    assert "\n    2026-01-01 00:00:00,000 INFO" in text
    assert "\x1b" not in text and "\r" not in text


async def test_a_webhook_whose_session_id_holds_a_forged_line_is_logged_on_one_line(
    hub: Pbxhub, written: tuple[io.StringIO, Records]
) -> None:
    stream, records = written
    channel, _, _ = await zadarma_line_taking_fixture_times(hub)
    body = (
        "event=NOTIFY_START&call_start=2024-03-12+10%3A15%3A00"
        f"&pbx_call_id={quote('in_forged' + FORGED)}&caller_id=380671234567"
        "&called_did=380441234567"
    ).encode()

    response = await post(hub, channel, body)

    assert response.status_code == 200, response.text
    text = stream.getvalue()
    assert "accepted notify_start (session in_forged\\n2026-01-01" in text
    assert_one_line_per_record(text, records=records.count)


@pytest.fixture
async def hub(temporal_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Pbxhub]:
    async with running_pbxhub(temporal_env, tmp_path) as running:
        yield running


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_the_api_service_writes_its_own_and_uvicorns_records_one_line_each(
    tmp_path: Path,
) -> None:
    port = free_port()
    api = subprocess.Popen(
        [sys.executable, "-m", "pbxhub.cli", "api", "--data-dir", str(tmp_path / "data")]
        + ["--port", str(port), "--temporal-address", f"127.0.0.1:{free_port()}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz")
                break
            except httpx.TransportError:
                assert api.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        # the URL path reaches the log line of the rejection, decoded
        forged_path = f"/hooks/zadarma/no-such-key/{quote(FORGED, safe='')}"
        assert httpx.post(f"http://127.0.0.1:{port}{forged_path}").status_code == 404
    finally:
        api.send_signal(signal.SIGTERM)
        _, stderr = api.communicate(timeout=60)

    assert_one_line_per_record(stderr)
    assert " INFO uvicorn.error: Uvicorn running on " in stderr  # uvicorn's, in pbxhub's format
    assert "rejected zadarma/no-s…/\\n2026-01-01 00:00:00,000 INFO" in stderr


def test_the_temporal_clients_own_lines_go_through_the_same_formatter(tmp_path: Path) -> None:
    """The client's Rust core warns of its retries against a stopped server: under pbxhub's
    logging those warnings are records of `temporalio.core`, not colour-coded lines of its own."""
    script = tmp_path / "stopped_server.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import asyncio, os, sys
            from pbxhub.logging_setup import configure_logging, forward_temporal_core_logs
            configure_logging()
            forward_temporal_core_logs()
            from temporalio.client import Client
            from temporalio.service import RetryConfig
            from temporalio.testing import WorkflowEnvironment

            async def main():
                env = await WorkflowEnvironment.start_local(
                    dev_server_existing_path={str(BIN / "temporal")!r}, ui=False
                )
                address = env.client.service_client.config.target_host
                client = await Client.connect(address, retry_config=RetryConfig(max_retries=7))
                await env.shutdown()
                try:
                    await client.start_workflow("W", id="w", task_queue="q")
                except Exception as error:
                    print(type(error).__name__)
                await asyncio.sleep(0.5)
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(0)  # sdk-python#300

            asyncio.run(main())
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )

    assert done.stdout.strip() == "RPCError", done.stderr
    core = [line for line in done.stderr.splitlines() if " temporalio.core: " in line]
    assert any("retried" in line for line in core), done.stderr
    assert "\x1b" not in done.stderr
    for line in core:
        assert RECORD_START.match(line)
