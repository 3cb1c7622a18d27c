"""The report pages in a real browser (Debian's Chromium through Playwright) on the seeded week
of tests/report_week.py, checked against its known totals: the tables, the chart's bars and
the numbers beside them, moving week to week and over a date range; and the missed calls an
employee sees, with "Call back" on the open one only."""

from __future__ import annotations

from typing import Any

from conftest import Site, sign_in_on_page
from report_week import WEEK, seed

from crm.passwords import hash_password

PASSWORD = "correct horse battery"


async def sign_in_at(page: Any, site: Site, path: str, login: str) -> None:
    """Open `path`, sign in on the way, and land on it."""
    await page.goto(path)
    await sign_in_on_page(page, login, PASSWORD)
    await page.wait_for_url(f"{site.url}{path}")


async def table_rows(table: Any) -> list[list[str]]:
    rows: list[list[str]] = await table.locator("tbody tr, tfoot tr").evaluate_all(
        "rows => rows.map(row => [...row.cells].map(cell => cell.innerText.trim()))"
    )
    return rows


async def figures(page: Any, label: str) -> dict[str, str]:
    table = page.get_by_role("table", name=f"{label}: figures")
    heads = await table.locator("thead th").all_inner_texts()
    return dict(zip(heads, (await table_rows(table))[0], strict=True))


async def bars(chart: Any) -> list[tuple[str, int, int, float, float]]:
    """Each bar's summary, answered and missed values, and their drawn heights."""
    drawn: list[tuple[str, int, int, float, float]] = await chart.locator("svg g.bar").evaluate_all(
        """groups => groups.map(g => {
            const part = name => g.querySelector('rect.' + name);
            const value = name => part(name) ? Number(part(name).dataset.value) : 0;
            const height = name => part(name) ? Number(part(name).getAttribute('height')) : 0;
            return [g.querySelector('title').textContent, value('answered'), value('missed'),
                    height('answered'), height('missed')];
        })"""
    )
    return drawn


async def test_the_weekly_report_by_employee_shows_the_seeded_week(
    browser_page: Any, site: Site
) -> None:
    seed(site.store)
    site.store.create_admin("boss", hash_password(PASSWORD))
    page = browser_page

    await sign_in_at(page, site, f"/reports/calls?week={WEEK}", "boss")

    assert await page.get_by_role("heading", name="Calls by employee").is_visible()
    assert "Week 2026-W13: Mon 23 Mar – Sun 29 Mar 2026" in await page.locator("main").inner_text()
    totals = await figures(page, "totals")
    assert (totals["Calls"], totals["Minutes"], totals["Incoming answered"]) == ("15", "48.4", "7")
    assert (totals["Outgoing answered"], totals["Missed incoming"]) == ("4", "3")
    anna = await figures(page, "Anna")
    assert (anna["Calls"], anna["Minutes"], anna["Average wait"]) == ("9", "37.4", "16.0 s")
    assert (anna["Average talk"], anna["Answered within 20 s"]) == ("280.5 s", "67 %")
    # the whole report's chart: its numbers beside it, and the bars drawn to them
    everyone = page.locator("#chart-all")
    assert await table_rows(everyone.locator("table")) == [
        ["Mon 23 Mar", "3", "0", "3"],
        ["Tue 24 Mar", "1", "0", "1"],
        ["Wed 25 Mar", "1", "1", "2"],
        ["Thu 26 Mar", "2", "1", "3"],
        ["Fri 27 Mar", "0", "2", "2"],
        ["Sat 28 Mar", "0", "0", "0"],
        ["Sun 29 Mar", "4", "0", "4"],
        ["Total", "11", "4", "15"],
    ]
    # Anna's chart, from her days in Berlin (the DST Sunday holds three)
    chart = page.get_by_role("figure").filter(
        has=page.get_by_role("img", name="Calls of Anna per day")
    )
    drawn = await bars(chart)
    assert [(summary, answered, missed) for summary, answered, missed, _, _ in drawn] == [
        ("Mon 23 Mar: 3 answered, 0 missed", 3, 0),
        ("Tue 24 Mar: 1 answered, 0 missed", 1, 0),
        ("Wed 25 Mar: 1 answered, 1 missed", 1, 1),
        ("Thu 26 Mar: 0 answered, 0 missed", 0, 0),
        ("Fri 27 Mar: 0 answered, 0 missed", 0, 0),
        ("Sat 28 Mar: 0 answered, 0 missed", 0, 0),
        ("Sun 29 Mar: 3 answered, 0 missed", 3, 0),
    ]
    per_call = {
        height / value
        for _, *values, height_a, height_m in drawn
        for value, height in zip(values, (height_a, height_m), strict=True)
        if value
    }
    assert len(per_call) == 1  # one scale: every bar's height is its count times the same unit
    assert "Calls per day from Mon 23 Mar to Sun 29 Mar: 8 answered, 1 missed" in (
        await chart.locator("svg desc").text_content()
    )

    await page.get_by_role("link", name="← Earlier").click()
    await page.wait_for_url("**/reports/calls?by=employee&week=2026-W12")
    assert (await figures(page, "totals"))["Calls"] == "1"  # New York's Sunday evening
    await page.get_by_role("link", name="Later →").click()
    await page.get_by_role("link", name="Later →").click()
    await page.wait_for_url("**/reports/calls?by=employee&week=2026-W14")
    assert (await figures(page, "totals"))["Calls"] == "1"  # Berlin's Monday 00:30 CEST

    await page.get_by_label("From", exact=True).fill("2026-03-23")
    await page.get_by_label("To", exact=True).fill("2026-03-25")
    await page.get_by_role("button", name="Show days").click()
    await page.wait_for_url("**/reports/calls?by=employee&from=2026-03-23&to=2026-03-25")
    assert (await figures(page, "totals"))["Calls"] == "6"
    assert await table_rows(page.locator("#chart-all table")) == [
        ["Mon 23 Mar", "3", "0", "3"],
        ["Tue 24 Mar", "1", "0", "1"],
        ["Wed 25 Mar", "1", "1", "2"],
        ["Total", "5", "1", "6"],
    ]


async def test_an_employee_sees_her_missed_calls_and_calls_back_the_open_one(
    browser_page: Any, site: Site
) -> None:
    employees, ids = seed(site.store)
    anna = employees["anna"]
    site.store.set_employee_sign_in(anna.id, login="anna", password_hash=hash_password(PASSWORD))
    page = browser_page

    await sign_in_at(page, site, f"/reports/missed-calls?week={WEEK}", "anna")

    main = page.locator("main")
    # hers (Clara's), and Dmitri's whom she answers for; not the nameless caller's
    assert "3 missed, 2 called back, 1 open." in await main.inner_text()
    assert await page.locator(f"#missed-{ids['m_lost']}").count() == 0
    called_back = page.locator(f"#missed-{ids['b_missed']}")
    assert "after 30.0 min" in await called_back.inner_text()
    assert await called_back.get_by_role("button", name="Call back").count() == 0
    still_open = page.locator(f"#missed-{ids['m_not_reached']}")
    assert "Open" in await still_open.inner_text()
    assert await still_open.get_by_role("button", name="Call back Dmitri").is_visible()
    assert await page.get_by_role(
        "heading", name="Fri 27 Mar 2026: 1 missed, 0 called back, 1 open"
    ).is_visible()
