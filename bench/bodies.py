"""Body parsing on hostile shapes vs ordinary bodies of the same size, and /healthz while large
webhook bodies are being parsed vs /healthz idle.

Each hostile body is timed against an ordinary body of the same size parsed in the same run, so
the ratios say what a body's shape costs, whatever the machine. Before the bounded readers the
PHP list was quadratic (4n cost 16 times n; the 250 KB one about a minute), the lenient-JSON
repair backtracked (over a thousand times an ordinary body already at 4 KB, 14 s at 32 KB), and
every body was read on the event loop, stalling it for the whole read. Prints one JSON line.
Run: .venv/bin/python bench/bodies.py [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import tempfile
import time
from collections.abc import Callable

import httpx

from api.app import create_app
from api.context import ApiContext
from api.temporal import TemporalGateway
from crm import Store
from providers.bodies import BodyError, BodyFormat, BodyLimits, parse_body
from providers.engine import ChannelContext, IncomingRequest, prepare_request
from providers.rejections import RequestRejected
from providers.spec_loader import load_specs
from workflows.starter import CallSettings

FORM = "application/x-www-form-urlencoded"
PHP_FORM = BodyFormat(formats=("form",), nested="php")
LENIENT_JSON = BodyFormat(formats=("json",), lenient_json=True)
# wide enough that the hostile list is parsed, not refused: the work itself is measured
UNBOUNDED = BodyLimits(max_fields=1_000_000, max_width=1_000_000)


def seconds(
    parse: Callable[[], object], rounds: int, refusal: type[Exception] = BodyError
) -> float:
    """The least time of `rounds` runs (a `refusal` counts as done: it is an answer)."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        try:
            parse()
        except refusal:
            pass
        best = min(best, time.perf_counter() - started)
    return best


def same_size(unit: str, size: int, head: str = "", tail: str = "") -> str:
    """`unit` repeated (its `{i}` numbered) until the text is about `size` characters long."""
    parts = [head]
    length = len(head) + len(tail)
    i = 0
    while length < size:
        part = unit.format(i=i)
        parts.append(part)
        length += len(part)
        i += 1
    return "".join(parts) + tail


def parsing(rounds: int) -> dict[str, float]:
    def form(raw: str, fmt: BodyFormat, limits: BodyLimits) -> Callable[[], object]:
        body = raw.encode()
        return lambda: parse_body(fmt, body=body, content_type=FORM, query={}, limits=limits)

    def lenient(raw: str) -> Callable[[], object]:
        body = raw.encode()
        return lambda: parse_body(
            LENIENT_JSON, body=body, content_type="application/json", query={}
        )

    php_n = "a[]=&" * 12_500
    php_4n = "a[]=&" * 50_000  # the 250 KB body of the report
    ordinary_4n = same_size("f{i}[x]=value&", len(php_4n))
    colons = '{"a": ' + ": " * 16_000  # the 32 KB body of the report
    bare = same_size('"f{i}": 2024-03-12 10:15:07, ', len(colons), "{", "}")
    deep = '{"a": ' * 10_000 + "1" + "}" * 10_000
    flat = same_size('"f{i}": 1, ', len(deep), "{", "}")
    return {
        # the hostile list parsed in full (limits lifted): linear means about 4
        "php_list_4n_vs_n": seconds(form(php_4n, PHP_FORM, UNBOUNDED), rounds)
        / seconds(form(php_n, PHP_FORM, UNBOUNDED), rounds),
        "php_list_4n_vs_ordinary_form_same_size": seconds(form(php_4n, PHP_FORM, UNBOUNDED), rounds)
        / seconds(form(ordinary_4n, PHP_FORM, UNBOUNDED), rounds),
        # with the default limits: refused (413) at once
        "php_list_refused_vs_ordinary_form_same_size": seconds(
            form(php_4n, PHP_FORM, BodyLimits()), rounds
        )
        / seconds(form(ordinary_4n, PHP_FORM, UNBOUNDED), rounds),
        "lenient_colons_vs_bare_values_same_size": seconds(lenient(colons), rounds)
        / seconds(lenient(bare), rounds),
        "deep_json_vs_flat_json_same_size": seconds(lenient(deep), rounds)
        / seconds(lenient(flat), rounds),
    }


