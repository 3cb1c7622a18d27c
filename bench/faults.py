"""Faults at scale: many whole calls of every provider, each webhook delivered twice and a fifth
of them out of order, while the worker is killed with SIGKILL (three times), the Temporal dev
server (state on disk) is restarted once and the database is unavailable for a while; in the
end every call must have exactly one record, with the fields the same call gets when nothing
goes wrong.

The reference: one copy of every fixture scenario, delivered once, in order, before the faults;
each faulty copy's record must equal its scenario's reference record (ids aside). Prints one
JSON line: expected / found / lost / doubled / wrong, and exits non-zero on any lost, doubled or
wrong call.

Run: .venv/bin/python bench/faults.py [--calls-per-scenario 400] [--concurrency 16]
(--calls-per-scenario 400 over the 26 scenarios is the 10 000-call run; CI runs a few dozen.)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.pbx_calls import (  # noqa: E402
    CallCopy,
    Request,
    Sender,
    Template,
    all_records,
    copy_call,
    set_up_lines,
    templates,
)
from bench.stack import Stack  # noqa: E402
from providers.spec_loader import load_specs  # noqa: E402

# Short waits, so a run is minutes, not hours: records settle after 1 s of quiet, recordings
# (nowhere to be had: the fixtures' links point at a closed port) are waited for 2 s.
BENCH_SETTINGS = {
    "PBXHUB_SETTLE_SECONDS": "1",
    "PBXHUB_RECORDING_WAIT_SECONDS": "2",
    "PBXHUB_RECORDING_FETCH_ATTEMPTS": "1",
    "PBXHUB_RECORDING_RETRY_SECONDS": "0.5",
}
# What differs between two records of the same call however it is delivered: the rows' own ids
# and times. Every other field is compared whole: `extra` by value and `legs` in the order the
# store keeps them (the canonical fold's, workflows/summary.py: by the PBX's clock, the same
# whatever the arrival), but for legs timed by their arrival (a PBX that sends no times).
VOLATILE = frozenset({"id", "created_at", "updated_at"})
# Fields that name another row (each copy has its own contact) or when it was made: whether
# they are there is the call's; their value is not.
PRESENCE_ONLY = frozenset({"contact_id", "attached_at"})
# The analytics' times are the local forms of `started_at`/`ended_at`, compared as such (a time
# of arrival there is not ISO 8601); every analytics name, its place and other value is compared.
ANALYTICS = "analytics"
ANALYTICS_TIMES = frozenset({"date", "time", "date_time"})
LEGS = "legs"
_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


@dataclass(frozen=True)
class Verdict:
    """What the store holds against what was sent."""

    expected: int
    found: int
    lost: int
    doubled: int
    wrong: int
    examples: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.lost == self.doubled == self.wrong == 0


@dataclass
class FaultLog:
    """What was done to pbxhub, and when (seconds from the start of the load)."""

    started: float = field(default_factory=time.monotonic)
    done: list[str] = field(default_factory=list)

    def note(self, what: str) -> None:
        self.done.append(f"{time.monotonic() - self.started:5.1f}s {what}")


def deliveries(
    copies: Iterable[CallCopy], reorder: float, rng: random.Random
) -> list[list[Request]]:
    """Per call, what the PBX sends: every request twice (the second copy later in the call or
    right after it), and `reorder` of them swapped with their successor."""
    plans = []
    for call in copies:
        sent = list(call.requests)
        for i in range(len(sent) - 1):
            if rng.random() < reorder:
                sent[i], sent[i + 1] = sent[i + 1], sent[i]
        twice = list(sent)
        for request in sent:
            twice.insert(rng.randint(twice.index(request) + 1, len(twice)), request)
        plans.append(twice)
    return plans


async def deliver_all(
    sender: Sender, calls: Sequence[CallCopy], plans: Sequence[list[Request]], concurrency: int
) -> None:
    """Each call's requests in its order; `concurrency` calls at a time."""
    queue = iter(zip(calls, plans, strict=True))

    async def pbx() -> None:
        for call, plan in queue:
            for request in plan:
                await sender.post(call.template.line, request)

    await asyncio.gather(*(pbx() for _ in range(concurrency)))


