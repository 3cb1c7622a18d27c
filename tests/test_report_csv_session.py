"""The report pages' "Download CSV" links: a signed-in person (the session cookie, no API key)
downloads the CSV the page links to, with the page's rights; without a session it is a 401."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from conftest import sign_in_over_http, unreachable_temporal
from report_week import WEEK, seed
from test_reports import ADMIN, read_csv

from api.app import create_app
from api.context import ApiContext
from crm import Store
from crm.passwords import hash_password
from workflows.starter import CallSettings

PASSWORD = "correct horse battery"


@pytest.fixture
async def browser(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    employees, _ = seed(store)
    store.set_employee_sign_in(
        employees["anna"].id, login="anna", password_hash=hash_password(PASSWORD)
    )
    store.create_admin("boss", hash_password(PASSWORD))
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
        yield http


async def csv_link(http: httpx.AsyncClient, page: str) -> str:
    shown = await http.get(page)
    assert shown.status_code == 200, shown.text
    found = re.search(r'<a href="([^"]+)" download>Download CSV</a>', shown.text)
    assert found is not None, shown.text
    return found.group(1).replace("&amp;", "&")


async def test_the_signed_in_admin_downloads_the_weekly_csv_the_page_links_to(
    browser: httpx.AsyncClient,
) -> None:
    await sign_in_over_http(browser, "boss", PASSWORD)
    link = await csv_link(browser, f"/reports/calls?week={WEEK}&by=employee")

    download = await browser.get(link)

    assert link.startswith("/api/v1/reports/calls.csv?")
    assert download.status_code == 200, download.text
    assert download.headers["content-type"].startswith("text/csv")
    with_key = await browser.get(link, headers=ADMIN)
    assert download.text == with_key.text
    assert read_csv(download.text)[-1]["calls"] == "15"


async def test_a_signed_in_employee_downloads_the_missed_calls_she_may_see(
    browser: httpx.AsyncClient,
) -> None:
    await sign_in_over_http(browser, "anna", PASSWORD)
    link = await csv_link(browser, f"/reports/missed-calls?week={WEEK}")

    download = await browser.get(link)

    assert link.startswith("/api/v1/reports/missed-calls.csv?")
    assert download.status_code == 200, download.text
    rows = [row for row in read_csv(download.text) if row["level"] == "call"]
    # her contacts' (Clara, and Dmitri whom she shares with Boris); not the nameless caller's
    assert sorted(row["contact"] for row in rows) == ["Clara", "Dmitri", "Dmitri"]


async def test_without_a_session_or_key_the_csv_is_refused(
    browser: httpx.AsyncClient,
) -> None:
    refused = await browser.get("/api/v1/reports/calls.csv", params={"week": WEEK})
    forged = await browser.get(
        "/api/v1/reports/calls.csv",
        params={"week": WEEK},
        cookies={"pbxhub_session": "made-up.token"},
    )

    assert refused.status_code == 401
    assert forged.status_code == 401
