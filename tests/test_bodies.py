"""Request bodies within bounds: every reader does linear work whatever the body's shape, refuses
a body beyond the limits with 413/422 naming what was exceeded, and never raises RecursionError;
the ingress reads webhooks off the event loop."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import anyio
import pytest
from conftest import Pbxhub, running_pbxhub
from temporalio.testing import WorkflowEnvironment

from providers.bodies import BodyError, BodyFormat, BodyLimits, parse_body, read_json
from providers.body_limits import MAX_DEPTH, MAX_FIELDS, MAX_KEY_LENGTH, MAX_WIDTH
from providers.json_text import repair_json
from providers.template_filters import FilterValueError, as_list, from_json

PHP_FORM = BodyFormat(formats=("form",), nested="php")
LENIENT_JSON = BodyFormat(formats=("json",), lenient_json=True)
FORM = "application/x-www-form-urlencoded"
LIMITS = BodyLimits()


def parse(fmt: BodyFormat, raw: bytes, limits: BodyLimits | None = None) -> dict[str, Any]:
    content_type = "application/json" if fmt.formats == ("json",) else FORM
    return parse_body(fmt, body=raw, content_type=content_type, query={}, limits=limits or LIMITS)


def refusal(fmt: BodyFormat, raw: bytes, limits: BodyLimits | None = None) -> BodyError:
    with pytest.raises(BodyError) as caught:
        parse(fmt, raw, limits)
    return caught.value


def work(call: Callable[[], object]) -> int:
    """How many Python and C calls `call` makes, each resumption of a generator included: a
    measure of the work done that does not depend on how busy the machine is."""
    count = 0

    def profile(frame: FrameType, event: str, arg: object) -> None:
        nonlocal count
        count += 1

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return count


def cpu_seconds(call: Callable[[], object]) -> float:
    """The least CPU time of this thread over three runs of `call` (other processes' load does not
    count in it)."""
    best = float("inf")
    for _ in range(3):
        started = time.thread_time()
        call()
        best = min(best, time.thread_time() - started)
    return best


def php_list(n: int) -> bytes:
    return b"a[]=&" * n


# --- defect 1: quadratic parsers ---------------------------------------------------------------


def test_php_list_keys_are_read_with_work_linear_in_their_number() -> None:
    # each `a[]` used to count the array's integer keys again: n keys cost n²/2
    small = work(lambda: parse(PHP_FORM, php_list(400)))
    large = work(lambda: parse(PHP_FORM, php_list(1600)))
    assert large <= 4.5 * small, (small, large)
    assert parse(PHP_FORM, php_list(3)) == {"a": ["", "", ""]}


def test_a_php_list_appends_after_the_largest_index_given_as_php_does() -> None:
    assert parse(PHP_FORM, b"a[5]=x&a[]=y&b[]=1&b[1]=2&b[]=3") == {
        "a": {"5": "x", "6": "y"},
        "b": ["1", "2", "3"],
    }


def test_a_250_kb_body_of_50000_php_list_keys_is_413_naming_the_limit_of_fields() -> None:
    body = php_list(50_000)
    assert len(body) <= 256 * 1024  # within the body limit: its shape is what is refused
    error = refusal(PHP_FORM, body)
    assert error.status == 413
    assert f"at most {MAX_FIELDS} are read" in error.message


def test_repairing_hand_typed_json_costs_no_more_on_a_hostile_body_than_an_ordinary_one() -> None:
    # `{"a": ` then `: ` repeated made the old repair regex backtrack for 14 s on 32 KB
    hostile = '{"a": ' + ": " * 16_000
    ordinary = "{" + ", ".join(f'"f{i}": 2024-03-12 10:15:{i % 60:02}' for i in range(1_200))
    ordinary = ordinary[: len(hostile)]
    assert abs(len(hostile) - len(ordinary)) < 64
    baseline = cpu_seconds(lambda: repair_json(ordinary))
    assert cpu_seconds(lambda: repair_json(hostile)) <= 50 * baseline + 0.01
    error = refusal(LENIENT_JSON, hostile.encode())
    assert (error.status, error.message[:25]) == (400, "body is not valid JSON: E")


def test_the_repair_quotes_bare_text_and_keeps_numbers_true_false_and_null() -> None:
    raw = (
        b'{"type":""start"", "call_id":""123"", "at": 2024-03-12 10:15:07, "n": 12, "x": -1.5e3,'
        b' "ok": true, "none": null, "zip": 007 , "hhmm": 12:30\n, "note": "a: b, c", "o": {}}'
    )
    assert parse(LENIENT_JSON, raw) == {
        "type": "start",
        "call_id": "123",
        "at": "2024-03-12 10:15:07",
        "n": 12,
        "x": -1500.0,
        "ok": True,
        "none": None,
        "zip": "007",
        "hhmm": "12:30",
        "note": "a: b, c",
        "o": {},
    }


MULTIPART = BodyFormat(formats=("multipart",))


def multipart(parts: int, *, disposition: str = 'form-data; name="f{i}"') -> bytes:
    part = "--XyZ\r\nContent-Disposition: {d}\r\n\r\nv\r\n"
    body = "".join(part.format(d=disposition.format(i=i % 500)) for i in range(parts))
    return (body + "--XyZ--\r\n").encode()


def parse_multipart(raw: bytes) -> dict[str, Any]:
    return parse_body(
        MULTIPART, body=raw, content_type="multipart/form-data; boundary=XyZ", query={}
    )


def test_multipart_parts_are_read_with_work_linear_in_their_number() -> None:
    # (the email parser it replaces made linear calls too, but its time grew faster than the
    # body, in C: 4 000 parts took 1.4 s; the header below is the case that shows it)
    small = work(lambda: parse_multipart(multipart(500)))
    large = work(lambda: parse_multipart(multipart(2_000)))
    assert large <= 4.5 * small, (small, large)
    assert parse_multipart(multipart(2))["f1"] == "v"


def test_a_multipart_header_of_20000_parameters_is_400_at_once() -> None:
    # the email parser took 4.5 s over this 100 KB header
    raw = multipart(1, disposition='form-data; name="f"' + "; a=b" * 20_000)
    with pytest.raises(BodyError) as caught:
        parse_multipart(raw)
    assert caught.value.status == 400
    assert "header size" in caught.value.message


# --- defect 2: deep nesting --------------------------------------------------------------------


@pytest.mark.parametrize("fmt", [BodyFormat(), LENIENT_JSON], ids=["json", "lenient json"])
@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 900, 10_000])
def test_json_nested_deeper_than_the_limit_is_422_naming_the_limit(
    fmt: BodyFormat, depth: int
) -> None:
    error = refusal(fmt, b'{"a": ' * depth + b"1" + b"}" * depth)
    assert error.status == 422
    assert f"nests deeper than {MAX_DEPTH} levels" in error.message


def test_json_nested_as_deep_as_the_limit_is_read() -> None:
    depth = MAX_DEPTH
    body = parse(BodyFormat(), b'{"a": ' * depth + b"1" + b"}" * depth)
    for _ in range(depth - 1):
        body = body["a"]
    assert body == {"a": 1}


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 900])
def test_php_keys_nested_deeper_than_the_limit_are_422_naming_the_limit(depth: int) -> None:
    error = refusal(PHP_FORM, b"a" + b"[a]" * (depth - 1) + b"=1", BodyLimits(max_key_length=4000))
    assert error.status == 422
    assert f"nests deeper than {MAX_DEPTH} levels" in error.message
    assert error.field == "a"


def test_a_json_string_value_deeper_than_the_limit_is_refused_by_the_json_reader() -> None:
    with pytest.raises(BodyError) as caught:
        read_json("[" * 10_000 + "]" * 10_000, LIMITS, what="data")
    assert (caught.value.status, caught.value.message) == (
        422,
        f"data nests deeper than {MAX_DEPTH} levels of objects and lists",
    )


# --- the other bounds ----------------------------------------------------------------------------


def test_an_object_wider_than_the_limit_is_413_naming_it() -> None:
    members = ", ".join(f'"k{i}": {i}' for i in range(MAX_WIDTH + 1))
    error = refusal(BodyFormat(), f'{{"data": {{{members}}}}}'.encode())
    assert (error.status, error.field) == (413, "data")
    assert f"at most {MAX_WIDTH} are read" in error.message


def test_a_list_of_flat_form_values_wider_than_the_limit_is_413() -> None:
    error = refusal(BodyFormat(formats=("form",)), b"ids[]=1&" * (MAX_WIDTH + 1))
    assert (error.status, error.field) == (413, "ids")


def test_a_key_longer_than_the_limit_is_422_naming_the_limit() -> None:
    long_key = "k" * (MAX_KEY_LENGTH + 1)
    for fmt, raw in (
        (BodyFormat(), f'{{"{long_key}": 1}}'.encode()),
        (PHP_FORM, f"{long_key}=1".encode()),
    ):
        error = refusal(fmt, raw)
        assert error.status == 422
        assert f"at most {MAX_KEY_LENGTH} are read" in error.message


def test_the_limits_count_fields_at_every_level() -> None:
    items = ", ".join('{"a": 1, "b": 2}' for _ in range(400))
    raw = f'{{"legs": [{items}]}}'.encode()
    assert len(parse(BodyFormat(), raw)["legs"]) == 400
    error = refusal(BodyFormat(), raw, BodyLimits(max_fields=1_000))
    assert error.status == 413


# --- through HTTP -----------------------------------------------------------------------------


async def test_a_hostile_php_form_webhook_is_answered_413(pbxhub: Pbxhub) -> None:
    channel = await pbxhub.create_channel("binotel")
    response = await pbxhub.post_hook(channel, "push", php_list(50_000), content_type=FORM)
    assert response.status_code == 413, response.text
    assert f"at most {MAX_FIELDS} are read" in response.json()["error"]


async def test_a_10000_deep_json_webhook_is_422_naming_the_depth_limit(pbxhub: Pbxhub) -> None:
    channel = await pbxhub.create_channel("uis")
    deep = b'{"a": ' * 10_000 + b"1" + b"}" * 10_000
    response = await pbxhub.post_hook(channel, "notify", deep)
    assert response.status_code == 422, response.text
    assert f"nests deeper than {MAX_DEPTH} levels" in response.json()["error"]


async def test_a_10000_deep_json_telephony_api_request_is_422_naming_the_depth_limit(
    pbxhub: Pbxhub,
) -> None:
    channel = await pbxhub.create_channel("telephony_api")
    deep = b'{"action": ' * 10_000 + b"1" + b"}" * 10_000
    response = await pbxhub.http.post(
        f"/api/v2/telephony/calls/{channel['secret_key']}",
        content=deep,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert f"nests deeper than {MAX_DEPTH} levels" in response.text


async def test_a_telephony_api_form_of_too_many_fields_is_413(pbxhub: Pbxhub) -> None:
    channel = await pbxhub.create_channel("telephony_api")
    response = await pbxhub.http.post(
        f"/api/v2/telephony/calls/{channel['secret_key']}",
        content=b"action=create_call" + b"&x=" * MAX_FIELDS,
        headers={"content-type": FORM},
    )
    assert response.status_code == 413, response.text
    assert f"at most {MAX_FIELDS} are read" in response.text


async def test_a_webhook_waiting_for_a_worker_thread_does_not_hold_up_the_api(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    workers = anyio.CapacityLimiter(1)
    async with running_pbxhub(temporal_env, tmp_path, webhook_workers=workers) as hub:
        channel = await hub.create_channel("uis")
        async with workers:  # the one thread that reads webhooks is busy
            pending = asyncio.create_task(
                hub.post_hook(channel, "notify", b'{"a": ' + b": " * 16_000)
            )
            with anyio.fail_after(10):
                while workers.statistics().tasks_waiting == 0:  # it waits for the worker
                    await asyncio.sleep(0.01)
            health = await hub.http.get("/healthz")
            assert health.status_code == 200
            assert not pending.done()
        response = await pending
    assert response.status_code == 400, response.text


@pytest.mark.parametrize("read", [from_json, as_list], ids=["from_json", "as_list"])
def test_template_filters_read_json_text_within_the_same_bounds(read: Callable[[str], Any]) -> None:
    with pytest.raises(FilterValueError, match=f"deeper than {MAX_DEPTH} levels"):
        read("[" * 10_000 + "]" * 10_000)
    assert read("[1, 2]") == [1, 2]
