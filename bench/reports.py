"""Report latency: the weekly calls report by employee and the missed-calls report, against a
plain COUNT of the same week's calls, on SQLite and PostgreSQL, in the same run.

The store is filled by bulk inserts with `--calls` calls spread over a year (default one
million), `--employees` employees (default 200) in two channels of two time zones, and a
contact for every 20 calls. Each report (and the weekly one by contact too) is read as the API
reads it for the admin (store query and shaping, without HTTP), `--repeat` times; the median
and the p95 count. Prints one JSON line.
Run: .venv/bin/python bench/reports.py [--calls N] [--employees N] [--repeat N] [--backends ...]
PostgreSQL: PBXHUB_TEST_POSTGRES_URL (default the tests' database), in a schema dropped after.
`--reuse NAME` keeps the filled store between runs instead (SQLite: a file NAME in the temporary
folder; PostgreSQL: a schema named after NAME, kept) and refills it only when its calls or
employees differ from those asked for; migrations newer than the store are applied to it as is.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Engine, func, insert, inspect, select, text
from sqlalchemy.engine import make_url

from api.deps import ADMIN
from api.report_scope import PeriodQuery, report_request
from api.report_views import calls_report_out, missed_report_out
from crm import EmployeeLink, Store
from crm.store.engine import make_engine
from crm.tables import CallRow, ContactPhoneRow, ContactResponsibleRow, ContactRow, EmployeeRow

POSTGRES_URL = os.environ.get(
    "PBXHUB_TEST_POSTGRES_URL", "postgresql+psycopg://pbxhub:pbxhub@127.0.0.1:5432/pbxhub_test"
)
# The year of calls ends here; the week timed is its last whole ISO week.
YEAR_END = datetime(2026, 3, 30, tzinfo=UTC)
WEEK = "2026-W13"
BATCH = 20_000


@contextmanager
def database(backend: str, reuse: str | None = None) -> Iterator[str]:
    """A database URL for one run: a new one dropped after, or the kept one named `reuse`."""
    if backend == "sqlite":
        if reuse is not None:
            yield f"sqlite:///{_kept_sqlite(reuse)}"
            return
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/bench.db"
        return
    admin = make_engine(POSTGRES_URL)
    schema = f"bench_reports_{reuse}" if reuse is not None else f"bench_{uuid.uuid4().hex[:12]}"
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        if reuse is None:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _kept_sqlite(name: str) -> str:
    return os.path.join(tempfile.gettempdir(), f"pbxhub-bench-reports-{name}.db")


def _empty(backend: str, reuse: str) -> None:
    """Start the kept store `reuse` over: its file removed, or its schema dropped and made anew."""
    if backend == "sqlite":
        path = _kept_sqlite(reuse)
        for leftover in (path, f"{path}-wal", f"{path}-shm"):
            if os.path.exists(leftover):
                os.remove(leftover)
        return
    schema = f"bench_reports_{reuse}"
    admin = make_engine(POSTGRES_URL)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    finally:
        admin.dispose()


def _filled_as_asked(url: str, calls: int, employees: int) -> bool:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table(CallRow.__tablename__):
                return False
            held = connection.scalar(select(func.count()).select_from(CallRow))
            staff = connection.scalar(select(func.count()).select_from(EmployeeRow))
    finally:
        engine.dispose()
    return held == calls and staff == employees


def fill(store: Store, engine: Engine, calls: int, employees: int, seed: int) -> None:
    """Bulk inserts: contacts with a responsible each, then the calls in batches."""
    rng = random.Random(seed)
    channels = [
        store.create_channel(provider="uis", name="Moscow", timezone="Europe/Moscow"),
        store.create_channel(provider="uis", name="Berlin", timezone="Europe/Berlin"),
    ]
    staff = [
        store.create_employee(
            name=f"Employee {n:03d}",
            links=[EmployeeLink(channels[n % 2].id, extension=str(100 + n))],
        ).id
        for n in range(employees)
    ]
    contacts = max(1, calls // 20)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        first = (connection.scalar(select(func.max(ContactRow.id))) or 0) + 1
        connection.execute(
            insert(ContactRow),
            [
                {"id": first + n, "name": f"Contact {n}", "created_at": now, "updated_at": now}
                for n in range(contacts)
            ],
        )
        connection.execute(
            insert(ContactPhoneRow),
            [{"contact_id": first + n, "phone": f"+7916{n:07d}"} for n in range(contacts)],
        )
        connection.execute(
            insert(ContactResponsibleRow),
            [
                {"contact_id": first + n, "employee_id": staff[n % len(staff)], "position": 0}
                for n in range(contacts)
            ],
        )
    year = int(timedelta(days=365).total_seconds())
    for start in range(0, calls, BATCH):
        rows = [
            _call(rng, n, channels[n % 2].id, staff, first, contacts, year, now)
            for n in range(start, min(start + BATCH, calls))
        ]
        with engine.begin() as connection:
            connection.execute(insert(CallRow), rows)


def _call(
    rng: random.Random,
    n: int,
    channel_id: int,
    staff: list[int],
    first_contact: int,
    contacts: int,
    year: int,
    now: datetime,
) -> dict[str, Any]:
    started = YEAR_END - timedelta(seconds=rng.randrange(year))
    answered = rng.random() < 0.8
    inbound = rng.random() < 0.6
    wait = rng.randrange(3, 60)
    talk = rng.randrange(5, 900) if answered else None
    contact = rng.randrange(contacts)
    lost_in_queue = inbound and not answered and rng.random() < 0.5
    return {
        "channel_id": channel_id,
        "session_id": f"s{n}",
        "provider": "uis",
        "kind": "call" if answered else "missed",
        "direction": "in" if inbound else "out",
        "contact_id": first_contact + contact,
        "contact_phone": f"+7916{contact:07d}",
        "employee_id": None if lost_in_queue else rng.choice(staff),
        "started_at": started,
        "answered_at": started + timedelta(seconds=wait) if answered else None,
        "ended_at": started + timedelta(seconds=wait + (talk or 0)),
        "occurred_at": started,
        "wait_seconds": wait if answered else None,
        "talk_seconds": talk,
        "total_seconds": wait + (talk or 0),
        "tags": [],
        "extra": {},
        "legs": [],
        "incomplete": False,
        "created_at": now,
        "updated_at": now,
    }


def timed_ms(action: Callable[[], object], repeat: int) -> tuple[float, float]:
    """The median and the 95th percentile (nearest rank) of `repeat` reads, in ms."""
    action()  # warm: the first read pays for caches the others share
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        action()
        times.append((time.perf_counter() - began) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, math.ceil(0.95 * len(times)) - 1)]
    return round(statistics.median(times), 1), round(p95, 1)


def measure(
    backend: str, calls: int, employees: int, repeat: int, reuse: str | None = None
) -> dict[str, Any]:
    with database(backend, reuse) as url:
        kept = reuse is not None and _filled_as_asked(url, calls, employees)
        if reuse is not None and not kept:
            _empty(backend, reuse)
        store = Store(url)
        store.migrate()
        engine = make_engine(url)
        began = time.perf_counter()
        if not kept:
            fill(store, engine, calls, employees, seed=13)
        filled = time.perf_counter() - began
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
        request = report_request(ADMIN, store, PeriodQuery(WEEK, None, None, None))
        week_start = min(zone.bounds.start for zone in request.scope.zones)
        week_end = max(zone.bounds.end for zone in request.scope.zones)

        def count() -> int:
            with engine.connect() as connection:
                query = select(func.count()).where(
                    CallRow.occurred_at >= week_start, CallRow.occurred_at < week_end
                )
                return int(connection.scalar(query) or 0)

        def weekly(by: Literal["employee", "contact"]) -> Callable[[], object]:
            def read() -> object:
                report = store.calls_report(
                    request.scope, by=by, limit=20, offset=0, max_calls=5_000
                )
                return calls_report_out(request, report, by=by, limit=20, offset=0)

            return read

        def missed() -> object:
            days, rows = store.missed_report(request.scope, limit=500, offset=0)
            return missed_report_out(request, days, rows, limit=500, offset=0)

        baseline, baseline_p95 = timed_ms(count, repeat)
        by_employee, by_employee_p95 = timed_ms(weekly("employee"), repeat)
        by_contact, by_contact_p95 = timed_ms(weekly("contact"), repeat)
        missed_ms, missed_p95 = timed_ms(missed, repeat)
        result = {
            "reused": kept,
            "fill_seconds": round(filled, 1),
            "week_calls": count(),
            "count_ms": baseline,
            "count_p95_ms": baseline_p95,
            "weekly_by_employee_ms": by_employee,
            "weekly_by_employee_p95_ms": by_employee_p95,
            "weekly_by_contact_ms": by_contact,
            "weekly_by_contact_p95_ms": by_contact_p95,
            "missed_ms": missed_ms,
            "missed_p95_ms": missed_p95,
            "weekly_ratio": round(by_employee / baseline, 1) if baseline else None,
            "by_contact_ratio": round(by_contact / baseline, 1) if baseline else None,
            "missed_ratio": round(missed_ms / baseline, 1) if baseline else None,
        }
        store.close()
        engine.dispose()
        return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--employees", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument(
        "--reuse",
        metavar="NAME",
        help="keep the filled store NAME (letters, digits, _) between runs; refill it only when "
        "its calls or employees differ",
    )
    args = parser.parse_args()
    if args.reuse is not None and not re.fullmatch(r"[a-z0-9_]{1,40}", args.reuse):
        parser.error("--reuse: NAME is 1 to 40 lowercase letters, digits or _")
    result: dict[str, Any] = {
        "calls": args.calls,
        "employees": args.employees,
        "week": WEEK,
        "date": date.today().isoformat(),
    }
    for backend in args.backends:
        result[backend] = measure(backend, args.calls, args.employees, args.repeat, args.reuse)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
