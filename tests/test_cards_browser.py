"""Live call cards in Debian's Chromium: an employee signed in on any page sees a UIS call's card
within a second of its webhook, follows it to its end, and loses no card across a dropped
stream; a comment typed in the card while the call rings, and a contact made there for an unknown
caller, end up on the call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from card_site import LiveHub, live_pbxhub
from conftest import SCREENSHOTS, scenario, sign_in_on_page
from temporalio.testing import WorkflowEnvironment

from crm import Store
from crm.passwords import hash_password

PASSWORD = "correct horse battery"
CALLER = "+79161234567"
STAFF = {"Anna Smirnova": {"extension": "101", "pbx_user_id": "28511"}}


@pytest.fixture
async def hub(temporal_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[LiveHub]:
    store = Store(f"sqlite:///{tmp_path / 'pbxhub.db'}")
    store.migrate()
    async with live_pbxhub(temporal_env, store) as hub:
        yield hub
    store.close()


@asynccontextmanager
async def signed_in_as_anna(
    chromium: Any, hub: LiveHub, request: pytest.FixtureRequest, **line: Any
) -> AsyncIterator[tuple[Any, dict[str, Any]]]:
    """Anna, of a UIS line (`line`: the channel's fields), signed in on the calls page with
    her card stream open; a failed test leaves its screenshot."""
    channel, (anna,) = await hub.create_line("uis", STAFF, **line)
    hub.store.set_employee_sign_in(anna["id"], login="anna", password_hash=hash_password(PASSWORD))
    context = await chromium.new_context(base_url=hub.url)
    context.set_default_timeout(5_000)
    page = await context.new_page()
    try:
        await page.goto("/signin")
        await sign_in_on_page(page, "anna", PASSWORD)
        await page.wait_for_url("**/calls")
        await page.locator('#call-cards[data-stream="open"]').wait_for(state="attached")
        yield page, channel
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"))
        await context.close()


@pytest.fixture
async def annas_page(
    chromium: Any, hub: LiveHub, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Any, dict[str, Any]]]:
    """Anna, of a UIS line, signed in on the calls page."""
    async with signed_in_as_anna(chromium, hub, request) as signed_in:
        yield signed_in


async def stage_within(page: Any, stage: str, seconds: float) -> float:
    """Wait for the card to show `stage`; how long that took."""
    started = time.monotonic()
    await page.locator(f'.call-card[data-stage="{stage}"]').wait_for(timeout=seconds * 1000)
    return time.monotonic() - started


async def card_at(
    hub: LiveHub, page: Any, channel: dict[str, Any], bodies: list[Any], stage: str = "ringing"
) -> Any:
    """`bodies` delivered (the call now at `stage`); its card, once it shows that stage."""
    await hub.deliver(channel, bodies)
    await stage_within(page, stage, 2.0)
    return page.locator(".call-card")


async def session_of(card: Any) -> str:
    """The call's session as the card names it (its key is `channel:session`)."""
    return (await card.get_attribute("data-key") or "").split(":", 1)[1]


async def test_a_uis_call_card_appears_within_a_second_and_follows_the_call_to_its_end(
    hub: LiveHub, annas_page: tuple[Any, dict[str, Any]]
) -> None:
    page, channel = annas_page
    bodies = scenario("uis", "inbound_answered")

    await hub.deliver(channel, bodies[:2])  # the call comes in and rings Anna
    assert await stage_within(page, "ringing", 1.0) < 1.0
    card = page.locator(".call-card")
    assert await card.locator(".call-card-contact").inner_text() == "Иван Петров (unknown caller)"
    assert await card.locator(".call-card-phone .phone").inner_text() == "+7 (916) 123-45-67"
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


async def the_written_call(hub: LiveHub, session_id: str) -> dict[str, Any]:
    """The call record, once the workflow has written it."""
    for _ in range(100):
        calls = (await hub.http.get("/api/v1/calls", headers=hub.admin)).json()["items"]
        mine = [call for call in calls if call["session_id"] == session_id]
        if mine:
            return mine[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no call {session_id} written")


async def on_the_call_page(page: Any, call_id: int, comment: str) -> Any:
    """The call's comments once `comment` is among them: a pending one is written just after
    the call, so the page is opened again until it shows."""
    for _ in range(50):
        await page.goto(f"/calls/{call_id}")
        comments = page.locator("#call-comments")
        if await comments.get_by_text(comment).count():
            return comments
        await page.wait_for_timeout(200)
    raise AssertionError(f"{comment!r} not on call {call_id}'s page")


async def test_a_comment_typed_in_the_card_while_the_call_rings_ends_up_on_the_call(
    hub: LiveHub, annas_page: tuple[Any, dict[str, Any]]
) -> None:
    page, channel = annas_page
    bodies = scenario("uis", "inbound_answered")
    card = await card_at(hub, page, channel, bodies[:2])
    await card.get_by_label("Comment on the call").fill("Wants a quote for 40 seats")
    await card.get_by_role("button", name="Add comment").click()
    status = card.locator(".call-card-comment-form .call-card-status")
    await status.get_by_text("Saved: on the call once it is written").wait_for()

    await hub.deliver(channel, bodies[2:])  # answered, ended: the call is written
    call = await the_written_call(hub, await session_of(card))
    comments = await on_the_call_page(page, call["id"], "Wants a quote for 40 seats")
    assert "Anna Smirnova" in await comments.inner_text()


async def test_create_contact_from_the_card_of_an_unknown_caller(
    hub: LiveHub, annas_page: tuple[Any, dict[str, Any]]
) -> None:
    page, channel = annas_page
    bodies = scenario("uis", "inbound_answered")
    card = await card_at(hub, page, channel, bodies[:2])
    assert hub.store.find_contact_by_phone(CALLER) is None
    name = card.get_by_label("New contact's name")
    assert await name.input_value() == "Иван Петров"  # as the PBX named the caller
    await name.fill("Ivan Petrov")
    await card.get_by_role("button", name="Create contact").click()
    # the card shows her at once: the contact's link, "edit contact" instead of "create"
    await card.locator(".call-card-contact a", has_text="Ivan Petrov").wait_for(timeout=2_000)
    said = card.locator(".call-card-notice")
    await said.get_by_text("Contact saved: the call joins it once it is written").wait_for()
    assert await card.get_by_role("button", name="Create contact").is_hidden()
    assert await card.get_by_text("Edit contact").is_visible()

    await hub.deliver(channel, bodies[2:])
    call = await the_written_call(hub, await session_of(card))
    contact = hub.store.find_contact_by_phone(CALLER)
    assert contact is not None
    assert contact.name == "Ivan Petrov"
    (anna,) = [e for e in hub.store.list_employees() if e.name == "Anna Smirnova"]
    assert contact.responsible_employee_ids == [anna.id]
    assert call["contact_id"] == contact.id


async def test_a_finished_card_with_a_comment_being_typed_stays_until_it_is_sent(
    hub: LiveHub, annas_page: tuple[Any, dict[str, Any]]
) -> None:
    page, channel = annas_page
    bodies = scenario("uis", "inbound_answered")
    card = await card_at(hub, page, channel, bodies[:3], "talking")
    await card.get_by_label("Comment on the call").fill("Call back on Monday")

    await card_at(hub, page, channel, bodies[3:], "finished")
    await page.wait_for_timeout(5_000)  # past the time a finished card closes
    assert await card.count() == 1
    await card.get_by_role("button", name="Add comment").click()
    await card.locator(".call-card-comment-form .call-card-status", has_text="Saved").wait_for()
    call = await the_written_call(hub, await session_of(card))
    await on_the_call_page(page, call["id"], "Call back on Monday")
