"""What Anna does from a live card in Debian's Chromium, by keyboard, through the call's workflow
on the real Temporal dev server: the call attached to one of Clara's open tasks while it rings; a
task made from it after the call is written; Clara's name and fields edited during the call; and
Clara called back with the card's "Call" button, through the UIS Call API simulator on loopback,
the call that results linked to her."""

from __future__ import annotations

import json
from typing import Any

import pytest
import test_cards_browser
from card_site import LiveHub
from conftest import scenario
from pbx_api_simulators import UisCallApi, serving
from test_cards_browser import CALLER, card_at, session_of, signed_in_as_anna, the_written_call
from test_click_to_call import host_port
from test_click_to_call_pages_origin import OUTBOUND, happening_now

from crm import Contact, ContactPhone

# The card tests' fixtures: the live pbxhub, and Anna signed in on it.
hub = test_cards_browser.hub
annas_page = test_cards_browser.annas_page


def clara(hub: LiveHub, **fields: str) -> Contact:
    """Clara, the caller, a contact Anna answers for."""
    (anna,) = [e for e in hub.store.list_employees() if e.name == "Anna Smirnova"]
    return hub.store.create_contact(
        name="Clara",
        phones=[ContactPhone(phone=CALLER, raw=CALLER)],
        fields=fields,
        responsible_employee_ids=[anna.id],
    )


async def press(page: Any, button: Any) -> None:
    """A button pressed from the keyboard: focused, then Enter."""
    await button.focus()
    await page.keyboard.press("Enter")


async def test_the_call_is_attached_to_the_task_anna_picks_while_it_rings(
    hub: LiveHub, annas_page: tuple[Any, dict[str, Any]]
) -> None:
    page, channel = annas_page
    contact = clara(hub)
    hub.store.create_task(title="Quote for 40 chairs", contact_id=contact.id)
    delivery = hub.store.create_task(title="Delivery to Tver", contact_id=contact.id)
    bodies = scenario("uis", "inbound_answered")
    card = await card_at(hub, page, channel, bodies[:2])

    tasks = card.get_by_label("The contact's task for the call")
    await tasks.select_option(label="Delivery to Tver")
    await press(page, card.get_by_role("button", name="Attach to task"))
    status = card.locator(".call-card-attach-form .call-card-status")
    await status.get_by_text("the call goes to the task once it is written").wait_for()
    assert hub.store.get_call_by_session(channel["id"], await session_of(card)) is None

    await hub.deliver(channel, bodies[2:])
    written = await hub.call_result(channel, await session_of(card))
    assert written.call_id is not None
    attachment = hub.store.get_call_attachment(written.call_id)
    assert attachment is not None
    assert (attachment.task_id, attachment.mode) == (delivery.id, "employee")


async def test_a_task_made_from_the_card_after_the_call_is_written_holds_the_call(
    hub: LiveHub, annas_page: tuple[Any, dict[str, Any]]
) -> None:
    page, channel = annas_page
    clara(hub)
    bodies = scenario("uis", "inbound_answered")
    card = await card_at(hub, page, channel, bodies[:3], "talking")
    await card.get_by_label("New task's title").fill("Send Clara the contract")

    await card_at(hub, page, channel, bodies[3:], "finished")
    call = await the_written_call(hub, await session_of(card))
    await page.wait_for_timeout(4_500)  # past the time a finished card closes: a title is typed
    await press(page, card.get_by_role("button", name="Create task"))
    await card.locator(".call-card-new-task-form .call-card-status", has_text="Saved").wait_for()
    assert await card.locator(".call-card-new-task-form .call-card-status").inner_text() == (
        "Saved on the call"
    )

    # a second task: the call hangs on the first already, and the card says so
    await card.get_by_label("New task's title").fill("Another task")
    await press(page, card.get_by_role("button", name="Create task"))
    status = card.locator(".call-card-new-task-form .call-card-status")
    await status.get_by_text("Not saved: the call already hangs on task").wait_for()

    (task,) = hub.store.list_tasks(call_id=call["id"])
    assert task.title == "Send Clara the contract"
    attachment = hub.store.get_call_attachment(call["id"])
    assert attachment is not None
    assert attachment.task_id == task.id


async def test_anna_edits_the_callers_name_and_fields_from_the_card_during_the_call(
    hub: LiveHub, annas_page: tuple[Any, dict[str, Any]]
) -> None:
    page, channel = annas_page
    contact = clara(hub, company="Roga")
    bodies = scenario("uis", "inbound_answered")
    card = await card_at(hub, page, channel, bodies[:2])

    await card.get_by_text("Edit contact").click()
    name = card.get_by_label("Name of the contact")
    assert await name.input_value() == "Clara"
    await name.fill("Clara Novak")
    company = card.get_by_label("company", exact=True)
    assert await company.input_value() == "Roga"
    await company.fill("Roga i Kopyta")
    await card.get_by_label("New field's name").fill("city")
    await card.get_by_label("New field's value").fill("Tver")
    await press(page, card.get_by_role("button", name="Save contact"))
    status = card.locator(".call-card-contact-edit-form .call-card-status")
    await status.get_by_text("Contact saved: the call joins it once it is written").wait_for()

    await hub.deliver(channel, bodies[2:])
    written = await hub.call_result(channel, await session_of(card))
    call = hub.store.get_call(written.call_id or 0)
    assert call is not None
    assert call.contact_id == contact.id
    edited = hub.store.get_contact(contact.id)
    assert edited is not None
    assert (edited.name, edited.fields) == (
        "Clara Novak",
        {"company": "Roga i Kopyta", "city": "Tver"},
    )


async def test_the_callers_number_on_the_card_calls_her_back_linked_to_her(
    chromium: Any, hub: LiveHub, request: pytest.FixtureRequest
) -> None:
    with serving(UisCallApi()) as uis:
        line = {
            "timezone": "Europe/Moscow",
            "default_country": "RU",
            "settings": {
                "call_api_url": uis.url,
                "virtual_phone_number": "+7 495 000-00-01",
                "allowed_pbx_hosts": [host_port(uis)],
                "secrets": {"call_api_token": uis.access_token},
            },
        }
        async with signed_in_as_anna(chromium, hub, request, **line) as (page, channel):
            contact = clara(hub)
            inbound = scenario("uis", "inbound_lost")
            card = await card_at(hub, page, channel, inbound[:2])
            assert uis.requests() == []  # a number shown calls nobody
            noted = card.locator("form.click-to-call input[name=contact_id]")
            assert await noted.get_attribute("value") == str(contact.id)  # placed from Clara

            await press(page, card.get_by_role("button", name="Call +7 (916) 123-45-67"))
            await page.wait_for_url("**/click-to-call")
            calling = await page.locator("#calling").inner_text()
            assert "Ringing: the PBX rings you first" in calling
            (sent,) = uis.requests()
            params = json.loads(sent.body)["params"]
            assert (params["employee"], params["contact"]) == ({"id": 28511}, "79161234567")

            # the PBX reports the call it placed: it is Clara's
            await hub.deliver(channel, happening_now(scenario("uis", "outbound_answered")))
            result = await hub.call_result(channel, OUTBOUND)
            assert result.call_id is not None
            called = hub.store.get_call(result.call_id)
            assert called is not None
            assert (called.direction, called.contact_id) == ("out", contact.id)
            attachment = hub.store.get_call_attachment(called.id)
            assert attachment is not None
            assert attachment.contact_id == contact.id
