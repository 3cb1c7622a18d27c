"""The calls page's filters over HTTP, on SQLite and PostgreSQL: employee, contact, a number
typed in any format (read by the line's country), line, direction, outcome and days in the
viewer's zone; paging that keeps the filters; the CSV of the same list for a signed-in person;
missed calls marked called back; a bad value a 422 page naming its field."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from call_world import make_call_world
from conftest import serving_pbxhub, sign_in_over_http

from crm import Store
from crm.passwords import hash_password
from web import call_pages

PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Calls:
    """Four calls on two lines: Anna's answered call from Ivan, Ivan's missed call that Boris
    called back 12 minutes later, and Olga's missed call on the Kyiv line, never called back."""

    url: str
    store: Store
    lines: dict[str, int]
    people: dict[str, int]
    answered: int
    missed: int
    call_back: int
    kyiv_missed: int


@pytest.fixture
async def calls(store: Store, tmp_path: Path) -> AsyncIterator[Calls]:
    store.create_admin("boss", hash_password(PASSWORD))
    world = make_call_world(store)
    anna, boris = world.people["anna"], world.people["boris"]
    store.set_employee_sign_in(anna, login="anna", password_hash=hash_password(PASSWORD))
    day = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    answered = world.call(
        "moscow", "s1", day, contact="ivan", kind="call", direction="in", employee_id=anna
    )
    missed_at = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    missed = world.call("moscow", "s2", missed_at, contact="ivan", kind="missed", direction="in")
    call_back = world.call(
        "moscow",
        "s3",
        missed_at + timedelta(minutes=12),
        contact="ivan",
        kind="call",
        direction="out",
        employee_id=boris,
    )
    # 21:30 UTC on the 3rd is 00:30 on the 4th in Moscow
    kyiv_missed = world.call(
        "kyiv",
        "s4",
        datetime(2026, 12, 3, 21, 30, tzinfo=UTC),
        contact="olga",
        kind="missed",
        direction="in",
    )
    async with serving_pbxhub(store, tmp_path / "recordings") as site:
        yield Calls(
            site.url, store, world.lines, world.people, answered, missed, call_back, kyiv_missed
        )


def listed(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'<tr id="call-(\d+)"', html)]


@asynccontextmanager
async def signed_in(calls: Calls, login: str = "boss") -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=calls.url) as http:
        await sign_in_over_http(http, login, PASSWORD)
        yield http


async def test_each_filter_narrows_the_calls_page(calls: Calls) -> None:
    async with signed_in(calls) as http:

        async def shown(**params: str | int) -> list[int]:
            page = await http.get("/calls", params=params)
            assert page.status_code == 200, page.text
            return listed(page.text)

        every = [calls.kyiv_missed, calls.call_back, calls.missed, calls.answered]
        assert await shown() == every
        assert await shown(employee_id=calls.people["anna"]) == [calls.answered]
        assert await shown(contact_id=calls.people["olga"]) == [calls.kyiv_missed]
        ivans = [calls.call_back, calls.missed, calls.answered]
        assert await shown(phone="8 (916) 000-00-02") == ivans
        # a national number is read by the chosen line's country
        assert await shown(phone="044 123 4567", channel_id=calls.lines["kyiv"]) == [
            calls.kyiv_missed
        ]
        assert await shown(channel_id=calls.lines["moscow"]) == ivans
        assert await shown(direction="out") == [calls.call_back]
        assert await shown(kind="missed") == [calls.kyiv_missed, calls.missed]
        assert await shown(kind="call", direction="in") == [calls.answered]
        # the admin's days are the first line's (Moscow): 00:30 on the 4th there
        assert await shown(**{"from": "2026-12-04", "to": "2026-12-04"}) == [calls.kyiv_missed]
        assert "2026-12-04 00:30:00 MSK" in (await http.get("/calls")).text
        assert await shown(**{"from": "2026-12-02", "to": "2026-12-03"}) == [
            calls.call_back,
            calls.missed,
        ]
        empty_fields = {"kind": "", "direction": "", "employee_id": "", "from": "", "to": ""}
        assert await shown(**empty_fields, phone="") == every


async def test_a_missed_call_says_whether_and_how_soon_it_was_called_back(calls: Calls) -> None:
    async with signed_in(calls) as http:
        page = await http.get("/calls", params={"kind": "missed"})
    rows = dict(re.findall(r'<tr id="call-(\d+)">(.*?)</tr>', page.text, re.S))
    assert "called back after 12 min" in rows[str(calls.missed)]
    assert "not called back" in rows[str(calls.kyiv_missed)]
    assert 'href="/reports/missed-calls"' in page.text


