"""The data folder holds channel secrets, the admin key and recordings: only its owner reads it,
whatever the umask pbxhub was started with."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from crm import Store
from pbxhub.settings import Settings
from pbxhub.wiring import open_store, recording_storage


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The usual umask (022): everything would be world-readable unless pbxhub says otherwise."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.mark.usefixtures("open_umask")
def test_a_new_data_folder_and_its_files_are_its_owners_only(tmp_path: Path) -> None:
    data = tmp_path / "state" / "data"
    settings = Settings(data_dir=data)

    store = open_store(settings)
    try:
        store.create_channel(provider="uis", name="line")  # a write: WAL and shared memory
        admin_key = settings.resolved_admin_key
        recording_storage(settings)

        assert mode(data) == mode(data.parent) == 0o700
        assert mode(data / "recordings") == 0o700
        for name in ("pbxhub.db", "pbxhub.db-wal", "pbxhub.db-shm", "admin_key"):
            assert mode(data / name) == 0o600, name
        assert (data / "admin_key").read_text().strip() == admin_key
    finally:
        store.close()


@pytest.mark.usefixtures("open_umask")
def test_files_an_older_pbxhub_left_readable_are_narrowed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    Store(f"sqlite:///{data / 'pbxhub.db'}").close()
    (data / "admin_key").write_text("an older key\n")
    for path in (data / "pbxhub.db", data / "admin_key"):
        path.chmod(0o644)
    settings = Settings(data_dir=data)

    open_store(settings).close()
    assert settings.resolved_admin_key == "an older key"

    assert mode(data / "pbxhub.db") == mode(data / "admin_key") == 0o600
    assert mode(data) == 0o755  # the folder was there before: perhaps the user's, left alone


@pytest.mark.usefixtures("open_umask")
def test_a_database_outside_the_data_folder_is_created_private_and_an_existing_one_left_alone(
    tmp_path: Path,
) -> None:
    new = tmp_path / "elsewhere" / "new.db"
    Store(f"sqlite:///{new}").close()
    assert mode(new) == 0o600

    existing = tmp_path / "users.db"
    Store(f"sqlite:///{existing}").close()
    existing.chmod(0o640)  # the user's choice for a path they gave
    open_store(Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{existing}")).close()
    assert mode(existing) == 0o640


def group_writable_umask() -> None:
    os.umask(0o002)


def test_the_command_line_creates_private_files_under_any_umask(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = subprocess.run(
        [sys.executable, "-m", "pbxhub.cli", "db", "upgrade", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=group_writable_umask,
    )
    assert done.returncode == 0, done.stderr

    assert mode(data) == 0o700
    created = list(data.rglob("*"))
    assert created
    for path in created:
        assert mode(path) == (0o700 if path.is_dir() else 0o600), path
