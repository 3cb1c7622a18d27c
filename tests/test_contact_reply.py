"""The CRM telephony API's `contact` command over HTTP against the real store: the caller's name
and the short number of their responsible employee, whatever the channel's forwarding setting.

The reference (../shared/PLANFIX.md, `contact`) names the responsible whenever the contact has
one with a short number; forwarding decides whether a PBX's routing question (FreePBX's
`callInfoRespNum`) puts the caller through, not what the contact lookup says.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from conftest import FORM, Pbxhub

PROVIDER = "planfix_api"
TOKEN = "303cb962ac59075b964b07152d234b70"
CALLER = "+79101234567"
# every day, never: Vera's working hours in the working_hours cases
ALWAYS = {
    "timezone": "Europe/Moscow",
    "days": {
        day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    },
}
NEVER = {"timezone": "Europe/Moscow", "days": {}}


async def planfix_line(hub: Pbxhub, **settings: Any) -> dict[str, Any]:
    return await hub.create_channel(
        PROVIDER, settings={"secrets": {"planfix_token": TOKEN}, **settings}
    )


async def vera_responsible_for_ivanov(
    hub: Pbxhub,
    channel: dict[str, Any],
    *,
    extension_on: dict[str, Any] | None = None,
    working_hours: dict[str, Any] | None = None,
) -> None:
    """Vera, short number 103 on `extension_on` (the channel itself unless said), responsible for
    Иванов Иван, who calls from +79101234567."""
    on = extension_on or channel
    vera = await hub.create_employee(
        "Vera",
        links=[{"channel_id": on["id"], "extension": "103"}],
        working_hours=working_hours,
    )
    contact, _ = hub.store.find_or_create_contact(phone=CALLER, name="Иванов Иван")
    hub.store.set_contact_responsibles(contact.id, [vera["id"]])


async def ask_contact(hub: Pbxhub, channel: dict[str, Any], phone: str = "79101234567") -> Any:
    """The PBX's `contact` command as the reference's example sends it (a form, no `+`)."""
    form = {"cmd": "contact", "phone": phone, "planfix_token": TOKEN, "callid": "D12D-1511"}
    response = await hub.post_hook(channel, "api", urlencode(form).encode(), content_type=FORM)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(
    ("settings", "working_hours"),
    [
        ({}, None),  # a channel that never set forwarding: off
        ({"forward_to_responsible": "off"}, None),
        ({"forward_to_responsible": "on"}, None),
        ({"forward_to_responsible": "working_hours"}, NEVER),  # Vera is not at work now
        ({"forward_to_responsible": "working_hours"}, ALWAYS),
    ],
    ids=["unset", "off", "on", "working-hours-away", "working-hours-at-work"],
)
async def test_the_contact_reply_names_the_responsible_whatever_the_forwarding(
    pbxhub: Pbxhub, settings: dict[str, Any], working_hours: dict[str, Any] | None
) -> None:
    channel = await planfix_line(pbxhub, **settings)
    await vera_responsible_for_ivanov(pbxhub, channel, working_hours=working_hours)

    reply = await ask_contact(pbxhub, channel)

    # a bare number, as in the reference's example `responsible: 103`
    assert reply == {"contact_name": "Иванов Иван", "responsible": 103}


async def test_a_responsible_without_a_short_number_here_is_not_named(pbxhub: Pbxhub) -> None:
    channel = await planfix_line(pbxhub, forward_to_responsible="on")
    elsewhere = await planfix_line(pbxhub)
    await vera_responsible_for_ivanov(pbxhub, channel, extension_on=elsewhere)

    assert await ask_contact(pbxhub, channel) == {"contact_name": "Иванов Иван"}


async def test_an_unknown_caller_gets_an_empty_object(pbxhub: Pbxhub) -> None:
    channel = await planfix_line(pbxhub)
    await vera_responsible_for_ivanov(pbxhub, channel)

    assert await ask_contact(pbxhub, channel, phone="79990000000") == {}


@pytest.mark.parametrize(
    ("mode", "reply"),
    [
        ("off", {"error": "no persons responsible"}),
        ("on", {"responsibleNumbers": ["103"]}),
    ],
)
async def test_the_routing_question_still_follows_the_forwarding_setting(
    pbxhub: Pbxhub, mode: str, reply: dict[str, Any]
) -> None:
    channel = await planfix_line(pbxhub, forward_to_responsible=mode)
    await vera_responsible_for_ivanov(pbxhub, channel)
    question = {"event": "callInfoRespNum", "uniqueId": "1700000000.1", "intNum": "101"}

    response = await pbxhub.post_hook(channel, "api", {**question, "extNum": "79101234567"})

    assert response.status_code == 200, response.text
    assert response.json() == reply
