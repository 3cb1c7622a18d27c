"""Phonet calls end to end: JSON webhooks (tests/fixtures/phonet) over HTTP → the real Temporal
server → what lands in the store; and the caller lookup answered from the store, or with the
fallback when the store is slow."""

from __future__ import annotations

import json
import random
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, Gate, Pbxhub, instant, running_pbxhub, scenario, wall_clock
from temporalio.testing import WorkflowEnvironment

from crm import Store
from crm.responsible_lookup import Responsible
from providers.engine import ChannelContext, IncomingRequest, handle_request
from providers.spec_loader import DEFAULT_SPECS_DIR, load_spec

ANSWERED = "47a968893984475b8c20e29dec144c01"  # in: 101 answers, transfers to 102, who talks last
MISSED = "5b1f0e2a7c3d4e5f8a9b0c1d2e3f4c03"  # in: rang 101 and 102, nobody answered
OUTBOUND = "6c2a1f3b8d4e5f60a1b2c3d4e5f60c05"  # out from 101, answered
OUTBOUND_MISSED = "7d3b2a4c9e5f6071b2c3d4e5f6071c06"  # out from 101, nobody answered
CALLER = "+380671234567"
SCENARIOS = {
    "inbound_answered": ANSWERED,
    "inbound_missed": MISSED,
    "outbound_answered": OUTBOUND,
    "outbound_not_answered": OUTBOUND_MISSED,
}
# Phonet's documented source addresses (PROTOCOLS.md §7.3), as an admin pastes them
PHONET_SOURCES = (
    "89.184.65.208, 89.184.82.130, 89.184.67.228, 89.184.82.191, 89.184.65.137, 95.213.132.131"
)


def endpoint_of(name: str) -> str:
    """The URL a request goes to in Phonet's cabinet: the lookup, the full call record, and the
    three user events."""
    event = name.split("_", 1)[1].removesuffix(".json")
    return {"lookup": "lookup", "call_record": "completed"}.get(event, "events")


