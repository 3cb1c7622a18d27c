"""The pages in a real browser (Debian's Chromium through Playwright) against pbxhub served on
a loopback port."""

from __future__ import annotations

from typing import Any

from conftest import Site


async def test_the_browser_reaches_pbxhub_on_loopback(browser_page: Any, site: Site) -> None:
    response = await browser_page.goto("/healthz")
    assert response.status == 200
    assert '"status":"ok"' in await browser_page.content()
