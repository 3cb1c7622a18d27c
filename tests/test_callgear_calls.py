"""CallGear calls end to end: notifications (tests/fixtures/callgear) over HTTP → the real Temporal
server → what lands in the store. CallGear's spec extends UIS's: the same eight notifications
under English names, so these calls also show what the shared mapping does for a transfer."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, Pbxhub, instant, scenario, wall_clock

from providers.engine import ChannelContext, IncomingRequest, handle_request
from providers.spec_loader import DEFAULT_SPECS_DIR, load_spec

ANSWERED = 5610000101  # in: Aisha answers, transfers to Omar, who talks last
MISSED = 5610000102  # in: rang Aisha and Omar, lost
OUTBOUND = 5610000103  # out from Aisha's mobile, answered
OUTBOUND_MISSED = 5610000104  # out from Aisha, nobody answered
CALLER = "+971501234567"
SCENARIOS = {
    "inbound_answered": ANSWERED,
    "inbound_missed": MISSED,
    "outbound_answered": OUTBOUND,
    "outbound_not_answered": OUTBOUND_MISSED,
}
DUBAI = ChannelContext(channel_id=1, timezone="Asia/Dubai", country="AE")


async def callgear_line(hub: Pbxhub) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A CallGear channel of a Dubai account, with Aisha (CallGear user 38511, extension 101)
    and Omar (38512, 102)."""
    channel, (aisha, omar) = await hub.create_line(
        "callgear",
        {
            "Aisha Rahman": {"extension": "101", "pbx_user_id": "38511"},
            "Omar Haddad": {"extension": "102", "pbx_user_id": "38512"},
        },
        timezone="Asia/Dubai",
        default_country="AE",
    )
    return channel, aisha, omar


async def deliver(hub: Pbxhub, channel: dict[str, Any], bodies: list[tuple[str, bytes]]) -> None:
    """CallGear, like UIS, posts every notification to the one `notify` URL, as JSON."""
    await hub.deliver(channel, bodies)


async def the_one_contact(hub: Pbxhub) -> dict[str, Any]:
    return await hub.the_one_contact(CALLER, raw="971501234567", name="Khalid Al Mansoori")


def dubai(text: str) -> datetime:
    """A Dubai wall-clock time as the UTC instant the store must hold (UTC+4, no DST)."""
    return wall_clock(text, 4)


def assert_answered_inbound_owned_by_omar(
    call: dict[str, Any], omar: dict[str, Any], contact_id: int
) -> None:
    assert call["kind"] == "call"
    assert (call["direction"], call["session_id"]) == ("in", str(ANSWERED))
    assert (call["employee_id"], call["employee_pbx_id"]) == (omar["id"], "38512")
    assert call["contact_id"] == contact_id
    assert (call["contact_phone"], call["virtual_number"]) == (CALLER, "+97143334455")
    assert instant(call["started_at"]) == dubai("2024-03-12 10:15:00.250000")
    assert instant(call["answered_at"]) == dubai("2024-03-12 10:15:07")
    assert instant(call["ended_at"]) == dubai("2024-03-12 10:16:50")
    assert (call["wait_seconds"], call["talk_seconds"], call["total_seconds"]) == (7, 103, 110)
    assert call["recording_url"] == "http://127.0.0.1:9/callgear/records/5610000101/1.mp3"
    assert call["recording_duration"] == 103
    assert call["tags"] == ["VIP"]
    assert call["incomplete"] is False
    legs = [(leg["employee_pbx_id"], leg["answered"], leg["talk_seconds"]) for leg in call["legs"]]
    assert legs == [("38511", True, 58), ("38512", True, 40)]
    assert call["extra"]["scenario_name"] == "Main"


# --- the fixtures themselves ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    sorted((FIXTURES / "callgear").glob("*/*.json")),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_every_fixture_is_recognised_as_the_notification_its_name_says(path: Path) -> None:
    spec = load_spec(DEFAULT_SPECS_DIR / "callgear.yaml")
    request = IncomingRequest("POST", {"content-type": "application/json"}, {}, path.read_bytes())
    outcome = handle_request(spec, "notify", request, DUBAI)
    assert outcome.event_name == path.stem.split("_", 1)[1]
    assert {event.session_id for event in outcome.events} == {str(SCENARIOS[path.parent.name])}
    assert json.loads(outcome.reply.body) == {"ok": True, "event": outcome.event_name}


def test_callgear_is_uis_under_its_own_name() -> None:
    callgear = load_spec(DEFAULT_SPECS_DIR / "callgear.yaml")
    uis = load_spec(DEFAULT_SPECS_DIR / "uis.yaml")
    assert callgear.extends == "uis"
    assert set(callgear.endpoints) == set(uis.endpoints)
    notify = callgear.endpoints["notify"]
    assert [e.name for e in notify.events] == [e.name for e in uis.endpoints["notify"].events]
    assert [e.schema_name for e in notify.events] == [
        e.schema_name for e in uis.endpoints["notify"].events
    ]
    by_name = {e.name: e.description for e in notify.events}
    assert by_name["incoming_call"].startswith("Inbound call on a virtual phone number")
    assert by_name["call_recording"].startswith("Call recording completed")


# --- the four calls ------------------------------------------------------------------------------


