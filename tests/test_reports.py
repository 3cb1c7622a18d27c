"""The call reports against the seeded week of tests/report_week.py (three channels in three
zones, a DST change, calls across midnight) with known totals, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from conftest import unreachable_temporal
from report_week import WEEK, seed

from api.app import create_app
from api.context import ApiContext
from api.routes import reports
from crm import Employee, Store
from workflows.starter import CallSettings

ADMIN = {"X-API-Key": "reports-admin-key"}


@dataclass(frozen=True)
class Seeded:
    http: httpx.AsyncClient
    store: Store
    employees: dict[str, Employee]
    tokens: dict[str, dict[str, str]]
    call_ids: dict[str, int]


@pytest.fixture
async def seeded(store: Store) -> AsyncIterator[Seeded]:
    employees, ids = seed(store)
    context = ApiContext(
        store=store,
        temporal=unreachable_temporal(),
        specs={},
        admin_key=ADMIN["X-API-Key"],
        public_base_url="http://testserver",
        task_queue="reports-unused",
        call_settings=CallSettings(recording_wait_seconds=5, max_call_seconds=3600),
    )
    tokens = {}
    for name, employee in employees.items():
        token = store.issue_token(employee.id)
        assert token is not None
        tokens[name] = {"Authorization": f"Bearer {token}"}
    transport = httpx.ASGITransport(app=create_app(context))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield Seeded(http, store, employees, tokens, ids)


def by_name(groups: list[dict[str, Any]]) -> dict[str | None, dict[str, Any]]:
    return {group["name"]: group for group in groups}


def day_types(group: dict[str, Any]) -> dict[str, dict[str, tuple[int, float]]]:
    return {
        day["date"]: {kind["call_type"]: (kind["calls"], kind["minutes"]) for kind in day["types"]}
        for day in group["days"]
    }


def listed(group: dict[str, Any]) -> list[dict[str, Any]]:
    return [row for day in group["days"] for kind in day["types"] for row in kind["rows"]]


async def test_the_admin_counts_each_channel_by_its_own_days(seeded: Seeded) -> None:
    answer = await seeded.http.get(
        "/api/v1/reports/calls", params={"by": "employee", "week": WEEK}, headers=ADMIN
    )

    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["period"] == {
        "first": "2026-03-23",
        "last": "2026-03-29",
        "week": WEEK,
        "zone": None,
    }
    assert [group["name"] for group in report["groups"]] == ["Anna", "Boris", "Carl", None]
    groups = by_name(report["groups"])
    anna = groups["Anna"]
    assert (anna["calls"], anna["minutes"]) == (9, 37.4)
    assert day_types(anna) == {
        "2026-03-23": {"incoming": (2, 3.08), "outgoing": (1, 0.82)},
        "2026-03-24": {"incoming": (1, 30.0)},
        "2026-03-25": {"outgoing": (1, 1.5), "missed": (1, 0.0)},
        "2026-03-29": {"incoming": (2, 1.0), "outgoing": (1, 1.0)},
    }
    assert [(day["date"], day["calls"], day["minutes"]) for day in anna["days"]] == [
        ("2026-03-23", 3, 3.9),
        ("2026-03-24", 1, 30.0),
        ("2026-03-25", 2, 1.5),
        ("2026-03-29", 3, 2.0),
    ]
    assert {k: anna[k] for k in ("incoming", "outgoing", "missed", "not_reached")} == {
        "incoming": 5,
        "outgoing": 3,
        "missed": 1,
        "not_reached": 0,
    }
    assert anna["average_wait_seconds"] == 16.0  # 5, 10, 30, 15, 20
    assert anna["average_talk_seconds"] == 280.5  # 2244 s over 8 answered
    assert anna["answered_within_20s"] == 0.6667  # 4 of 6 inbound
    # Moscow's 00:30 on Thursday is Thursday in Moscow's days
    assert day_types(groups["Boris"]) == {
        "2026-03-26": {"incoming": (1, 4.0), "outgoing": (1, 2.0)},
        "2026-03-27": {"not_reached": (1, 0.0)},
    }
    assert (groups["Boris"]["answered_within_20s"], groups["Boris"]["not_reached"]) == (1.0, 1)
    # New York's Sunday 22:00 is Monday in UTC, yet in the week
    assert day_types(groups["Carl"]) == {"2026-03-29": {"incoming": (1, 5.0)}}
    assert groups["Carl"]["answered_within_20s"] == 0.0
    nobody = groups[None]
    assert (nobody["calls"], nobody["missed"], nobody["average_wait_seconds"]) == (2, 2, None)
    totals = report["totals"]
    assert (totals["calls"], totals["minutes"]) == (15, 48.4)
    assert (totals["incoming"], totals["outgoing"], totals["missed"]) == (7, 4, 3)
    assert [day["calls"] for day in report["days"]] == [3, 1, 2, 3, 2, 0, 4]
    assert report["total_groups"] == 4 and report["calls_complete"] is True


async def test_a_listed_call_shows_the_reference_columns(seeded: Seeded) -> None:
    answer = await seeded.http.get("/api/v1/reports/calls", params={"week": WEEK}, headers=ADMIN)

    rows = {row["id"]: row for row in listed(by_name(answer.json()["groups"])["Anna"])}
    midnight = rows[seeded.call_ids["b_midnight"]]
    assert midnight["date"] == "2026-03-24"
    assert midnight["time"] == "23:50 - 00:20"  # Berlin time, across midnight
    assert (midnight["employee"], midnight["contact"]) == ("Anna", "Eve")
    assert (midnight["call_type"], midnight["minutes"]) == ("incoming", 30.0)
    assert midnight["recording"] == f"/api/v1/calls/{seeded.call_ids['b_midnight']}/recording"
    early = rows[seeded.call_ids["b_mon_early"]]
    assert (early["date"], early["time"]) == ("2026-03-23", "00:30 - 00:31")
    assert rows[seeded.call_ids["b_mon_out"]]["minutes"] == 0.82
    assert rows[seeded.call_ids["b_mon_out"]]["recording"] is None
    assert seeded.call_ids["b_next_mon"] not in rows
    assert seeded.call_ids["ringing"] not in rows


async def test_an_employee_counts_in_their_own_days_and_sees_only_theirs(seeded: Seeded) -> None:
    answer = await seeded.http.get(
        "/api/v1/reports/calls", params={"week": WEEK}, headers=seeded.tokens["anna"]
    )

    report = answer.json()
    assert report["period"]["zone"] == "Europe/Berlin"
    groups = by_name(report["groups"])
    assert list(groups) == ["Anna", "Boris", None]  # Dmitri's calls: she is responsible
    assert groups["Anna"]["calls"] == 9
    # Moscow's Thursday 00:30 is Wednesday 22:30 in Berlin
    assert day_types(groups["Boris"]) == {
        "2026-03-25": {"incoming": (1, 4.0)},
        "2026-03-26": {"outgoing": (1, 2.0)},
        "2026-03-27": {"not_reached": (1, 0.0)},
    }
    assert day_types(groups[None]) == {"2026-03-26": {"missed": (1, 0.0)}}
    assert report["totals"]["calls"] == 13
    # her own call with a contact she is not responsible for: listed, its recording not hers
    rows = {row["id"]: row for row in listed(groups["Anna"])}
    assert rows[seeded.call_ids["b_midnight"]]["recording"] is None
    assert rows[seeded.call_ids["b_mon"]]["recording"] is not None


async def test_boris_sees_his_calls_and_his_contacts_in_moscow_days(seeded: Seeded) -> None:
    answer = await seeded.http.get(
        "/api/v1/reports/calls", params={"week": WEEK}, headers=seeded.tokens["boris"]
    )

    report = answer.json()
    assert [(g["name"], g["calls"]) for g in report["groups"]] == [("Boris", 3), (None, 1)]
    assert report["totals"]["calls"] == 4


async def test_carl_without_working_hours_counts_in_his_channels_days(seeded: Seeded) -> None:
    answer = await seeded.http.get(
        "/api/v1/reports/calls", params={"week": WEEK}, headers=seeded.tokens["carl"]
    )

    report = answer.json()
    assert report["period"]["zone"] == "America/New_York"
    assert [(g["name"], g["calls"]) for g in report["groups"]] == [("Carl", 1)]


async def test_one_zone_for_all_moves_calls_across_days(seeded: Seeded) -> None:
    answer = await seeded.http.get(
        "/api/v1/reports/calls", params={"week": WEEK, "tz": "UTC"}, headers=ADMIN
    )

    groups = by_name(answer.json()["groups"])
    # in UTC Anna's Monday 00:30 CET is the Sunday before, her Monday 00:30 CEST still Sunday
    assert day_types(groups["Anna"])["2026-03-23"] == {"incoming": (1, 2.08), "outgoing": (1, 0.82)}
    assert day_types(groups["Anna"])["2026-03-29"] == {"incoming": (3, 2.0), "outgoing": (1, 1.0)}
    # and Carl's Sunday evening in New York a week ago is this Monday
    assert [row["id"] for row in listed(groups["Carl"])] == [seeded.call_ids["n_prev"]]


async def test_calls_by_contact(seeded: Seeded) -> None:
    answer = await seeded.http.get(
        "/api/v1/reports/calls", params={"by": "contact", "week": WEEK}, headers=ADMIN
    )

    report = answer.json()
    assert [(g["name"], g["phone"], g["calls"]) for g in report["groups"]] == [
        (None, "+74957654321", 1),
        ("Clara", "+4930123456", 8),
        ("Dmitri", "+74951234567", 4),
        ("Eve", "+12125550100", 2),
    ]
    clara = by_name(report["groups"])["Clara"]
    assert day_types(clara)["2026-03-29"] == {"incoming": (2, 1.0), "outgoing": (1, 1.0)}
    assert report["totals"]["calls"] == 15


async def test_groups_come_in_pages(seeded: Seeded) -> None:
    answer = await seeded.http.get(
        "/api/v1/reports/calls", params={"week": WEEK, "limit": 2, "offset": 2}, headers=ADMIN
    )

    report = answer.json()
    assert [g["name"] for g in report["groups"]] == ["Carl", None]
    assert (report["total_groups"], report["totals"]["calls"]) == (4, 15)


def read_csv(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


async def test_the_csv_has_the_same_numbers_with_totals_marked(seeded: Seeded) -> None:
    by_accept = await seeded.http.get(
        "/api/v1/reports/calls",
        params={"week": WEEK},
        headers={**ADMIN, "Accept": "text/csv"},
    )
    by_path = await seeded.http.get(
        "/api/v1/reports/calls.csv", params={"week": WEEK}, headers=ADMIN
    )

    assert by_accept.status_code == 200, by_accept.text
    assert by_accept.headers["content-type"].startswith("text/csv")
    assert by_accept.text == by_path.text
    rows = read_csv(by_accept.text)
    levels = [row["level"] for row in rows]
    assert levels.count("call") == 15
    assert levels[-1] == "total: report"
    report_total = rows[-1]
    assert (report_total["calls"], report_total["minutes"]) == ("15", "48.4")
    anna = next(r for r in rows if r["level"] == "total: employee" and r["employee"] == "Anna")
    assert (anna["calls"], anna["minutes"], anna["answered_within_20s"]) == ("9", "37.4", "0.6667")
    monday = next(
        r
        for r in rows
        if r["level"] == "total: day" and r["employee"] == "Anna" and r["date"] == "2026-03-23"
    )
    assert (monday["calls"], monday["minutes"]) == ("3", "3.9")
    midnight = next(r for r in rows if r["level"] == "call" and r["time"] == "23:50 - 00:20")
    assert (midnight["contact"], midnight["call_type"], midnight["minutes"]) == (
        "Eve",
        "incoming",
        "30.0",
    )
    assert midnight["recording"].startswith("http://testserver/api/v1/calls/")


async def test_missed_calls_by_day_with_their_call_backs(seeded: Seeded) -> None:
    answer = await seeded.http.get(
        "/api/v1/reports/missed-calls", params={"week": WEEK}, headers=ADMIN
    )

    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["totals"] == {"missed": 4, "called_back": 2, "open": 2}
    assert [(d["date"], d["missed"], d["called_back"], d["open"]) for d in report["days"]] == [
        ("2026-03-25", 1, 1, 0),
        ("2026-03-26", 1, 1, 0),
        ("2026-03-27", 2, 0, 2),
    ]
    rows = {row["id"]: row for day in report["days"] for row in day["rows"]}
    berlin = rows[seeded.call_ids["b_missed"]]
    assert berlin["date_time"] == "2026-03-25 10:00:00"  # Berlin time
    assert (berlin["contact"], berlin["call_type"]) == ("Clara", "missed")
    assert berlin["called_back_after_seconds"] == 1800
    moscow = rows[seeded.call_ids["m_missed"]]
    assert (moscow["date_time"], moscow["called_back_after_seconds"]) == (
        "2026-03-26 10:00:00",
        2700,
    )
    lost = rows[seeded.call_ids["m_lost"]]
    assert (lost["contact"], lost["called_back_at"]) == ("+7 (495) 765-43-21", None)
    assert rows[seeded.call_ids["m_not_reached"]]["call_type"] == "not_reached"


async def test_the_missed_csv_marks_day_and_report_totals(seeded: Seeded) -> None:
    answer = await seeded.http.get(
        "/api/v1/reports/missed-calls.csv", params={"week": WEEK}, headers=ADMIN
    )

    rows = read_csv(answer.text)
    assert [(r["level"], r["calls"], r["called_back"], r["open"]) for r in rows] == [
        ("total: day", "1", "1", "0"),
        ("call", "1", "1", "0"),
        ("total: day", "1", "1", "0"),
        ("call", "1", "1", "0"),
        ("total: day", "2", "0", "2"),
        ("call", "1", "0", "1"),
        ("call", "1", "0", "1"),
        ("total: report", "4", "2", "2"),
    ]
    assert rows[1]["called_back_after_minutes"] == "30.0"


async def test_an_employee_sees_the_missed_calls_of_their_contacts(seeded: Seeded) -> None:
    answer = await seeded.http.get(
        "/api/v1/reports/missed-calls", params={"week": WEEK}, headers=seeded.tokens["boris"]
    )

    assert answer.json()["totals"] == {"missed": 2, "called_back": 1, "open": 1}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"week": "2026-13"}, "week"),
        ({"week": "2026-W54"}, "week"),
        ({"week": WEEK, "from": "2026-03-23", "to": "2026-03-29"}, "week"),
        ({"from": "2026-03-23"}, "to"),
        ({"from": "2026-03-29", "to": "2026-03-23"}, "to"),
        ({"from": "2026-01-01", "to": "2026-12-31"}, "to"),
        ({"week": WEEK, "tz": "Mars/Olympus"}, "tz"),
    ],
)
async def test_a_period_that_cannot_be_read_is_422_naming_it(
    seeded: Seeded, params: dict[str, str], field: str
) -> None:
    for path in ("/api/v1/reports/calls", "/api/v1/reports/missed-calls.csv"):
        answer = await seeded.http.get(path, params=params, headers=ADMIN)

        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"].startswith(f"{field}:")


async def test_a_date_range_is_counted_like_the_week(seeded: Seeded) -> None:
    answer = await seeded.http.get(
        "/api/v1/reports/calls",
        params={"from": "2026-03-23", "to": "2026-03-29"},
        headers=ADMIN,
    )

    report = answer.json()
    assert report["period"]["week"] == WEEK
    assert report["totals"]["calls"] == 15


async def test_the_reports_need_a_caller(seeded: Seeded) -> None:
    for path in ("/api/v1/reports/calls", "/api/v1/reports/missed-calls"):
        answer = await seeded.http.get(path, params={"week": WEEK})

        assert answer.status_code == 401


async def test_a_csv_read_in_small_pages_is_the_same_csv(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = ("/api/v1/reports/calls.csv", "/api/v1/reports/missed-calls.csv")
    whole = [
        (await seeded.http.get(path, params={"week": WEEK}, headers=ADMIN)).text for path in paths
    ]
    monkeypatch.setattr(reports, "CSV_GROUPS", 1)
    monkeypatch.setattr(reports, "CSV_MISSED_PAGE", 1)

    paged = [
        (await seeded.http.get(path, params={"week": WEEK}, headers=ADMIN)).text for path in paths
    ]

    assert paged == whole
    assert read_csv(paged[1])[-1]["calls"] == "4"


async def test_a_store_without_channels_gives_an_empty_report(store: Store) -> None:
    context = ApiContext(
        store=store,
        temporal=unreachable_temporal(),
        specs={},
        admin_key=ADMIN["X-API-Key"],
        public_base_url="http://testserver",
        task_queue="reports-unused",
        call_settings=CallSettings(recording_wait_seconds=5, max_call_seconds=3600),
    )
    transport = httpx.ASGITransport(app=create_app(context))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        calls = await http.get("/api/v1/reports/calls", params={"week": WEEK}, headers=ADMIN)
        missed = await http.get("/api/v1/reports/missed-calls", headers=ADMIN)

    assert calls.status_code == 200, calls.text
    assert (calls.json()["totals"]["calls"], calls.json()["groups"]) == (0, [])
    assert [day["calls"] for day in calls.json()["days"]] == [0] * 7
    assert missed.json()["totals"] == {"missed": 0, "called_back": 0, "open": 0}
