"""The store's core: the engine (SQLite tuned for several writers, or PostgreSQL), its read and
write sessions, racing writes, and migrations. Every aggregate of the store builds on `StoreCore`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any, Final, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, Select, create_engine, event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

# What a racing write returns; the record a row is read into.
_R = TypeVar("_R")
# A table's row class.
_Row = TypeVar("_Row")

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent.parent / "migrations"

# How long an SQLite writer waits for another thread or process to finish writing.
SQLITE_BUSY_TIMEOUT_MS: Final = 30_000

# Execution option that makes an SQLite transaction take the write lock at BEGIN.
_SQLITE_WRITE: Final = "pbxhub_sqlite_write"

# Key of the PostgreSQL advisory lock that lets one process at a time run migrations.
_MIGRATION_LOCK_KEY: Final = 0x7062_7868_7562  # "pbxhub"

# Alembic keeps its running context in module globals: one migration per process at a time.
_migrate_lock = threading.Lock()


def make_engine(database_url: str) -> Engine:
    """An engine set up the way the store needs it: SQLite tuned for several writers, or not."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    # pre_ping: a pooled connection may have died with a PostgreSQL restart.
    return create_engine(url, pool_pre_ping=True)


def use_wal(cursor: Any) -> None:
    """Put the database file in WAL mode (it stays so). Switching needs the file to itself,
    and SQLite answers "database is locked" at once, whatever busy_timeout says, while another
    process (one creating the same new database) holds it: try again until the timeout."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _sqlite_engine(url: URL) -> Engine:
    database = url.database
    if not database or database == ":memory:" or url.query.get("mode") == "memory":
        # Every pooled connection would see its own empty database.
        raise ValueError("in-memory SQLite is not supported; use a file: sqlite:///path/to/db")
    if not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        # A new database holds channel secrets: readable by its owner only from the start
        # (SQLite gives its -wal and -shm files the database file's mode).
        with suppress(FileExistsError):
            os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    engine = create_engine(url, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _configure_connection(dbapi_connection: Any, _record: Any) -> None:
        # The driver must not start transactions on its own; `_begin` does (SQLAlchemy's recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        # WAL: readers never block the writer nor each other, across processes too.
        use_wal(cursor)
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # A deferred transaction that reads and then writes fails at once with SQLITE_BUSY
        # (busy_timeout does not apply) when another writer committed in between; writers
        # therefore queue for the lock up front.
        immediate = connection.get_execution_options().get(_SQLITE_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class StoreCore:
    """The database the store's aggregates share: one engine, short read transactions
    (`_reads`) and write transactions that take SQLite's write lock up front (`_writes`)."""

    def __init__(self, database_url: str) -> None:
        self._engine = make_engine(database_url)
        self._write_engine = self._engine.execution_options(**{_SQLITE_WRITE: True})
        self._reads = sessionmaker(self._engine, expire_on_commit=False)
        self._writes = sessionmaker(self._write_engine, expire_on_commit=False)

    def migrate(self) -> None:
        """Bring the schema to the newest migration; a no-op when it is already there.

        Safe when several processes start at once: one migrates, the others wait, then find
        nothing to do.
        """
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.set_main_option("path_separator", "os")
        with _migrate_lock, self._write_engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                _migrate_sqlite(connection, config)
                return
            with connection.begin():
                # PostgreSQL: the first process holds this lock until its migration commits.
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
                _upgrade(connection, config)

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def ping(self) -> None:
        """Raise if the database does not answer (for health checks)."""
        with self._engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def _get(self, table: type[_Row], row_id: int, record: Callable[[_Row], _R]) -> _R | None:
        """The record of `table`'s row with this primary key, or None if there is none."""
        with self._reads() as session:
            row = session.get(table, row_id)
            return None if row is None else record(row)

    def _first(self, query: Select[_Row], record: Callable[[_Row], _R]) -> _R | None:
        """The record of the first row `query` selects, or None if it selects none."""
        with self._reads() as session:
            row = session.scalar(query)
            return None if row is None else record(row)

    def _write_racing(
        self,
        write: Callable[[Session], _R],
        *,
        lost: Callable[[IntegrityError], Exception] | None = None,
    ) -> _R:
        """`write` in one transaction, which reads a row and inserts it when missing. When the
        insert breaks a unique key, a racing writer inserted the same row between our read and
        our insert: once more, and the second read finds it. A second failure is no race (an
        unknown reference): `lost(error)` is raised, or the error itself."""
        for attempt in range(2):
            try:
                with self._writes.begin() as session:
                    return write(session)
            except IntegrityError as error:
                if attempt:
                    if lost is None:
                        raise
                    raise lost(error) from error
        raise AssertionError("unreachable")


def write_changes(row: Any, values: Mapping[str, Any]) -> bool:
    """Set the columns of `row` whose value differs from `values`; True when any did (a row
    written again with what it holds is not touched, not even its updated_at)."""
    changed = {name: value for name, value in values.items() if getattr(row, name) != value}
    for name, value in changed.items():
        setattr(row, name, value)
    return bool(changed)


def _upgrade(connection: Connection, config: Config) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _migrate_sqlite(connection: Connection, config: Config) -> None:
    # A batch migration rebuilds a table by copying it and dropping the original; with foreign
    # keys enforced, the drop would cascade into the rows that refer to it. The pragma only
    # takes effect outside a transaction, so it is set on the driver's connection before BEGIN
    # (which is IMMEDIATE here, so processes migrate one after the other).
    driver_connection = connection.connection.driver_connection
    assert driver_connection is not None
    driver_connection.execute("PRAGMA foreign_keys = OFF")
    try:
        with connection.begin():
            _upgrade(connection, config)
            dangling = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if dangling:
                raise RuntimeError(f"migration left rows referring to nothing: {dangling[:5]}")
    finally:
        driver_connection.execute("PRAGMA foreign_keys = ON")