async def healthz_while_parsing(rounds: int) -> dict[str, object]:
    """How long the event loop stalls, and how long /healthz takes, while webhooks with large
    bodies are parsed, vs idle, through the API (in process: a stalled loop serves nothing)."""
    with tempfile.TemporaryDirectory() as folder:
        store = Store(f"sqlite:///{folder}/bench.db")
        store.migrate()
        channel = store.create_channel(provider="uis", name="bench")
        context = ApiContext(
            store=store,
            # never reached: every webhook below is refused before delivery
            temporal=TemporalGateway.for_address("127.0.0.1:9", namespace="default"),
            specs=load_specs(),
            admin_key="bench",
            public_base_url="http://bench",
            task_queue="bench-bodies",
            call_settings=CallSettings(
                recording_wait_seconds=1, max_call_seconds=60, workflow_id_prefix="bench"
            ),
        )
        # 250 KB within every bound: 1 500 call legs with a bare time each to repair; matching
        # no UIS event, each is read in full, then refused (422)
        leg = '{{"id": {i}, "at": 2024-03-12 10:15:07, "note": "' + "x" * 110 + '"}}, '
        heavy = (same_size(leg, 250_000, '{"legs": [').rstrip(", ") + "]}").encode()
        transport = httpx.ASGITransport(app=create_app(context))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:

            async def stalls(until: Callable[[], bool]) -> list[float]:
                """How late, in ms, each 2 ms sleep of the loop woke up, until `until`."""
                late = []
                while not until():
                    started = time.perf_counter()
                    await asyncio.sleep(0.002)
                    late.append((time.perf_counter() - started) * 1000 - 2)
                return late

            async def healthz(until: Callable[[], bool]) -> list[float]:
                """How long each /healthz took, in ms, asked every 2 ms until `until`."""
                took = []
                while not until():
                    started = time.perf_counter()
                    response = await http.get("/healthz")
                    assert response.status_code == 200
                    took.append((time.perf_counter() - started) * 1000)
                    await asyncio.sleep(0.002)
                return took

            url = f"/hooks/uis/{channel.secret_key}/notify"
            await http.post(url, content=heavy)  # the worker threads started, the code warm
            # what one such body costs where it is read: a loop-bound reader stalls this long
            request = IncomingRequest("POST", {"content-type": "application/json"}, {}, heavy)
            one_read = seconds(
                lambda: prepare_request(
                    context.specs["uis"], "notify", request, ChannelContext(channel.id)
                ),
                rounds,
                RequestRejected,
            )
            stop_at = time.perf_counter() + 0.3
            idle_stalls, idle_health = await asyncio.gather(
                stalls(lambda: time.perf_counter() > stop_at),
                healthz(lambda: time.perf_counter() > stop_at),
            )
            started = time.perf_counter()
            posts = [asyncio.create_task(http.post(url, content=heavy)) for _ in range(rounds)]
            busy_stalls, busy_health = await asyncio.gather(
                stalls(lambda: all(p.done() for p in posts)),
                healthz(lambda: all(p.done() for p in posts)),
            )
            busy_seconds = time.perf_counter() - started
            statuses = sorted({(await p).status_code for p in posts})
        store.close()
    return {
        "heavy_webhooks": rounds,
        "heavy_webhook_statuses": statuses,
        "heavy_webhooks_seconds": round(busy_seconds, 3),
        "one_heavy_body_read_ms": round(one_read * 1000, 2),
        # the 90th percentile: a shared machine's scheduling hiccups make the maximum noise
        "loop_stall_idle_p90_ms": round(p90(idle_stalls), 2),
        "loop_stall_busy_p90_ms": round(p90(busy_stalls), 2),
        "healthz_idle_median_ms": round(statistics.median(idle_health), 2),
        "healthz_busy_median_ms": round(statistics.median(busy_health), 2),
        "healthz_answered_while_parsing": len(busy_health),
        # read on the loop, the loop would stall at least one body's read each time (ratio >= 1)
        "ratio_loop_stall_busy_p90_to_one_body_read": round(
            p90(busy_stalls) / (one_read * 1000), 3
        ),
    }


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    logging.getLogger("pbxhub").setLevel(logging.ERROR)  # the refusals are expected
    result: dict[str, object] = {"bench": "bodies", "rounds": rounds}
    result.update({k: round(v, 2) for k, v in parsing(rounds).items()})
    result.update(asyncio.run(healthz_while_parsing(rounds)))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
