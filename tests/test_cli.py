"""The `pbxhub` command as operators meet it: a broken spec stops start-up, checks run offline."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import providers

PBXHUB = [sys.executable, "-m", "pbxhub.cli"]
UIS_SPEC = Path(providers.__file__).parent / "uis.yaml"


def run_pbxhub(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PBXHUB, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def broken_copy_of_uis(folder: Path) -> Path:
    spec = folder / "uis.yaml"
    text = UIS_SPEC.read_text()
    assert "    methods: [POST]" in text
    spec.write_text(text.replace("    methods: [POST]", "    methods: [FETCH]", 1))
    return spec


def test_start_up_with_a_broken_spec_stops_naming_the_file_the_path_and_the_problem(
    tmp_path: Path,
) -> None:
    specs = tmp_path / "providers"
    specs.mkdir()
    spec = broken_copy_of_uis(specs)

    result = run_pbxhub(
        "dev",
        "--data-dir",
        str(tmp_path / "data"),
        "--temporal-address",
        "127.0.0.1:1",
        env={"PBXHUB_PROVIDERS_DIR": str(specs)},
    )

    assert result.returncode == 1
    assert str(spec) in result.stderr
    assert "endpoints.notify.methods[0]" in result.stderr
    assert "FETCH" in result.stderr
    # Refused before anything started: no Temporal state, no database.
    assert not (tmp_path / "data" / "temporal.db").exists()


def test_validate_names_a_broken_spec_and_passes_the_shipped_ones(tmp_path: Path) -> None:
    broken = run_pbxhub("providers", "validate", str(broken_copy_of_uis(tmp_path)))
    assert broken.returncode == 1
    assert "endpoints.notify.methods[0]" in broken.stdout + broken.stderr

    shipped = run_pbxhub("providers", "validate")
    assert shipped.returncode == 0, shipped.stdout + shipped.stderr


def test_every_shipped_spec_passes_its_own_examples_offline() -> None:
    started = time.perf_counter()
    result = run_pbxhub("providers", "test")
    elapsed = time.perf_counter() - started

    assert result.returncode == 0, result.stdout + result.stderr
    # Reported, not asserted: speed is measured in bench/, this only shows it in the log.
    print(f"pbxhub providers test: {elapsed:.2f}s for every spec, interpreter start included")


def test_request_urls_that_may_carry_keys_are_not_logged() -> None:
    """httpx would log each request's whole URL at INFO (a PBX link's token, an API query):
    under pbxhub's logging only pbxhub's own host-only lines are written."""
    script = (
        "import logging, httpx\n"
        "from pbxhub.cli import configure_logging\n"
        "configure_logging()\n"
        "transport = httpx.MockTransport(lambda request: httpx.Response(200))\n"
        "with httpx.Client(transport=transport) as client:\n"
        "    client.get('http://127.0.0.1/record.mp3?token=SECRET-TOKEN')\n"
        "logging.getLogger('pbxhub').info('asked 127.0.0.1')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PBXHUB_LOG_LEVEL": "INFO"},
    )
    assert done.returncode == 0, done.stderr
    assert "asked 127.0.0.1" in done.stderr
    assert "SECRET-TOKEN" not in done.stderr + done.stdout
