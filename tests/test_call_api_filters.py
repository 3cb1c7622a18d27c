"""`GET /api/v1/calls` (and its CSV) narrows by every filter the calls page has, with the page's
names: employee, contact, a number in any format, line, direction, outcome (`kind`) and time; on
SQLite and PostgreSQL; a value it cannot take is a 422 naming the field."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from call_world import make_call_world
from conftest import serving_pbxhub

from crm import Store


@dataclass(frozen=True)
class Calls:
    """Five calls on two lines: Anna's answered call from Ivan, Ivan's missed call, Boris's
    call back to Ivan, Olga's missed call on the Kyiv line and Boris's call still going on."""

    http: httpx.AsyncClient
    lines: dict[str, int]
    people: dict[str, int]
    answered: int
    missed: int
    call_back: int
    kyiv_missed: int
    ongoing: int


@pytest.fixture
async def calls(store: Store, tmp_path: Path) -> AsyncIterator[Calls]:
    world = make_call_world(store)
    day = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    answered = world.call(
        "moscow",
        "s1",
        day,
        contact="ivan",
        kind="call",
        direction="in",
        employee_id=world.people["anna"],
    )
    missed = world.call(
        "moscow", "s2", day + timedelta(days=1), contact="ivan", kind="missed", direction="in"
    )
    call_back = world.call(
        "moscow",
        "s3",
        day + timedelta(days=1, minutes=12),
        contact="ivan",
        kind="call",
        direction="out",
        employee_id=world.people["boris"],
    )
    # 21:30 UTC on the 2nd is 23:30 on the 2nd in Kyiv, 00:30 on the 3rd in Moscow
    kyiv_missed = world.call(
        "kyiv",
        "s4",
        datetime(2026, 12, 2, 21, 30, tzinfo=UTC),
        contact="olga",
        kind="missed",
        direction="in",
    )
    # 22:30 UTC on the 4th is 01:30 on the 5th in Moscow, the first line's zone
    ongoing = world.call(
        "moscow",
        "s5",
        datetime(2026, 12, 4, 22, 30, tzinfo=UTC),
        contact="ivan",
        kind="active",
        direction="out",
        employee_id=world.people["boris"],
    )
    async with (
        serving_pbxhub(store, tmp_path / "recordings") as site,
        httpx.AsyncClient(base_url=site.url, headers=site.admin) as http,
    ):
        yield Calls(
            http, world.lines, world.people, answered, missed, call_back, kyiv_missed, ongoing
        )


async def listed(calls: Calls, path: str = "/api/v1/calls", **params: Any) -> list[int]:
    response = await calls.http.get(path, params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def exported(calls: Calls, path: str = "/api/v1/calls.csv", **params: Any) -> list[int]:
    response = await calls.http.get(path, params=params)
    assert response.status_code == 200, response.text
    rows = csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")))
    return [int(row["id"]) for row in rows]


async def test_each_filter_of_the_calls_page_narrows_the_api_list(calls: Calls) -> None:
    answered = [calls.call_back, calls.answered]
    assert await listed(calls) == answered
    assert await listed(calls, direction="out") == [calls.call_back]
    assert await listed(calls, direction="in") == [calls.answered]
    assert await listed(calls, contact_id=calls.people["ivan"]) == answered
    assert await listed(calls, contact_id=calls.people["olga"]) == []
    assert await listed(calls, employee_id=calls.people["anna"]) == [calls.answered]
    assert await listed(calls, phone="8 (916) 000-00-02") == answered
    assert await listed(calls, channel_id=calls.lines["kyiv"]) == []
    assert await listed(calls, since="2026-12-02T00:00:00Z", until="2026-12-03T00:00:00Z") == [
        calls.call_back
    ]


async def test_the_outcome_is_the_pages_kind_and_answered_calls_stay_the_default(
    calls: Calls,
) -> None:
    assert await listed(calls, kind="call") == [calls.call_back, calls.answered]
    assert await listed(calls, kind="missed") == [calls.kyiv_missed, calls.missed]
    assert await listed(calls, kind="active") == [calls.ongoing]
    assert await listed(calls, kind="any") == [
        calls.ongoing,
        calls.kyiv_missed,
        calls.call_back,
        calls.missed,
        calls.answered,
    ]
    assert await listed(calls, kind="any", direction="out", employee_id=calls.people["boris"]) == [
        calls.ongoing,
        calls.call_back,
    ]


async def test_days_are_the_pages_days_in_the_zone_of_whom_asks(calls: Calls) -> None:
    every: dict[str, Any] = {"kind": "any"}
    # the admin's days are the first line's (Moscow): 01:30 on the 5th there
    assert await listed(calls, **every, **{"from": "2026-12-05", "to": "2026-12-05"}) == [
        calls.ongoing
    ]
    assert await listed(calls, **every, **{"from": "2026-12-04", "to": "2026-12-04"}) == []
    # a line chosen: the days are its zone's (Kyiv)
    on_the_2nd: dict[str, Any] = {"from": "2026-12-02", "to": "2026-12-02"}
    kyiv: dict[str, Any] = {"channel_id": calls.lines["kyiv"], **every}
    assert await listed(calls, **kyiv, **on_the_2nd) == [calls.kyiv_missed]
    assert await listed(calls, **every, **on_the_2nd) == [calls.call_back, calls.missed]
    assert await listed(calls, **every, **{"from": "2026-12-02"}) == [
        calls.ongoing,
        calls.kyiv_missed,
        calls.call_back,
        calls.missed,
    ]
    assert await listed(calls, **every, to="2026-12-01") == [calls.answered]
    # days and times narrow together
    assert await listed(
        calls, **every, **{"from": "2026-12-02", "to": "2026-12-02"}, since="2026-12-02T09:40Z"
    ) == [calls.call_back]
    assert await exported(calls, **every, **{"from": "2026-12-05"}) == [calls.ongoing]


async def test_missed_calls_take_the_same_filters(calls: Calls) -> None:
    path = "/api/v1/missed-calls"
    assert await listed(calls, path) == [calls.kyiv_missed, calls.missed]
    assert await listed(calls, path, contact_id=calls.people["olga"]) == [calls.kyiv_missed]
    assert await listed(calls, path, direction="out") == []
    assert await listed(calls, path, phone="044 123 45 67", channel_id=calls.lines["kyiv"]) == [
        calls.kyiv_missed
    ]


async def test_the_csv_exports_take_the_same_filters(calls: Calls) -> None:
    assert await exported(calls, direction="out") == [calls.call_back]
    assert await exported(calls, contact_id=calls.people["ivan"], kind="any") == [
        calls.ongoing,
        calls.call_back,
        calls.missed,
        calls.answered,
    ]
    every = await calls.http.get("/api/v1/calls.csv", params={"kind": "any"})
    assert 'filename="all-calls.csv"' in every.headers["content-disposition"]
    assert every.content.decode("utf-8-sig").startswith("kind,")
    path = "/api/v1/missed-calls.csv"
    assert await exported(calls, path, contact_id=calls.people["olga"]) == [calls.kyiv_missed]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"direction": "sideways"}, "direction"),
        ({"kind": "lost"}, "kind"),
        ({"contact_id": "ivan"}, "contact_id"),
        ({"contact_id": "0"}, "contact_id"),
        ({"employee_id": "-1"}, "employee_id"),
        ({"channel_id": "99999999999"}, "channel_id"),
        ({"phone": "not a number"}, "phone"),
        ({"since": "2026-12-01T00:00:00"}, "since"),
        ({"from": "2026-02-30"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-12-02", "to": "2026-12-01"}, "to"),
        ({"since": "2026-12-02T00:00:00Z", "until": "2026-12-01T00:00:00Z"}, "until"),
    ],
)
@pytest.mark.parametrize("path", ["/api/v1/calls", "/api/v1/calls.csv"])
async def test_a_filter_it_cannot_take_is_a_422_naming_the_field(
    calls: Calls, path: str, params: dict[str, str], field: str
) -> None:
    response = await calls.http.get(path, params=params)
    assert response.status_code == 422, response.text
    assert field in response.text


async def test_the_missed_calls_list_has_no_kind_to_choose(calls: Calls) -> None:
    operation = (await calls.http.get("/openapi.json")).json()["paths"]["/api/v1/missed-calls"]
    names = {parameter["name"] for parameter in operation["get"]["parameters"]}
    assert {"direction", "contact_id", "employee_id", "channel_id", "phone"} <= names
    assert "kind" not in names