def hold_database(path: Path, seconds: float) -> threading.Thread:
    """Take SQLite's exclusive lock on the store for `seconds`: no one else writes meanwhile
    and every writer's busy timeout runs out (the run is root here: chmod cannot lock it out)."""

    def hold() -> None:
        connection = sqlite3.connect(path, isolation_level=None, timeout=30)
        try:
            connection.execute("BEGIN EXCLUSIVE")
            time.sleep(seconds)
            connection.execute("ROLLBACK")
        finally:
            connection.close()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    return thread


async def inflict(stack: Stack, log: FaultLog, spacing: float, database_down: float) -> None:
    """The faults, `spacing` seconds apart: kill -9 the worker, restart Temporal, kill -9,
    the database away for `database_down` seconds, kill -9."""
    await asyncio.sleep(spacing)
    stack.kill_worker()
    log.note("worker killed (SIGKILL)")
    await asyncio.sleep(spacing)
    stack.stop_temporal()
    log.note("Temporal dev server stopped")
    await asyncio.sleep(2)
    stack.start_temporal()
    await stack.client()
    log.note("Temporal dev server started again on its file")
    await asyncio.sleep(spacing)
    stack.kill_worker()
    log.note("worker killed (SIGKILL)")
    await asyncio.sleep(spacing)
    holder = hold_database(stack.database, database_down)
    log.note(f"database locked for {database_down:.0f}s")
    await asyncio.to_thread(holder.join)
    log.note("database free again")
    await asyncio.sleep(spacing / 2)
    stack.kill_worker()
    log.note("worker killed (SIGKILL)")


async def running_calls(stack: Stack) -> int:
    client = await stack.client()
    return (await client.count_workflows("ExecutionStatus='Running'")).count


async def wait_quiet(stack: Stack, http: httpx.AsyncClient, timeout: float) -> float:
    """Until no call workflow runs (every call written or given up); seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with contextlib.suppress(Exception):
            if await running_calls(stack) == 0:
                break
        await asyncio.sleep(1)
    return time.monotonic() - started


def normalised(record: Mapping[str, Any], renamed: Mapping[str, str], since: datetime) -> str:
    """A record as comparable text: its row ids out, the copy's session ids as the template's,
    and times after `since` (the run's start: times of arrival, for a PBX that sends none of its
    own) as "arrival"; the fixtures' own times are long before."""
    text = json.dumps(_plain(record, since), sort_keys=True)
    for new, old in renamed.items():
        text = text.replace(new, old)
    return text


def _field(name: str, value: Any, since: datetime) -> Any:
    if name in PRESENCE_ONLY:
        return value is not None
    if name == ANALYTICS and isinstance(value, list):
        return [
            {**item, "value": "time"} if item.get("name") in ANALYTICS_TIMES else item
            for item in (_plain(v, since) for v in value)
        ]
    if name == LEGS and isinstance(value, list):
        legs = [_plain(v, since) for v in value]
        if any(isinstance(leg, Mapping) and "arrival" in leg.values() for leg in legs):
            # ordered by when they arrived, as the PBX sent no time: a set, not a sequence
            return sorted(legs, key=lambda leg: json.dumps(leg, sort_keys=True))
        return legs
    return _plain(value, since)


def _plain(value: Any, since: datetime) -> Any:
    if isinstance(value, Mapping):
        return {k: _field(k, v, since) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_plain(v, since) for v in value]
    if isinstance(value, str) and _ISO.match(value):
        with contextlib.suppress(ValueError):
            if datetime.fromisoformat(value) >= since:
                return "arrival"
    return value


def judge(
    calls: Sequence[CallCopy],
    reference: Mapping[str, list[dict[str, Any]]],
    records: Sequence[dict[str, Any]],
    since: datetime,
) -> Verdict:
    """Each copy's records against its template's reference records."""
    by_session: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_session.setdefault(str(record["session_id"]), []).append(record)
    expected = found = lost = doubled = wrong = 0
    examples: list[str] = []
    for call in calls:
        want = sorted(
            json.dumps(r, sort_keys=True)
            for old in call.template.session_ids
            for r in reference.get(old, [])
        )
        got_records = [r for new in call.renamed for r in by_session.get(new, [])]
        got = sorted(normalised(r, call.renamed, since) for r in got_records)
        expected += len(want)
        found += len(got)
        name = f"{call.template.line.provider}/{call.template.name} {sorted(call.renamed)}"
        if len(got) < len(want):
            lost += len(want) - len(got)
            examples.append(f"lost: {name}")
        elif len(got) > len(want):
            doubled += len(got) - len(want)
            examples.append(f"doubled: {name}")
        elif got != want:
            wrong += 1
            examples.append(f"wrong: {name}: {_difference(want, got)}")
    return Verdict(expected, found, lost, doubled, wrong, tuple(examples[:10]))


