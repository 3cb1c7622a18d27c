"""Binotel calls end to end: form-encoded requests (tests/fixtures/binotel) over HTTP → the real
Temporal server → what lands in the store; and the synchronous apiCallSettings answer."""

from __future__ import annotations

import json
import random
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, FORM, Pbxhub, instant, scenario, wall_clock

from providers.engine import ChannelContext, IncomingRequest, handle_request
from providers.spec_loader import DEFAULT_SPECS_DIR, load_spec

ANSWERED = 4510000101  # in: 901 answers, transfers to 902, who talks last
MISSED = 4510000102  # in: rang 901 and 902, nobody answered
OUTBOUND = 4510000103  # out from 901, answered
OUTBOUND_MISSED = 4510000104  # out from 901, nobody answered
CALLER = "+380671234567"
# every scenario in delivery order, and the session it is about
SCENARIOS = {
    "inbound_answered": ANSWERED,
    "inbound_missed": MISSED,
    "outbound_answered": OUTBOUND,
    "outbound_not_answered": OUTBOUND_MISSED,
}


def endpoint_of(name: str) -> str:
    """The URL Binotel support sets for a request type (seed 004): settings, push, completed."""
    event = name.split("_", 1)[1].removesuffix(".txt")
    if event == "api_call_settings":
        return "settings"
    return "completed" if event == "api_call_completed" else "push"


