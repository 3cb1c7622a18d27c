"""The calls page in a real browser (Debian's Chromium through Playwright): a number typed in
another format filters the list (from the keyboard alone), the pages keep the filter, and the
CSV link downloads the same rows."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import Site

from contracts.messages import CallRecord
from crm import ContactPhone
from crm.passwords import hash_password
from web import call_pages

PASSWORD = "correct horse battery"


def calls_from(site: Site, channel_id: int, phone: str, count: int, first: int) -> list[int]:
    ids = []
    for n in range(count):
        at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC) + timedelta(hours=first + n)
        call, _ = site.store.save_call(
            CallRecord(
                channel_id=channel_id,
                session_id=f"{phone}-{n}",
                provider="uis",
                kind="call" if n % 2 else "missed",
                direction="in",
                contact_phone=phone,
                started_at=at,
                ended_at=at + timedelta(seconds=30),
            )
        )
        ids.append(call.id)
    return ids


async def shown_ids(page: Any) -> list[int]:
    rows = await page.locator("table.calls tbody tr[id^=call-]").evaluate_all(
        "rows => rows.map(row => row.id)"
    )
    return [int(row.removeprefix("call-")) for row in rows]


async def test_a_number_typed_in_another_format_filters_pages_and_downloads_the_same_rows(
    browser_page: Any, site: Site, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(call_pages, "PAGE_SIZE", 2)
    site.store.create_admin("boss", hash_password(PASSWORD))
    line = site.store.create_channel(provider="uis", name="Sales line")
    site.store.create_contact(name="Ivan", phones=[ContactPhone("+79160000002")])
    wanted = calls_from(site, line.id, "+79160000002", 3, first=0)
    calls_from(site, line.id, "+79160000003", 2, first=5)
    page = browser_page
    await page.goto("/signin")
    await page.get_by_label("Login").fill("boss")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_label("Password").press("Enter")
    await page.wait_for_url(f"{site.url}/calls")

    number = page.get_by_label("Number")
    await number.fill("8 (916) 000-00-02")
    await number.press("Enter")  # no mouse needed
    await page.wait_for_url("**/calls?*phone=8*")
    first_page = await shown_ids(page)
    assert first_page == sorted(wanted, reverse=True)[:2]
    assert await number.input_value() == "8 (916) 000-00-02"
    assert "3 in all" in await page.locator("#calls-total").inner_text()

    await page.get_by_role("link", name="Older").click()
    await page.wait_for_url("**offset=2*")
    second_page = await shown_ids(page)
    assert second_page == sorted(wanted, reverse=True)[2:]
    assert await number.input_value() == "8 (916) 000-00-02"  # the page kept the filter

    async with page.expect_download() as downloading:
        await page.get_by_role("link", name="Download as CSV").click()
    download = await downloading.value
    saved = tmp_path / "calls.csv"
    await download.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert [int(row["id"]) for row in rows] == first_page + second_page
    assert {row["contact_number"] for row in rows} == {"+79160000002"}