async def test_an_inbound_call_transferred_from_aisha_to_omar_is_one_call_owned_by_omar(
    pbxhub: Pbxhub,
) -> None:
    channel, _, omar = await callgear_line(pbxhub)
    bodies = scenario("callgear", "inbound_answered")

    await deliver(pbxhub, channel, bodies)

    result = await pbxhub.call_result(channel, ANSWERED)
    assert (result.outcome, result.events) == ("call", len(bodies))
    call = await pbxhub.the_one_record("call")
    contact = await the_one_contact(pbxhub)
    assert_answered_inbound_owned_by_omar(call, omar, contact["id"])


async def test_an_inbound_call_that_rang_aisha_and_omar_and_was_lost_is_one_missed_call(
    pbxhub: Pbxhub,
) -> None:
    channel, _, _ = await callgear_line(pbxhub)

    await deliver(pbxhub, channel, scenario("callgear", "inbound_missed"))

    result = await pbxhub.call_result(channel, MISSED)
    assert result.outcome == "missed"
    lost = await pbxhub.the_one_record("missed")
    contact = await the_one_contact(pbxhub)
    assert (lost["direction"], lost["employee_id"], lost["contact_id"]) == (
        "in",
        None,
        contact["id"],
    )
    assert (lost["wait_seconds"], lost["talk_seconds"], lost["total_seconds"]) == (31, 0, 31)
    assert instant(lost["ended_at"]) == dubai("2024-03-12 11:00:31")
    assert sorted(leg["employee_pbx_id"] for leg in lost["legs"]) == ["38511", "38512"]
    assert not any(leg["answered"] for leg in lost["legs"])


async def test_an_outbound_call_from_a_mobile_answered(pbxhub: Pbxhub) -> None:
    channel, aisha, _ = await callgear_line(pbxhub)

    await deliver(pbxhub, channel, scenario("callgear", "outbound_answered"))

    result = await pbxhub.call_result(channel, OUTBOUND)
    assert result.outcome == "call"
    call = await pbxhub.the_one_record("call")
    assert (call["direction"], call["employee_id"], call["contact_phone"]) == (
        "out",
        aisha["id"],
        CALLER,
    )
    assert instant(call["started_at"]) == dubai("2024-03-12 12:00:00")
    assert (call["wait_seconds"], call["talk_seconds"], call["total_seconds"]) == (9, 90, 99)
    assert call["recording_url"] == "http://127.0.0.1:9/callgear/records/5610000103/1.mp3"
    await the_one_contact(pbxhub)


async def test_an_outbound_call_nobody_answered_is_a_missed_outbound_call(pbxhub: Pbxhub) -> None:
    channel, aisha, _ = await callgear_line(pbxhub)

    await deliver(pbxhub, channel, scenario("callgear", "outbound_not_answered"))

    result = await pbxhub.call_result(channel, OUTBOUND_MISSED)
    assert result.outcome == "missed"
    lost = await pbxhub.the_one_record("missed")
    assert (lost["direction"], lost["employee_id"], lost["employee_pbx_id"]) == (
        "out",
        aisha["id"],
        "38511",
    )
    assert (lost["wait_seconds"], lost["talk_seconds"], lost["total_seconds"]) == (30, 0, 30)
    assert lost["recording_url"] is None
    await the_one_contact(pbxhub)


# --- duplicates and disorder -------------------------------------------------------------------


async def test_every_notification_of_every_call_delivered_twice_is_recorded_once(
    pbxhub: Pbxhub,
) -> None:
    channel, _, omar = await callgear_line(pbxhub)
    everything = [item for name in SCENARIOS for item in scenario("callgear", name)]

    await deliver(pbxhub, channel, [item for item in everything for _ in range(2)])

    for name, session_id in SCENARIOS.items():
        result = await pbxhub.call_result(channel, session_id)
        assert result.events == len(scenario("callgear", name)), name
    calls, missed = await pbxhub.calls_and_missed()
    assert sorted(c["session_id"] for c in calls) == [str(ANSWERED), str(OUTBOUND)]
    assert sorted(m["session_id"] for m in missed) == [str(MISSED), str(OUTBOUND_MISSED)]
    contact = await the_one_contact(pbxhub)
    answered = next(c for c in calls if c["session_id"] == str(ANSWERED))
    assert_answered_inbound_owned_by_omar(answered, omar, contact["id"])


async def test_shuffled_the_finish_and_the_recording_first_the_call_is_still_omars(
    pbxhub: Pbxhub,
) -> None:
    channel, _, omar = await callgear_line(pbxhub)
    by_name = dict(scenario("callgear", "inbound_answered"))
    shuffled = [
        "09_call_recording.json",
        "08_call_finished.json",
        "06_talk_started.json",
        "01_incoming_call.json",
        "07_talk_finished.json",
        "03_talk_started.json",
        "05_talk_finished.json",
        "04_waiting_for_answer.json",
        "02_waiting_for_answer.json",
    ]
    assert sorted(shuffled) == sorted(by_name)

    await deliver(pbxhub, channel, [(name, by_name[name]) for name in shuffled])

    await pbxhub.call_result(channel, ANSWERED)
    call = await pbxhub.the_one_record("call")
    assert_answered_inbound_owned_by_omar(call, omar, (await the_one_contact(pbxhub))["id"])
