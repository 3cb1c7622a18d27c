"""Live call cards: a UIS call's webhooks → the card of every employee it concerns, over SSE,
leg by leg to its end; resuming with Last-Event-ID; and cards written by another process into
the same SQLite file."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from card_site import live_pbxhub, reading_cards
from conftest import Pbxhub, scenario
from temporalio.testing import WorkflowEnvironment

from crm import ContactPhone, Store

CALLER = "+79161234567"
STAFF = {
    "Anna Smirnova": {"extension": "101", "pbx_user_id": "28511"},
    "Boris Ivanov": {"extension": "102", "pbx_user_id": "28512"},
}


@pytest.fixture
async def hub(temporal_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Pbxhub]:
    store = Store(f"sqlite:///{tmp_path / 'pbxhub.db'}")
    store.migrate()
    async with live_pbxhub(temporal_env, store) as hub:
        yield hub
    store.close()


def token_of(hub: Pbxhub, employee: dict[str, Any]) -> dict[str, str]:
    token = hub.store.issue_token(employee["id"])
    assert token is not None
    return {"Authorization": f"Bearer {token}"}


def stages(cards: list[dict[str, Any]]) -> list[str]:
    return [card["stage"] for card in cards]


def finished(cards: list[dict[str, Any]]) -> bool:
    return bool(cards) and cards[-1]["stage"] == "finished"


async def test_an_answered_uis_call_is_carded_ringing_talking_finished(hub: Pbxhub) -> None:
    channel, (anna, boris) = await hub.create_line(
        "uis",
        STAFF,
        settings={"lines": {"+74950000001": {"name": "Hotline", "color": "#ff8800"}}},
    )
    contact = hub.store.create_contact(
        name="Ivan Petrov",
        phones=[ContactPhone(phone=CALLER, raw=CALLER)],
        responsible_employee_ids=[boris["id"]],
    )
    async with (
        reading_cards(hub.http, token_of(hub, anna)) as annas,
        reading_cards(hub.http, token_of(hub, boris)) as boris_s,
    ):
        await hub.deliver(channel, scenario("uis", "inbound_answered"))
        cards = await annas.until(finished)
        await boris_s.until(finished)  # the contact's responsible sees it too

    assert stages(cards)[0] == "ringing"
    assert "talking" in stages(cards)
    assert stages(cards).index("talking") < len(cards) - 1
    last = cards[-1]
    assert last["phone_display"] == "+7 (916) 123-45-67"
    assert last["line"] == {"name": "Hotline", "color": "#ff8800", "number": "+74950000001"}
    assert last["contact"]["id"] == contact.id
    assert last["contact"]["name"] == "Ivan Petrov"
    assert last["contact"]["responsibles"] == [{"id": boris["id"], "name": "Boris Ivanov"}]
    assert [leg["employee"] for leg in last["legs"]] == ["Anna Smirnova"]
    assert [card["id"] for card in cards] == sorted({card["id"] for card in cards})


async def test_a_lost_group_call_closes_the_card_of_every_employee_it_rang(hub: Pbxhub) -> None:
    channel, (anna, boris) = await hub.create_line("uis", STAFF)
    stranger = await hub.create_employee("Vera Orlova")
    async with (
        reading_cards(hub.http, token_of(hub, anna)) as annas,
        reading_cards(hub.http, token_of(hub, boris)) as boris_s,
        reading_cards(hub.http, token_of(hub, stranger)) as veras,
    ):
        await hub.deliver(channel, scenario("uis", "inbound_lost"))
        for reader in (annas, boris_s):
            cards = await reader.until(finished)
            assert cards[-1]["contact"] is None or cards[-1]["contact"]["id"]
            assert {leg["state"] for leg in cards[-1]["legs"]} == {"cancelled"}
        await asyncio.sleep(0.5)
    assert veras.cards == []  # a call that never rang her is not hers to see


async def test_a_resumed_stream_gets_every_card_it_missed(hub: Pbxhub) -> None:
    channel, (anna, _) = await hub.create_line("uis", STAFF)
    bodies = scenario("uis", "inbound_answered")
    headers = token_of(hub, anna)
    async with reading_cards(hub.http, headers) as first:
        await hub.deliver(channel, bodies[:2])  # ringing at Anna
        seen = await first.until(lambda cards: len(cards) >= 1)
    last_id = seen[-1]["id"]

    await hub.deliver(channel, bodies[2:])  # while nobody listens
    await asyncio.sleep(3)

    async with reading_cards(hub.http, {**headers, "Last-Event-ID": str(last_id)}) as resumed:
        cards = await resumed.until(finished)
    assert cards[0]["id"] > last_id
    assert "talking" in stages(cards)


async def test_a_fresh_stream_shows_a_call_already_ringing(hub: Pbxhub) -> None:
    channel, (anna, _) = await hub.create_line("uis", STAFF)
    await hub.deliver(channel, scenario("uis", "inbound_answered")[:2])
    await asyncio.sleep(2)
    async with reading_cards(hub.http, token_of(hub, anna)) as page:
        cards = await page.until(lambda cards: len(cards) >= 1)
    assert stages(cards) == ["ringing"]


async def test_cards_another_process_writes_into_the_sqlite_file_reach_the_stream(
    hub: Pbxhub,
) -> None:
    anna = await hub.create_employee("Anna Smirnova")
    channel = await hub.create_channel("uis")
    card = {"key": f"{channel['id']}:s1", "channel_id": channel["id"], "stage": "ringing"}
    url = str(hub.store._engine.url)
    script = (
        "import json, sys; from crm import Store; "
        "Store(sys.argv[1]).publish_card(json.loads(sys.argv[2]), [int(sys.argv[3])])"
    )
    async with reading_cards(hub.http, token_of(hub, anna)) as annas:
        await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", script, url, json.dumps(card), str(anna["id"])],
            check=True,
        )
        cards = await annas.until(lambda cards: len(cards) >= 1, seconds=2)
    assert cards[0]["key"] == card["key"]


async def test_the_stream_needs_an_employee(hub: Pbxhub) -> None:
    nobody = await hub.http.get("/api/v1/cards/stream")
    assert nobody.status_code == 401
    admin = await hub.http.get("/api/v1/cards/stream", headers={"Authorization": "Bearer x"})
    assert admin.status_code == 401


async def test_a_quiet_stream_sends_keep_alive_comments(hub: Pbxhub) -> None:
    anna = await hub.create_employee("Anna Smirnova")
    async with reading_cards(hub.http, token_of(hub, anna)) as annas:
        await asyncio.sleep(1.3)
    assert annas.comments >= 1
    assert isinstance(hub.http, httpx.AsyncClient)