async def test_pages_of_calls_keep_their_filters(
    calls: Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(call_pages, "PAGE_SIZE", 2)
    async with signed_in(calls) as http:
        first = await http.get("/calls", params={"channel_id": calls.lines["moscow"]})
        older = re.search(r'href="/calls\?([^"]+)" rel="next"', first.text)
        assert older is not None
        link = older.group(1).replace("&amp;", "&")
        assert f"channel_id={calls.lines['moscow']}" in link and "offset=2" in link
        second = await http.get(f"/calls?{link}")
    assert listed(first.text) == [calls.call_back, calls.missed]
    assert listed(second.text) == [calls.answered]
    assert 'rel="next"' not in second.text and 'rel="prev"' in second.text


async def test_the_csv_link_downloads_the_same_filtered_calls(calls: Calls) -> None:
    async with signed_in(calls) as http:
        page = await http.get("/calls", params={"kind": "missed", "phone": "+7 916 000 00 02"})
        link = re.search(r'id="calls-csv" href="([^"]+)"', page.text)
        assert link is not None
        exported = await http.get(link.group(1).replace("&amp;", "&"))
        every = await http.get("/calls.csv")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert [int(row["id"]) for row in rows] == listed(page.text) == [calls.missed]
    assert rows[0]["contact_number"] == "+79160000002"
    kinds = {
        int(row["id"]): row["kind"]
        for row in csv.DictReader(io.StringIO(every.content.decode("utf-8-sig")))
    }
    assert kinds == {
        calls.kyiv_missed: "missed",
        calls.call_back: "call",
        calls.missed: "missed",
        calls.answered: "call",
    }


async def test_the_csv_has_the_viewer_s_rights_and_needs_a_sign_in(calls: Calls) -> None:
    async with httpx.AsyncClient(base_url=calls.url) as stranger:
        refused = await stranger.get("/calls.csv")
    assert refused.status_code == 303 and "/signin" in refused.headers["location"]
    async with signed_in(calls, "anna") as http:
        page = await http.get("/calls")
        exported = await http.get("/calls.csv")
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    # Anna answers for Ivan, not for Olga
    assert [int(row["id"]) for row in rows] == listed(page.text)
    assert calls.kyiv_missed not in listed(page.text) and len(rows) == 3
    # the employees' list is the admin's (as GET /api/v1/employees): Anna picks only herself
    assert f'<option value="{calls.people["anna"]}">Anna</option>' in page.text
    assert ">Boris</option>" not in page.text
    # a contact she does not see is not named to her, nor are its calls listed
    async with signed_in(calls, "anna") as http:
        olgas = await http.get("/calls", params={"contact_id": calls.people["olga"]})
    assert listed(olgas.text) == [] and "Olga" not in olgas.text


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"employee_id": "anna"}, "employee_id:"),
        ({"contact_id": "99999999999"}, "contact_id:"),
        ({"channel_id": "-1"}, "channel_id:"),
        ({"from": "2026-13-01"}, "from: &#39;2026-13-01&#39; is not a day"),
        ({"from": "2026-12-04", "to": "2026-12-01"}, "to: the last day comes before"),
        ({"direction": "sideways"}, "direction:"),
        ({"kind": "lost"}, "kind:"),
        ({"phone": "x"}, "phone: &#39;x&#39; is not a phone number"),
    ],
)
async def test_a_bad_filter_is_a_page_naming_its_field(
    calls: Calls, params: dict[str, str], named: str
) -> None:
    async with signed_in(calls) as http:
        page = await http.get("/calls", params=params)
        exported = await http.get("/calls.csv", params=params)
    assert page.status_code == 422 and named in page.text, page.text
    assert exported.status_code == 422 and named in exported.text


async def test_a_calls_page_and_its_contacts_page_tell_its_time_in_the_viewers_zone(
    calls: Calls,
) -> None:
    async with signed_in(calls) as http:
        answered = (await http.get(f"/calls/{calls.answered}")).text
        kyiv = (await http.get(f"/calls/{calls.kyiv_missed}")).text
        ivan = (await http.get(f"/contacts/{calls.people['ivan']}")).text

    # 09:30 UTC on the Moscow line, as the calls list shows it
    assert "2026-12-01 12:30:00 MSK, answered, incoming" in answered
    assert "UTC" not in answered
    # the admin reads a call in its own line's days: 21:30 UTC is 23:30 in Kyiv
    assert "2026-12-03 23:30:00 EET, missed, incoming" in kyiv
    # a contact's page in the admin's days (the first line's), as the calls list
    assert "2026-12-01 12:30:00 MSK" in ivan and "09:30:00 UTC" not in ivan
