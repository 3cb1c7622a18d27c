"""The data folder is private: it holds channel secrets (pbxhub.db), the admin key, Temporal's
state and call recordings, so only the user running pbxhub may read it (folders 0700, files 0600).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "PRIVATE_FILE",
    "PRIVATE_FOLDER",
    "PRIVATE_UMASK",
    "private_folder",
    "restrict_files",
    "sqlite_files",
    "use_private_umask",
    "write_private_file",
]

PRIVATE_FOLDER = 0o700
PRIVATE_FILE = 0o600
# What every file and folder pbxhub's processes create gets: nothing for group and others.
PRIVATE_UMASK = 0o077


def private_folder(path: Path) -> Path:
    """`path`, created 0700 when missing (its missing parents too: they are pbxhub's own).

    A folder that already exists keeps its mode: it may be the user's (`--data-dir ~`); the
    files pbxhub keeps in it are 0600 (`restrict_files`)."""
    missing = [folder for folder in (path, *path.parents) if not folder.exists()]
    path.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    for folder in missing:
        # mkdir applies the mode to the last folder only, and through the umask
        folder.chmod(PRIVATE_FOLDER)
    return path


def restrict_files(*paths: Path) -> None:
    """Narrow pbxhub's own files that exist (made by an older pbxhub, or before a umask) to
    0600; missing ones are skipped."""
    for path in paths:
        try:
            if path.is_file() and path.stat().st_mode & 0o777 != PRIVATE_FILE:
                path.chmod(PRIVATE_FILE)
        except FileNotFoundError:  # an SQLite -wal/-shm file may go away meanwhile
            pass


def sqlite_files(database: Path) -> tuple[Path, ...]:
    """An SQLite database file and its WAL-mode companions, as secret as the file itself."""
    return (database, *(database.with_name(database.name + side) for side in ("-wal", "-shm")))


def write_private_file(path: Path, text: str) -> None:
    """Create `path` 0600 from the start (never readable by others, not even for a moment)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)


def use_private_umask() -> None:
    """From now on, everything this process and its children create (SQLite's -wal and -shm
    files, recordings, the Temporal dev server's files) is private."""
    os.umask(PRIVATE_UMASK)
