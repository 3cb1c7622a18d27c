"""Live call cards in Debian's Chromium: an employee signed in on any page sees a UIS call's card
within a second of its webhook, follows it to its end, and loses no card across a dropped
stream."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from card_site import LiveHub, live_pbxhub
from conftest import SCREENSHOTS, scenario
from temporalio.testing import WorkflowEnvironment

from crm import Store
from crm.passwords import hash_password

PASSWORD = "correct horse battery"
STAFF = {"Anna Smirnova": {"extension": "101", "pbx_user_id": "28511"}}


@pytest.fixture
async def hub(temporal_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[LiveHub]:
    store = Store(f"sqlite:///{tmp_path / 'pbxhub.db'}")
    store.migrate()
    async with live_pbxhub(temporal_env, store) as hub:
        yield hub
    store.close()


@pytest.fixture
async def annas_page(
    chromium: Any, hub: LiveHub, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Any, dict[str, Any]]]:
    """Anna, of a UIS line, signed in on the calls page."""
    channel, (anna,) = await hub.create_line("uis", STAFF)
    hub.store.set_employee_sign_in(anna["id"], login="anna", password_hash=hash_password(PASSWORD))
    context = await chromium.new_context(base_url=hub.url)
    context.set_default_timeout(5_000)
    page = await context.new_page()
    try:
        await page.goto("/signin")
        await page.get_by_label("Login").fill("anna")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url("**/calls")
        await page.locator('#call-cards[data-stream="open"]').wait_for(state="attached")
        yield page, channel
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"))
        await context.close()


async def stage_within(page: Any, stage: str, seconds: float) -> float:
    """Wait for the card to show `stage`; how long that took."""
    started = time.monotonic()
    await page.locator(f'.call-card[data-stage="{stage}"]').wait_for(timeout=seconds * 1000)
    return time.monotonic() - started


async def test_a_uis_call_card_appears_within_a_second_and_follows_the_call_to_its_end(
    hub: LiveHub, annas_page: tuple[Any, dict[str, Any]]
) -> None:
    page, channel = annas_page
    bodies = scenario("uis", "inbound_answered")

    await hub.deliver(channel, bodies[:2])  # the call comes in and rings Anna
    assert await stage_within(page, "ringing", 1.0) < 1.0
    card = page.locator(".call-card")
    assert await card.locator(".call-card-contact").inner_text() == "Иван Петров (unknown caller)"
    assert await card.locator(".call-card-phone").inner_text() == "+7 (916) 123-45-67"
    assert "Anna Smirnova — ringing" in await card.inner_text()
    assert await card.locator(".call-card-actions").count() == 1  # the slot for card actions

    await hub.deliver(channel, bodies[2:3])
    await stage_within(page, "talking", 1.0)
    assert "Anna Smirnova — talking" in await card.inner_text()

    await hub.deliver(channel, bodies[3:5])
    await stage_within(page, "finished", 1.0)
    await card.wait_for(state="detached", timeout=6_000)  # and then it closes


async def test_a_dropped_stream_resumes_without_losing_a_card(
    hub: LiveHub, annas_page: tuple[Any, dict[str, Any]]
) -> None:
    page, channel = annas_page
    bodies = scenario("uis", "inbound_answered")
    await hub.deliver(channel, bodies[:2])
    await stage_within(page, "ringing", 1.0)

    await page.context.set_offline(True)
    assert hub.bus is not None
    hub.bus.disconnect_all()  # the server drops every stream
    await page.locator('#call-cards[data-stream="reconnecting"]').wait_for(state="attached")
    await hub.deliver(channel, bodies[2:3])  # talking, while Anna's browser is away
    await page.wait_for_timeout(1500)
    assert await page.locator('.call-card[data-stage="ringing"]').count() == 1

    await page.context.set_offline(False)
    await stage_within(page, "talking", 5.0)  # caught up from Last-Event-ID
