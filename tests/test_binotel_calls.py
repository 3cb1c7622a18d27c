"""Binotel calls end to end: form-encoded requests (tests/fixtures/binotel) over HTTP → the real
Temporal server → what lands in the store; and the synchronous apiCallSettings answer."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import Pbxhub, scenario
from temporalio.service import RPCError, RPCStatusCode

from providers.engine import ChannelContext, IncomingRequest, handle_request
from providers.spec import DEFAULT_SPECS_DIR, load_spec

ANSWERED = 4510000101  # in: 901 answers, transfers to 902, who talks last
MISSED = 4510000102  # in: rang 901 and 902, nobody answered
OUTBOUND = 4510000103  # out from 901, answered
OUTBOUND_MISSED = 4510000104  # out from 901, nobody answered
CALLER = "+380671234567"
FORM = "application/x-www-form-urlencoded"
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
    channel = await hub.create_channel(
        "binotel",
        timezone="Europe/Kyiv",
        default_country="UA",
        settings={"allowed_sources": ["127.0.0.1/32"], **settings},
    )
    olena = await hub.create_employee(
        "Олена Коваль", links=[{"channel_id": channel["id"], "extension": "901"}]
    )
    taras = await hub.create_employee(
        "Тарас Шевчук", links=[{"channel_id": channel["id"], "extension": "902"}]
    )
    return channel, olena, taras


async def deliver(hub: Pbxhub, channel: dict[str, Any], bodies: list[tuple[str, bytes]]) -> None:
    for name, body in bodies:
        response = await hub.post_hook(channel, endpoint_of(name), body, content_type=FORM)
        assert response.status_code == 200, f"{name}: {response.status_code} {response.text}"


async def calls_and_missed(hub: Pbxhub) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    calls = await hub.get("/api/v1/calls")
    missed = await hub.get("/api/v1/missed-calls")
    assert calls["total"] == len(calls["items"]) and missed["total"] == len(missed["items"])
    return calls["items"], missed["items"]


async def the_one_contact(hub: Pbxhub) -> dict[str, Any]:
    contacts = await hub.get("/api/v1/contacts")
    assert len(contacts) == 1
    assert contacts[0]["phones"] == [{"phone": CALLER, "raw": "0671234567"}]
    assert contacts[0]["name"] == "Іван Петренко"  # Binotel's own client card (customerData)
    contact: dict[str, Any] = contacts[0]
    return contact


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def at(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


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
    assert at(call["started_at"]) == utc("2024-03-12 08:15:00")  # startTime 1710231300
    assert at(call["answered_at"]) == utc("2024-03-12 08:15:07")  # + waitsec 7
    assert at(call["ended_at"]) == utc("2024-03-12 08:16:50")  # + billsec 103
    assert (call["wait_seconds"], call["talk_seconds"], call["total_seconds"]) == (7, 103, 110)
    assert call["recording_url"] == "http://127.0.0.1:9/binotel/records/4510000101"
    assert call["recording_duration"] == 103
    assert call["incomplete"] is False
    # both legs kept, in order, each with its own talk
    legs = [
        (leg["employee_extension"], leg["answered"], leg["talk_seconds"]) for leg in call["legs"]
    ]
    assert legs == [("901", True, 58), ("902", True, 40)]
    assert at(call["legs"][1]["answered_at"]) == utc("2024-03-12 08:16:10")
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
    sorted((Path(__file__).parent / "fixtures" / "binotel").glob("*/*.txt")),
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
    calls, missed = await calls_and_missed(pbxhub)
    assert missed == []
    assert len(calls) == 1
    contact = await the_one_contact(pbxhub)
    assert_answered_inbound_owned_by_taras(calls[0], taras, contact["id"])
    assert result.call_id == calls[0]["id"]


async def test_an_inbound_call_that_rang_901_and_902_and_was_lost_is_one_missed_call(
    pbxhub: Pbxhub,
) -> None:
    channel, _, _ = await binotel_line(pbxhub)

    await deliver(pbxhub, channel, scenario("binotel", "inbound_missed"))

    result = await pbxhub.call_result(channel, MISSED)
    assert result.outcome == "missed"
    calls, missed = await calls_and_missed(pbxhub)
    assert calls == []
    assert len(missed) == 1
    contact = await the_one_contact(pbxhub)
    lost = missed[0]
    assert (lost["direction"], lost["employee_id"]) == ("in", None)
    assert lost["contact_id"] == contact["id"]  # missed calls always hang on the contact
    assert (lost["wait_seconds"], lost["talk_seconds"], lost["total_seconds"]) == (25, 0, 25)
    assert at(lost["started_at"]) == utc("2024-03-12 09:00:00")
    assert at(lost["ended_at"]) == utc("2024-03-12 09:00:25")
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
    calls, missed = await calls_and_missed(pbxhub)
    assert missed == []
    assert len(calls) == 1
    call = calls[0]
    assert (call["direction"], call["employee_id"], call["employee_extension"]) == (
        "out",
        olena["id"],
        "901",
    )
    assert call["contact_phone"] == CALLER
    assert at(call["started_at"]) == utc("2024-03-12 10:00:00")
    assert at(call["answered_at"]) == utc("2024-03-12 10:00:09")
    assert at(call["ended_at"]) == utc("2024-03-12 10:01:39")
    assert (call["wait_seconds"], call["talk_seconds"], call["total_seconds"]) == (9, 90, 99)
    assert call["recording_url"] == "http://127.0.0.1:9/binotel/records/4510000103"
    assert [(leg["employee_extension"], leg["answered"]) for leg in call["legs"]] == [("901", True)]
    await the_one_contact(pbxhub)


async def test_an_outbound_call_nobody_answered_is_a_missed_outbound_call(pbxhub: Pbxhub) -> None:
    channel, olena, _ = await binotel_line(pbxhub)

    await deliver(pbxhub, channel, scenario("binotel", "outbound_not_answered"))

    result = await pbxhub.call_result(channel, OUTBOUND_MISSED)
    assert result.outcome == "missed"
    calls, missed = await calls_and_missed(pbxhub)
    assert calls == []
    assert len(missed) == 1
    lost = missed[0]
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
    calls, missed = await calls_and_missed(pbxhub)
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
    calls, missed = await calls_and_missed(pbxhub)
    assert missed == []
    assert len(calls) == 1
    assert_answered_inbound_owned_by_taras(calls[0], taras, (await the_one_contact(pbxhub))["id"])


async def test_a_lost_call_with_its_pushes_after_the_final_record_is_one_missed_call(
    pbxhub: Pbxhub,
) -> None:
    channel, _, _ = await binotel_line(pbxhub)
    bodies = scenario("binotel", "inbound_missed")

    await deliver(pbxhub, channel, bodies[::-1])

    result = await pbxhub.call_result(channel, MISSED)
    assert result.outcome == "missed"
    calls, missed = await calls_and_missed(pbxhub)
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
    assert await calls_and_missed(pbxhub) == ([], [])


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

    with pytest.raises(RPCError) as error:
        await pbxhub.workflow(channel, ANSWERED).describe()
    assert error.value.status == RPCStatusCode.NOT_FOUND
    assert await calls_and_missed(pbxhub) == ([], [])


async def test_a_completed_record_without_its_call_id_gets_422_naming_it(pbxhub: Pbxhub) -> None:
    channel, _, _ = await binotel_line(pbxhub)
    _, body = scenario("binotel", "inbound_answered")[-1]
    broken = body.replace(b"callDetails%5BgeneralCallID%5D=4510000101&", b"")

    response = await pbxhub.post_hook(channel, "completed", broken, content_type=FORM)

    assert response.status_code == 422
    assert response.json()["field"] == "callDetails.generalCallID"
    assert await calls_and_missed(pbxhub) == ([], [])