async def binotel_line(
    hub: Pbxhub, **settings: Any
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A Binotel channel (UA, Kyiv) that takes requests from the test client's address, with
    Olena on line 901 and Taras on line 902."""
    channel, (olena, taras) = await hub.create_line(
        "binotel",
        {"Олена Коваль": {"extension": "901"}, "Тарас Шевчук": {"extension": "902"}},
        timezone="Europe/Kyiv",
        default_country="UA",
        settings={"allowed_sources": ["127.0.0.1/32"], **settings},
    )
    return channel, olena, taras


async def deliver(hub: Pbxhub, channel: dict[str, Any], bodies: list[tuple[str, bytes]]) -> None:
    """Binotel posts forms, each to the URL of its request type."""
    await hub.deliver(channel, bodies, endpoint=endpoint_of)


async def the_one_contact(hub: Pbxhub) -> dict[str, Any]:
    # the name is Binotel's own client card (customerData)
    return await hub.the_one_contact(CALLER, raw="0671234567", name="Іван Петренко")


def utc(text: str) -> datetime:
    return wall_clock(text, 0)


def distinct_events(bodies: list[tuple[str, bytes]]) -> int:
    """How many canonical events the requests of a call map to: what the workflow keeps."""
    spec = load_spec(DEFAULT_SPECS_DIR / "binotel.yaml")
    channel = ChannelContext(channel_id=1, timezone="Europe/Kyiv", country="UA")
    keys = set()
    for name, body in bodies:
        request = IncomingRequest("POST", {"content-type": FORM}, {}, body, "194.88.218.116")
        outcome = handle_request(spec, endpoint_of(name), request, channel)
        keys |= {event.idempotency_key for event in outcome.events}
    return len(keys)


def assert_answered_inbound_owned_by_taras(
    call: dict[str, Any], taras: dict[str, Any], contact_id: int
) -> None:
    assert call["kind"] == "call"
    assert call["direction"] == "in"
    assert call["session_id"] == str(ANSWERED)
    # the last talk (historyData[1], line 902) owns the call, though callDetails names 901
    assert (call["employee_id"], call["employee_extension"]) == (taras["id"], "902")
    assert call["contact_id"] == contact_id
    assert (call["contact_phone"], call["contact_phone_raw"]) == (CALLER, "0671234567")
    assert (call["virtual_number"], call["line_name"]) == ("+380443334455", "Головна лінія")
    assert instant(call["started_at"]) == utc("2024-03-12 08:15:00")  # startTime 1710231300
    assert instant(call["answered_at"]) == utc("2024-03-12 08:15:07")  # + waitsec 7
    assert instant(call["ended_at"]) == utc("2024-03-12 08:16:50")  # + billsec 103
    assert (call["wait_seconds"], call["talk_seconds"], call["total_seconds"]) == (7, 103, 110)
    assert call["recording_url"] == "http://127.0.0.1:9/binotel/records/4510000101"
    assert call["recording_duration"] == 103
    assert call["incomplete"] is False
    # both legs kept, in order, each with its own talk
    legs = [
        (leg["employee_extension"], leg["answered"], leg["talk_seconds"]) for leg in call["legs"]
    ]
    assert legs == [("901", True, 58), ("902", True, 40)]
    assert instant(call["legs"][1]["answered_at"]) == utc("2024-03-12 08:16:10")
    # call tracking (seed 004's analytics fields), flattened under callDetails
    extra = call["extra"]
    assert extra["callDetails.callTrackingData.utm_source"] == "google"
    assert extra["callDetails.callTrackingData.utm_campaign"] == "spring_sale"
    assert extra["callDetails.callTrackingData.gaClientId"] == "1234567890.1710230000"
    assert extra["callDetails.callTrackingData.geoipCity"] == "Київ"
    assert extra["callDetails.callTrackingData.fullUrl"] == (
        "https://shop.example.com/catalog?utm_source=google"
    )
    assert extra["callDetails.callTrackingData.timeSpentOnSiteBeforeMakeCall"] == "95"
    assert extra["callDetails.disposition"] == "ANSWER"
    assert extra["callDetails.generalCallID"] == str(ANSWERED)
    assert "requestType" not in extra


# --- the fixtures themselves ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    sorted((FIXTURES / "binotel").glob("*/*.txt")),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_every_fixture_is_recognised_as_the_request_its_name_says(path: Path) -> None:
    spec = load_spec(DEFAULT_SPECS_DIR / "binotel.yaml")
    channel = ChannelContext(channel_id=1, timezone="Europe/Kyiv", country="UA")
    request = IncomingRequest("POST", {"content-type": FORM}, {}, path.read_bytes(), "45.91.130.82")
    outcome = handle_request(spec, endpoint_of(path.name), request, channel)
    assert outcome.event_name == path.stem.split("_", 1)[1]
    # apiCallSettings has no call id and emits nothing; the rest belong to the scenario's call
    assert {event.session_id for event in outcome.events} <= {str(SCENARIOS[path.parent.name])}
    assert bool(outcome.events) == (outcome.event_name != "api_call_settings")


# --- the four calls ------------------------------------------------------------------------------


async def test_an_inbound_call_transferred_from_901_to_902_is_one_call_owned_by_902(
    pbxhub: Pbxhub,
) -> None:
    channel, _, taras = await binotel_line(pbxhub)
    bodies = scenario("binotel", "inbound_answered")

    await deliver(pbxhub, channel, bodies)

    result = await pbxhub.call_result(channel, ANSWERED)
    assert result.outcome == "call"
    assert result.events == distinct_events(bodies)
    call = await pbxhub.the_one_record("call")
    contact = await the_one_contact(pbxhub)
    assert_answered_inbound_owned_by_taras(call, taras, contact["id"])
    assert result.call_id == call["id"]


async def test_an_inbound_call_that_rang_901_and_902_and_was_lost_is_one_missed_call(
    pbxhub: Pbxhub,
) -> None:
    channel, _, _ = await binotel_line(pbxhub)

    await deliver(pbxhub, channel, scenario("binotel", "inbound_missed"))

    result = await pbxhub.call_result(channel, MISSED)
    assert result.outcome == "missed"
    lost = await pbxhub.the_one_record("missed")
    contact = await the_one_contact(pbxhub)
    assert (lost["direction"], lost["employee_id"]) == ("in", None)
    assert lost["contact_id"] == contact["id"]  # missed calls always hang on the contact
    assert (lost["wait_seconds"], lost["talk_seconds"], lost["total_seconds"]) == (25, 0, 25)
    assert instant(lost["started_at"]) == utc("2024-03-12 09:00:00")
    assert instant(lost["ended_at"]) == utc("2024-03-12 09:00:25")
    # the link came, but without a talk it is no recording
    assert lost["recording_url"] is None
    assert sorted(leg["employee_extension"] for leg in lost["legs"]) == ["901", "902"]
    assert not any(leg["answered"] for leg in lost["legs"])
    assert lost["extra"]["callDetails.disposition"] == "NOANSWER"


async def test_an_outbound_call_answered(pbxhub: Pbxhub) -> None:
    channel, olena, _ = await binotel_line(pbxhub)

    await deliver(pbxhub, channel, scenario("binotel", "outbound_answered"))

    result = await pbxhub.call_result(channel, OUTBOUND)
    assert result.outcome == "call"
    call = await pbxhub.the_one_record("call")
    assert (call["direction"], call["employee_id"], call["employee_extension"]) == (
        "out",
        olena["id"],
        "901",
    )
    assert call["contact_phone"] == CALLER
    assert instant(call["started_at"]) == utc("2024-03-12 10:00:00")
    assert instant(call["answered_at"]) == utc("2024-03-12 10:00:09")
    assert instant(call["ended_at"]) == utc("2024-03-12 10:01:39")
    assert (call["wait_seconds"], call["talk_seconds"], call["total_seconds"]) == (9, 90, 99)
    assert call["recording_url"] == "http://127.0.0.1:9/binotel/records/4510000103"
    assert [(leg["employee_extension"], leg["answered"]) for leg in call["legs"]] == [("901", True)]
    await the_one_contact(pbxhub)


async def test_an_outbound_call_nobody_answered_is_a_missed_outbound_call(pbxhub: Pbxhub) -> None:
    channel, olena, _ = await binotel_line(pbxhub)

    await deliver(pbxhub, channel, scenario("binotel", "outbound_not_answered"))

    result = await pbxhub.call_result(channel, OUTBOUND_MISSED)
    assert result.outcome == "missed"
    lost = await pbxhub.the_one_record("missed")
    # the caller owns a missed outbound call
    assert (lost["direction"], lost["employee_id"], lost["employee_extension"]) == (
        "out",
        olena["id"],
        "901",
    )
    assert (lost["wait_seconds"], lost["talk_seconds"], lost["total_seconds"]) == (30, 0, 30)
    assert lost["recording_url"] is None
    await the_one_contact(pbxhub)


# --- duplicates and disorder -------------------------------------------------------------------


async def test_every_request_of_every_call_delivered_twice_is_recorded_once(
    pbxhub: Pbxhub,
) -> None:
    channel, _, taras = await binotel_line(pbxhub)
    everything = [item for name in SCENARIOS for item in scenario("binotel", name)]

    await deliver(pbxhub, channel, [item for item in everything for _ in range(2)])

    results = {name: await pbxhub.call_result(channel, sid) for name, sid in SCENARIOS.items()}
    for name, result in results.items():
        assert result.events == distinct_events(scenario("binotel", name)), name
    calls, missed = await pbxhub.calls_and_missed()
    assert sorted(c["session_id"] for c in calls) == [str(ANSWERED), str(OUTBOUND)]
    assert sorted(m["session_id"] for m in missed) == [str(MISSED), str(OUTBOUND_MISSED)]
    contact = await the_one_contact(pbxhub)
    answered = next(c for c in calls if c["session_id"] == str(ANSWERED))
    assert_answered_inbound_owned_by_taras(answered, taras, contact["id"])


async def test_the_final_record_first_then_the_pushes_shuffled_is_still_one_call_owned_by_902(
    pbxhub: Pbxhub,
) -> None:
    channel, _, taras = await binotel_line(pbxhub)
    bodies = scenario("binotel", "inbound_answered")
    completed, pushes = bodies[-1], bodies[:-1]
    random.Random(4).shuffle(pushes)

    await deliver(pbxhub, channel, [completed, *pushes])

    await pbxhub.call_result(channel, ANSWERED)
    call = await pbxhub.the_one_record("call")
    assert_answered_inbound_owned_by_taras(call, taras, (await the_one_contact(pbxhub))["id"])


async def test_a_lost_call_with_its_pushes_after_the_final_record_is_one_missed_call(
    pbxhub: Pbxhub,
) -> None:
    channel, _, _ = await binotel_line(pbxhub)
    bodies = scenario("binotel", "inbound_missed")

    await deliver(pbxhub, channel, bodies[::-1])

    result = await pbxhub.call_result(channel, MISSED)
    assert result.outcome == "missed"
    calls, missed = await pbxhub.calls_and_missed()
    assert calls == []
    assert [m["session_id"] for m in missed] == [str(MISSED)]


# --- the synchronous answer and the source addresses -------------------------------------------


async def test_api_call_settings_names_a_known_caller_and_routes_to_the_responsible(
    pbxhub: Pbxhub,
) -> None:
    channel, _, taras = await binotel_line(pbxhub, forward_to_responsible="on")
    contact, _ = pbxhub.store.find_or_create_contact(
        phone=CALLER, phone_raw="0671234567", name="Іван Петренко"
    )
    pbxhub.store.set_contact_responsibles(contact.id, [taras["id"]])
    _, body = scenario("binotel", "inbound_answered")[0]

    response = await pbxhub.post_hook(channel, "settings", body, content_type=FORM)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {
        "customerData": {
            "name": "Іван Петренко",
            "linkToCrmUrl": f"http://testserver/contacts/{contact.id}",
            "assignedToEmployeeNumber": "902",
        }
    }
    # nothing to follow yet: apiCallSettings has no call id
    assert await pbxhub.calls_and_missed() == ([], [])


async def test_api_call_settings_with_forwarding_off_names_the_caller_without_routing(
    pbxhub: Pbxhub,
) -> None:
    channel, _, taras = await binotel_line(pbxhub)  # forward_to_responsible defaults to off
    contact, _ = pbxhub.store.find_or_create_contact(phone=CALLER, name="Іван Петренко")
    pbxhub.store.set_contact_responsibles(contact.id, [taras["id"]])
    _, body = scenario("binotel", "inbound_answered")[0]

    response = await pbxhub.post_hook(channel, "settings", body, content_type=FORM)

    assert response.json() == {
        "customerData": {
            "name": "Іван Петренко",
            "linkToCrmUrl": f"http://testserver/contacts/{contact.id}",
        }
    }


async def test_api_call_settings_for_an_unknown_caller_is_an_empty_object(pbxhub: Pbxhub) -> None:
    channel, _, _ = await binotel_line(pbxhub, forward_to_responsible="on")
    _, body = scenario("binotel", "inbound_answered")[0]

    response = await pbxhub.post_hook(channel, "settings", body, content_type=FORM)

    assert (response.status_code, json.loads(response.text)) == (200, {})


async def test_a_request_from_outside_binotels_servers_gets_403_and_starts_nothing(
    pbxhub: Pbxhub,
) -> None:
    # no allowed_sources of its own: only Binotel's published servers may post, not 127.0.0.1
    channel = await pbxhub.create_channel("binotel", timezone="Europe/Kyiv", default_country="UA")

    for name, body in scenario("binotel", "inbound_answered"):
        response = await pbxhub.post_hook(channel, endpoint_of(name), body, content_type=FORM)
        assert response.status_code == 403, name

    await pbxhub.assert_no_workflow(channel, ANSWERED)
    assert await pbxhub.calls_and_missed() == ([], [])


async def test_a_completed_record_without_its_call_id_gets_422_naming_it(pbxhub: Pbxhub) -> None:
    channel, _, _ = await binotel_line(pbxhub)
    _, body = scenario("binotel", "inbound_answered")[-1]
    broken = body.replace(b"callDetails%5BgeneralCallID%5D=4510000101&", b"")

    response = await pbxhub.post_hook(channel, "completed", broken, content_type=FORM)

    assert response.status_code == 422
    assert response.json()["field"] == "callDetails.generalCallID"
    assert await pbxhub.calls_and_missed() == ([], [])