def _difference(want: list[str], got: list[str]) -> str:
    for a, b in zip(want, got, strict=True):
        if a != b:
            left, right = json.loads(a), json.loads(b)
            return "; ".join(
                f"{k}: {left.get(k)!r} != {right.get(k)!r}"
                for k in sorted(set(left) | set(right))
                if left.get(k) != right.get(k)
            )
    return ""


@dataclass
class FaultRun:
    """The sizes of a run and where it keeps its state."""

    data_dir: Path
    calls_per_scenario: int = 4
    concurrency: int = 8
    reorder: float = 0.2
    spacing: float = 4.0
    database_down: float = 10.0
    providers: tuple[str, ...] | None = None
    seed: int = 13


async def run(config: FaultRun) -> dict[str, Any]:
    rng = random.Random(config.seed)
    since = datetime.now(UTC)
    stack = Stack(config.data_dir, environment=dict(BENCH_SETTINGS))
    await stack.start()
    supervisor = asyncio.create_task(stack.supervise())
    try:
        async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as http:
            channels = await set_up_lines(
                http,
                stack.admin_key,
                {t.line.provider: t.line for t in _templates(config)}.values(),
            )
            sender = Sender(http, channels)
            chosen = _templates(config)

            # The reference: each scenario once, in order, nothing going wrong.
            first = [copy_call(t) for t in chosen]
            await deliver_all(sender, first, [list(c.requests) for c in first], config.concurrency)
            await wait_quiet(stack, http, timeout=120)
            records = await all_records(http, stack.admin_key)
            reference = _reference(first, records, since)

            calls = [copy_call(t) for t in chosen for _ in range(config.calls_per_scenario)]
            rng.shuffle(calls)
            plans = deliveries(calls, config.reorder, rng)
            log = FaultLog()
            started = time.monotonic()
            await asyncio.gather(
                deliver_all(sender, calls, plans, config.concurrency),
                inflict(stack, log, config.spacing, config.database_down),
            )
            sent_in = time.monotonic() - started
            drained_in = await wait_quiet(stack, http, timeout=300)
            verdict = judge(calls, reference, await all_records(http, stack.admin_key), since)
        return {
            "bench": "faults",
            "scenarios": len(chosen),
            "calls": len(calls),
            "webhooks_sent": sum(len(p) for p in plans),
            "concurrency": config.concurrency,
            "sent_seconds": round(sent_in, 1),
            "drained_seconds": round(drained_in, 1),
            "sender_retries": sender.retries,
            "refused_webhooks": sender.failures[:10],
            "restarts": stack.restarts,
            "faults": log.done,
            **asdict(verdict),
        }
    finally:
        supervisor.cancel()
        stack.close()


def _templates(config: FaultRun) -> list[Template]:
    return templates(load_specs(), config.providers)


def _reference(
    first: Sequence[CallCopy], records: Sequence[dict[str, Any]], since: datetime
) -> dict[str, list[dict[str, Any]]]:
    """The template session id → the records its clean copy got, in the template's ids."""
    reference: dict[str, list[dict[str, Any]]] = {}
    for call in first:
        for new, old in call.renamed.items():
            mine = [r for r in records if str(r["session_id"]) == new]
            reference[old] = [json.loads(normalised(r, call.renamed, since)) for r in mine]
    return reference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls-per-scenario", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--spacing", type=float, default=10.0, help="seconds between faults")
    parser.add_argument("--database-down", type=float, default=10.0)
    parser.add_argument("--provider", action="append", help="only these (repeat)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        config = FaultRun(
            Path(folder),
            calls_per_scenario=args.calls_per_scenario,
            concurrency=args.concurrency,
            spacing=args.spacing,
            database_down=args.database_down,
            providers=tuple(args.provider) if args.provider else None,
        )
        result = asyncio.run(run(config))
    print(json.dumps(result), flush=True)
    sys.stdout.flush()
    os._exit(0 if result["lost"] == result["doubled"] == result["wrong"] == 0 else 1)


if __name__ == "__main__":
    main()