async def phonet_line(
    hub: Pbxhub, **settings: Any
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A Phonet channel (UA, Kyiv) with Olena on 101 and Taras on 102 (Phonet user ids 36, 37)."""
    channel, (olena, taras) = await hub.create_line(
        "phonet",
        {
            "Олена Коваль": {"extension": "101", "pbx_user_id": "36"},
            "Тарас Шевчук": {"extension": "102", "pbx_user_id": "37"},
        },
        timezone="Europe/Kyiv",
        default_country="UA",
        settings=settings,
    )
    return channel, olena, taras


async def deliver(hub: Pbxhub, channel: dict[str, Any], bodies: list[tuple[str, bytes]]) -> None:
    """Phonet posts JSON, each request to the URL of its field in the cabinet."""
    await hub.deliver(channel, bodies, endpoint=endpoint_of)


async def the_one_contact(hub: Pbxhub) -> dict[str, Any]:
    # the name Phonet shows for the client (otherLegs[0].name)
    return await hub.the_one_contact(CALLER, raw="+380671234567", name="Іван Петренко")


def utc(text: str) -> datetime:
    return wall_clock(text, 0)


def distinct_events(bodies: list[tuple[str, bytes]]) -> int:
    """How many canonical events the requests of a call map to: what the workflow keeps."""
    spec = load_spec(DEFAULT_SPECS_DIR / "phonet.yaml")
    channel = ChannelContext(channel_id=1, timezone="Europe/Kyiv", country="UA")
    keys = set()
    for name, body in bodies:
        request = IncomingRequest("POST", {"content-type": "application/json"}, {}, body, None)
        outcome = handle_request(spec, endpoint_of(name), request, channel)
        keys |= {event.idempotency_key for event in outcome.events}
    return len(keys)


def assert_answered_inbound_owned_by_taras(
    call: dict[str, Any], taras: dict[str, Any], contact_id: int
) -> None:
    assert call["kind"] == "call"
    assert call["direction"] == "in"
    assert call["session_id"] == ANSWERED
    # the transfer's leg (parentUuid) is the same call; its employee talked last and owns it
    assert (call["employee_id"], call["employee_extension"]) == (taras["id"], "102")
    assert call["contact_id"] == contact_id
    assert (call["contact_phone"], call["contact_phone_raw"]) == (CALLER, "+380671234567")
    assert (call["virtual_number"], call["line_name"]) == ("+380442246595", "Головна лінія")
    assert instant(call["started_at"]) == utc("2024-03-12 08:15:00")  # dialAt 1710231300
    assert instant(call["answered_at"]) == utc("2024-03-12 08:15:07")  # bridgeAt
    assert instant(call["ended_at"]) == utc("2024-03-12 08:16:50")  # the record's endAt
    # the full record's duration and billSecs
    assert (call["wait_seconds"], call["talk_seconds"], call["total_seconds"]) == (7, 103, 110)
    assert call["recording_url"] == f"http://127.0.0.1:9/rest/public/calls/{ANSWERED}/audio"
    assert call["recording_duration"] == 103
    assert call["incomplete"] is False
    legs = [(leg["employee_extension"], leg["answered"]) for leg in call["legs"]]
    assert legs == [("101", True), ("102", True)]
    assert instant(call["legs"][1]["answered_at"]) == utc("2024-03-12 08:16:05")
    assert call["extra"]["disposition"] == "0"
    assert call["extra"]["accountDomain"] == "acme.phonet.com.ua"
    assert json.loads(call["extra"]["otherLegs"])[0]["companyName"] == "ТОВ Ромашка"
    assert "event" not in call["extra"]


# --- the fixtures themselves ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    sorted((FIXTURES / "phonet").glob("*/*.json")),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_every_fixture_is_recognised_as_the_request_its_name_says(path: Path) -> None:
    spec = load_spec(DEFAULT_SPECS_DIR / "phonet.yaml")
    channel = ChannelContext(channel_id=1, timezone="Europe/Kyiv", country="UA")
    request = IncomingRequest("POST", {"content-type": "application/json"}, {}, path.read_bytes())
    # every URL takes every request: the body decides, not the field it was pasted into
    for endpoint in ("events", "lookup", "completed"):
        outcome = handle_request(spec, endpoint, request, channel)
        assert outcome.event_name == path.stem.split("_", 1)[1]
        assert {event.session_id for event in outcome.events} <= {SCENARIOS[path.parent.name]}
        assert bool(outcome.events) == (outcome.event_name != "lookup")


def test_a_user_event_delivered_twice_maps_to_the_same_keys() -> None:
    spec = load_spec(DEFAULT_SPECS_DIR / "phonet.yaml")
    channel = ChannelContext(channel_id=1, timezone="Europe/Kyiv", country="UA")
    for name, body in scenario("phonet", "inbound_answered")[1:]:
        keys = []
        for received in (datetime(2024, 3, 12, 8, 20, tzinfo=UTC), datetime.now(UTC)):
            request = IncomingRequest(
                "POST", {"content-type": "application/json"}, {}, body, received_at=received
            )
            outcome = handle_request(spec, endpoint_of(name), request, channel)
            keys.append([event.idempotency_key for event in outcome.events])
        assert keys[0] == keys[1], name


# --- the four calls ------------------------------------------------------------------------------


async def test_an_inbound_call_transferred_from_101_to_102_is_one_call_owned_by_102(
    pbxhub: Pbxhub,
) -> None:
    channel, _, taras = await phonet_line(pbxhub)
    bodies = scenario("phonet", "inbound_answered")

    await deliver(pbxhub, channel, bodies)

    result = await pbxhub.call_result(channel, ANSWERED)
    assert result.outcome == "call"
    assert result.events == distinct_events(bodies)
    call = await pbxhub.the_one_record("call")
    contact = await the_one_contact(pbxhub)
    assert_answered_inbound_owned_by_taras(call, taras, contact["id"])
    assert result.call_id == call["id"]


async def test_an_inbound_call_that_rang_101_and_102_and_was_lost_is_one_missed_call(
    pbxhub: Pbxhub,
) -> None:
    channel, _, _ = await phonet_line(pbxhub)

    await deliver(pbxhub, channel, scenario("phonet", "inbound_missed"))

    result = await pbxhub.call_result(channel, MISSED)
    assert result.outcome == "missed"
    lost = await pbxhub.the_one_record("missed")
    contact = await the_one_contact(pbxhub)
    assert (lost["direction"], lost["employee_id"]) == ("in", None)
    assert lost["contact_id"] == contact["id"]  # missed calls always hang on the contact
    assert (lost["wait_seconds"], lost["talk_seconds"], lost["total_seconds"]) == (25, 0, 25)
    assert instant(lost["started_at"]) == utc("2024-03-12 09:00:00")
    assert instant(lost["ended_at"]) == utc("2024-03-12 09:00:25")
    assert lost["recording_url"] is None
    assert sorted(leg["employee_extension"] for leg in lost["legs"]) == ["101", "102"]
    assert not any(leg["answered"] for leg in lost["legs"])
    assert lost["extra"]["disposition"] == "1"


async def test_an_outbound_call_answered(pbxhub: Pbxhub) -> None:
    channel, olena, _ = await phonet_line(pbxhub)

    await deliver(pbxhub, channel, scenario("phonet", "outbound_answered"))

    result = await pbxhub.call_result(channel, OUTBOUND)
    assert result.outcome == "call"
    call = await pbxhub.the_one_record("call")
    assert (call["direction"], call["employee_id"], call["employee_extension"]) == (
        "out",
        olena["id"],
        "101",
    )
    assert call["contact_phone"] == CALLER
    assert instant(call["started_at"]) == utc("2024-03-12 10:00:00")
    assert instant(call["answered_at"]) == utc("2024-03-12 10:00:09")
    assert instant(call["ended_at"]) == utc("2024-03-12 10:01:39")
    assert (call["wait_seconds"], call["talk_seconds"], call["total_seconds"]) == (9, 90, 99)
    assert call["recording_url"] == f"http://127.0.0.1:9/rest/public/calls/{OUTBOUND}/audio"
    assert [(leg["employee_extension"], leg["answered"]) for leg in call["legs"]] == [("101", True)]
    await the_one_contact(pbxhub)


async def test_an_outbound_call_nobody_answered_is_a_missed_outbound_call(pbxhub: Pbxhub) -> None:
    channel, olena, _ = await phonet_line(pbxhub)

    await deliver(pbxhub, channel, scenario("phonet", "outbound_not_answered"))

    result = await pbxhub.call_result(channel, OUTBOUND_MISSED)
    assert result.outcome == "missed"
    lost = await pbxhub.the_one_record("missed")
    # the caller owns a missed outbound call
    assert (lost["direction"], lost["employee_id"], lost["employee_extension"]) == (
        "out",
        olena["id"],
        "101",
    )
    assert (lost["wait_seconds"], lost["talk_seconds"], lost["total_seconds"]) == (30, 0, 30)
    assert instant(lost["ended_at"]) == utc("2024-03-12 10:30:30")
    assert lost["recording_url"] is None
    await the_one_contact(pbxhub)


async def test_with_hangup_ends_call_the_first_legs_hangup_writes_the_call_without_a_record(
    pbxhub: Pbxhub,
) -> None:
    channel, olena, _ = await phonet_line(pbxhub, hangup_ends_call=True)
    user_events = [
        item for item in scenario("phonet", "outbound_answered") if "record" not in item[0]
    ]

    await deliver(pbxhub, channel, user_events)

    result = await pbxhub.call_result(channel, OUTBOUND)
    assert result.outcome == "call"
    call = await pbxhub.the_one_record("call")
    assert (call["employee_id"], call["incomplete"]) == (olena["id"], False)
    assert instant(call["answered_at"]) == utc("2024-03-12 10:00:09")
    # no full record: Phonet's hang-up carries no durations, and no recording is announced
    assert call["recording_url"] is None


# --- duplicates and disorder -------------------------------------------------------------------


async def test_every_request_of_every_call_delivered_twice_is_recorded_once(
    pbxhub: Pbxhub,
) -> None:
    channel, _, taras = await phonet_line(pbxhub)
    everything = [item for name in SCENARIOS for item in scenario("phonet", name)]

    await deliver(pbxhub, channel, [item for item in everything for _ in range(2)])

    for name, session in SCENARIOS.items():
        result = await pbxhub.call_result(channel, session)
        assert result.events == distinct_events(scenario("phonet", name)), name
    calls, missed = await pbxhub.calls_and_missed()
    assert sorted(c["session_id"] for c in calls) == sorted([ANSWERED, OUTBOUND])
    assert sorted(m["session_id"] for m in missed) == sorted([MISSED, OUTBOUND_MISSED])
    contact = await the_one_contact(pbxhub)
    answered = next(c for c in calls if c["session_id"] == ANSWERED)
    assert_answered_inbound_owned_by_taras(answered, taras, contact["id"])


@pytest.mark.parametrize("seed", [3, 11])
async def test_the_transferred_call_shuffled_is_still_one_call_owned_by_102(
    pbxhub: Pbxhub, seed: int
) -> None:
    channel, _, taras = await phonet_line(pbxhub)
    bodies = scenario("phonet", "inbound_answered")
    record, rest = bodies[-1], bodies[:-1]
    random.Random(seed).shuffle(rest)

    # the full record closes the call: what came before it may come in any order
    await deliver(pbxhub, channel, [*rest, record])

    await pbxhub.call_result(channel, ANSWERED)
    call = await pbxhub.the_one_record("call")
    assert_answered_inbound_owned_by_taras(call, taras, (await the_one_contact(pbxhub))["id"])


async def test_the_record_first_then_the_user_events_backwards_is_one_call_owned_by_102(
    pbxhub: Pbxhub,
) -> None:
    channel, _, taras = await phonet_line(pbxhub)
    bodies = scenario("phonet", "inbound_answered")

    await deliver(pbxhub, channel, bodies[::-1])

    await pbxhub.call_result(channel, ANSWERED)
    call = await pbxhub.the_one_record("call")
    assert_answered_inbound_owned_by_taras(call, taras, (await the_one_contact(pbxhub))["id"])


# --- the lookup: answered from the store ---------------------------------------------------------


async def test_the_lookup_names_a_known_caller_and_routes_to_the_responsible(
    pbxhub: Pbxhub,
) -> None:
    channel, _, taras = await phonet_line(pbxhub, forward_to_responsible="on")
    contact, _ = pbxhub.store.find_or_create_contact(phone=CALLER, name="Іван Петренко")
    pbxhub.store.set_contact_responsibles(contact.id, [taras["id"]])
    _, body = scenario("phonet", "inbound_answered")[0]

    response = await pbxhub.post_hook(channel, "lookup", body)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {
        "name": "Іван Петренко",
        "url": f"http://testserver/contacts/{contact.id}",
        "urlText": "Іван Петренко",
        "newEntity": False,
        "responsibleEmployeeEmail": None,
        "responsibleEmployeeExt": "102",
    }
    # nothing to follow yet: the lookup has no call id
    assert await pbxhub.calls_and_missed() == ([], [])


async def test_the_lookup_with_forwarding_off_names_the_caller_without_routing(
    pbxhub: Pbxhub,
) -> None:
    channel, _, taras = await phonet_line(pbxhub)  # forward_to_responsible defaults to off
    contact, _ = pbxhub.store.find_or_create_contact(phone=CALLER, name="Іван Петренко")
    pbxhub.store.set_contact_responsibles(contact.id, [taras["id"]])
    _, body = scenario("phonet", "inbound_answered")[0]

    response = await pbxhub.post_hook(channel, "lookup", body)

    assert response.json()["responsibleEmployeeExt"] is None
    assert response.json()["url"] == f"http://testserver/contacts/{contact.id}"


async def test_the_lookup_for_an_unknown_caller_is_a_new_client(pbxhub: Pbxhub) -> None:
    channel, _, _ = await phonet_line(pbxhub, forward_to_responsible="on")
    _, body = scenario("phonet", "inbound_answered")[0]

    response = await pbxhub.post_hook(channel, "lookup", body)

    assert response.status_code == 200
    assert response.json()["newEntity"] is True
    assert response.json()["name"] is None


class HangingStore(Store):
    """A real store whose routing read hangs while its gate is closed (a database under a
    lock)."""

    gate = Gate(seconds=10)

    def responsible_for_phone(self, phone: str, *, channel_id: int) -> Responsible | None:
        self.gate.pass_through()
        return super().responsible_for_phone(phone, channel_id=channel_id)


@pytest.fixture
async def hanging_pbxhub(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> AsyncIterator[Pbxhub]:
    HangingStore.gate.open()
    async with running_pbxhub(
        temporal_env,
        tmp_path,
        store_class=HangingStore,
        routing_timeout=timedelta(seconds=0.3),
    ) as hub:
        try:
            yield hub
        finally:
            HangingStore.gate.open()


async def test_a_store_that_hangs_gets_phonet_the_fallback_within_the_deadline(
    hanging_pbxhub: Pbxhub, caplog: pytest.LogCaptureFixture
) -> None:
    hub = hanging_pbxhub
    channel, _, taras = await phonet_line(hub, forward_to_responsible="on")
    contact, _ = hub.store.find_or_create_contact(phone=CALLER, name="Іван Петренко")
    hub.store.set_contact_responsibles(contact.id, [taras["id"]])
    _, body = scenario("phonet", "inbound_answered")[0]
    HangingStore.gate.close()

    started = time.perf_counter()
    response = await hub.post_hook(channel, "lookup", body)
    elapsed = time.perf_counter() - started

    assert await HangingStore.gate.wait_reached()
    assert response.status_code == 200
    assert response.json() == {}  # Phonet routes by its own scenario
    assert elapsed >= 0.3, f"answered after {elapsed:.3f} s, before the deadline"
    assert not HangingStore.gate.left.is_set()  # answered at the deadline, the store still hung
    assert "no answer within the deadline" in caplog.text


# --- the source addresses and refused requests ---------------------------------------------------


async def test_with_phonets_addresses_allowed_another_source_gets_403_and_starts_nothing(
    pbxhub: Pbxhub,
) -> None:
    # the test client posts from 127.0.0.1, which is not one of Phonet's servers
    channel, _, _ = await phonet_line(pbxhub, allowed_sources=PHONET_SOURCES)

    for name, body in scenario("phonet", "inbound_answered"):
        response = await pbxhub.post_hook(channel, endpoint_of(name), body)
        assert response.status_code == 403, name

    await pbxhub.assert_no_workflow(channel, ANSWERED)
    assert await pbxhub.calls_and_missed() == ([], [])


async def test_a_call_event_without_its_uuid_gets_422_naming_it(pbxhub: Pbxhub) -> None:
    channel, _, _ = await phonet_line(pbxhub)
    _, body = scenario("phonet", "inbound_answered")[1]
    broken = json.loads(body)
    del broken["uuid"]

    response = await pbxhub.post_hook(channel, "events", broken)

    assert response.status_code == 422
    assert response.json()["field"] == "uuid"
    assert await pbxhub.calls_and_missed() == ([], [])


async def test_a_full_record_after_the_hangup_closed_the_call_is_no_second_missed_call(
    pbxhub: Pbxhub,
) -> None:
    channel, olena, _ = await phonet_line(pbxhub, hangup_ends_call=True)
    *user_events, record = scenario("phonet", "outbound_not_answered")
    await deliver(pbxhub, channel, user_events)
    first = await pbxhub.call_result(channel, OUTBOUND_MISSED)
    assert first.outcome == "missed"

    await deliver(pbxhub, channel, [record])

    # a later run of the same call amends the written one, never writes it again
    second = await pbxhub.call_result(channel, OUTBOUND_MISSED)
    assert (second.outcome, second.call_id) == ("amended", first.call_id)
    lost = await pbxhub.the_one_record("missed")
    assert (lost["direction"], lost["employee_id"]) == ("out", olena["id"])
