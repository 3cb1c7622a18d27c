"""UniTalk calls end to end: "Standard JSON" event handlers (tests/fixtures/unitalk) over HTTP with
the channel's token header → the real Temporal server → what lands in the store."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, Pbxhub, instant, scenario, wall_clock

from providers.engine import ChannelContext, IncomingRequest, handle_request
from providers.spec_loader import DEFAULT_SPECS_DIR, load_spec

ANSWERED = "9a41c2e07b5d4f38"  # in: 101 answers, the call goes on to 102, who talks last
MISSED = "9a41c2e07b5d4f39"  # in: rang 101 and 102, nobody answered
OUTBOUND = "9a41c2e07b5d4f3a"  # out from 101, answered
OUTBOUND_MISSED = "9a41c2e07b5d4f3b"  # out from 101, busy
CALLER = "+380671234567"
SCENARIOS = {
    "inbound_answered": ANSWERED,
    "inbound_missed": MISSED,
    "outbound_answered": OUTBOUND,
    "outbound_not_answered": OUTBOUND_MISSED,
}
TOKEN_HEADER = "X-Pbxhub-Token"
KIND_OF = {
    "call_new": {"call_started"},
    "call_redirect": {"ringing"},
    "call_answer": {"talk_started"},
    "call_end": {"call_finished", "call_lost", "recording_ready"},
}


async def unitalk_line(
    hub: Pbxhub, **settings: Any
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A UniTalk channel (UA, Kyiv) with Olena on line 101 and Taras on 102; pbxhub generates
    the token its handlers send."""
    channel, (olena, taras) = await hub.create_line(
        "unitalk",
        {"Олена Коваль": {"extension": "101"}, "Тарас Шевчук": {"extension": "102"}},
        timezone="Europe/Kyiv",
        default_country="UA",
        settings=settings,
    )
    return channel, olena, taras


def token_of(channel: dict[str, Any]) -> str:
    token: str = channel["settings"]["secrets"]["webhook_token"]
    return token


async def deliver(hub: Pbxhub, channel: dict[str, Any], bodies: list[tuple[str, bytes]]) -> None:
    """Every handler posts to the one URL, with the token in its custom header."""
    token = token_of(channel)
    await hub.deliver(channel, bodies, endpoint="events", sign=lambda _: {TOKEN_HEADER: token})


async def the_one_contact(hub: Pbxhub) -> dict[str, Any]:
    return await hub.the_one_contact(CALLER, raw="380671234567")


def kyiv(text: str) -> datetime:
    """A wall-clock time of the channel (Kyiv, UTC+2 on these March dates) as the instant."""
    return wall_clock(text, 2)


def distinct_events(bodies: list[tuple[str, bytes]]) -> int:
    """How many canonical events the requests of a call map to: what the workflow keeps."""
    spec = load_spec(DEFAULT_SPECS_DIR / "unitalk.yaml")
    channel = ChannelContext(1, "Europe/Kyiv", "UA", secrets={"webhook_token": "t"})
    keys = set()
    for _, body in bodies:
        headers = {"content-type": "application/json", TOKEN_HEADER.lower(): "t"}
        outcome = handle_request(
            spec, "events", IncomingRequest("POST", headers, {}, body), channel
        )
        keys |= {event.idempotency_key for event in outcome.events}
    return len(keys)


def assert_answered_inbound_owned_by_taras(
    call: dict[str, Any], taras: dict[str, Any], contact_id: int, *, since: datetime
) -> None:
    assert call["kind"] == "call"
    assert call["direction"] == "in"
    assert call["session_id"] == ANSWERED
    # CALL_END's last line talked: it owns the call, whatever order the answers came in
    assert (call["employee_id"], call["employee_extension"]) == (taras["id"], "102")
    assert call["contact_id"] == contact_id
    assert (call["contact_phone"], call["contact_phone_raw"]) == (CALLER, "380671234567")
    assert call["virtual_number"] == "+380442246595"
    # date is Kyiv time without a zone: 10:15 in March is 08:15 UTC
    assert instant(call["started_at"]) == kyiv("2024-03-12 10:15:00")
    assert instant(call["ended_at"]) == kyiv("2024-03-12 10:16:50")  # + secondsFullTime
    # answers carry no moment: the first one's arrival
    assert since <= datetime.fromisoformat(call["answered_at"]) <= datetime.now(UTC)
    assert (call["wait_seconds"], call["talk_seconds"], call["total_seconds"]) == (7, 103, 110)
    assert call["recording_url"] == f"http://127.0.0.1:9/unitalk/tracking/rec/{ANSWERED}.mp3"
    assert call["recording_duration"] == 103
    assert call["incomplete"] is False
    legs = sorted((leg["employee_extension"], leg["answered"]) for leg in call["legs"])
    assert legs == [("101", True), ("102", True)]
    extra = call["extra"]
    assert (extra["call.state"], extra["call.dbid"]) == ("ANSWER", "5501001")
    assert extra["call.lastGroupName"] == "Відділ продажів"
    assert "event" not in extra


# --- the fixtures themselves ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    sorted((FIXTURES / "unitalk").glob("*/*.json")),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_every_fixture_is_recognised_as_the_event_its_name_says(path: Path) -> None:
    spec = load_spec(DEFAULT_SPECS_DIR / "unitalk.yaml")
    channel = ChannelContext(1, "Europe/Kyiv", "UA", secrets={"webhook_token": "t"})
    headers = {"content-type": "application/json", TOKEN_HEADER.lower(): "t"}
    outcome = handle_request(
        spec, "events", IncomingRequest("POST", headers, {}, path.read_bytes()), channel
    )
    event = path.stem.split("_", 1)[1]
    assert outcome.event_name == event
    assert {e.session_id for e in outcome.events} == {SCENARIOS[path.parent.name]}
    assert {e.kind for e in outcome.events} <= KIND_OF[event]


# --- the four calls ------------------------------------------------------------------------------


async def test_an_inbound_call_answered_by_101_then_102_is_one_call_owned_by_102(
    pbxhub: Pbxhub,
) -> None:
    channel, _, taras = await unitalk_line(pbxhub)
    bodies = scenario("unitalk", "inbound_answered")
    since = datetime.now(UTC)

    await deliver(pbxhub, channel, bodies)

    result = await pbxhub.call_result(channel, ANSWERED)
    assert result.outcome == "call"
    assert result.events == distinct_events(bodies)
    call = await pbxhub.the_one_record("call")
    contact = await the_one_contact(pbxhub)
    assert_answered_inbound_owned_by_taras(call, taras, contact["id"], since=since)
    assert result.call_id == call["id"]


async def test_an_inbound_call_nobody_answered_is_one_missed_call_naming_the_lines_it_rang(
    pbxhub: Pbxhub,
) -> None:
    channel, _, _ = await unitalk_line(pbxhub)

    await deliver(pbxhub, channel, scenario("unitalk", "inbound_missed"))

    result = await pbxhub.call_result(channel, MISSED)
    assert result.outcome == "missed"
    lost = await pbxhub.the_one_record("missed")
    contact = await the_one_contact(pbxhub)
    assert (lost["direction"], lost["employee_id"]) == ("in", None)
    assert lost["contact_id"] == contact["id"]
    assert (lost["wait_seconds"], lost["talk_seconds"], lost["total_seconds"]) == (25, 0, 25)
    assert instant(lost["started_at"]) == kyiv("2024-03-12 11:00:00")
    assert instant(lost["ended_at"]) == kyiv("2024-03-12 11:00:25")
    assert lost["recording_url"] is None
    assert sorted(leg["employee_extension"] for leg in lost["legs"]) == ["101", "102"]
    assert not any(leg["answered"] for leg in lost["legs"])
    assert lost["extra"]["call.state"] == "NOANSWER"


async def test_an_outbound_call_answered(pbxhub: Pbxhub) -> None:
    channel, olena, _ = await unitalk_line(pbxhub)

    await deliver(pbxhub, channel, scenario("unitalk", "outbound_answered"))

    result = await pbxhub.call_result(channel, OUTBOUND)
    assert result.outcome == "call"
    call = await pbxhub.the_one_record("call")
    # outgoing: `from` is the caller's line, to[0] the client
    assert (call["direction"], call["employee_id"], call["employee_extension"]) == (
        "out",
        olena["id"],
        "101",
    )
    assert call["contact_phone"] == CALLER
    assert instant(call["started_at"]) == kyiv("2024-03-12 12:00:00")
    assert instant(call["ended_at"]) == kyiv("2024-03-12 12:01:39")
    assert (call["wait_seconds"], call["talk_seconds"], call["total_seconds"]) == (9, 90, 99)
    assert call["recording_url"] == f"http://127.0.0.1:9/unitalk/tracking/rec/{OUTBOUND}.mp3"
    await the_one_contact(pbxhub)


async def test_an_outbound_call_to_a_busy_number_is_a_missed_outbound_call(pbxhub: Pbxhub) -> None:
    channel, olena, _ = await unitalk_line(pbxhub)

    await deliver(pbxhub, channel, scenario("unitalk", "outbound_not_answered"))

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
    assert instant(lost["ended_at"]) == kyiv("2024-03-12 12:30:30")
    assert lost["recording_url"] is None
    assert lost["extra"]["call.state"] == "BUSY"
    await the_one_contact(pbxhub)


async def test_an_internal_call_is_kept_as_skipped_with_its_reason_not_as_a_record(
    pbxhub: Pbxhub,
) -> None:
    channel, _, _ = await unitalk_line(pbxhub)
    end = {
        "event": "CALL_END",
        "call": {
            "id": "9a41c2e07b5d4f41",
            "from": "101",
            "to": ["102"],
            "direction": "INNER",
            "date": "2024-03-12 13:00:00",
            "secondsFullTime": 40,
            "secondsTalk": 36,
            "state": "ANSWER",
        },
    }

    response = await pbxhub.post_hook(
        channel, "events", end, headers={TOKEN_HEADER: token_of(channel)}
    )

    assert response.status_code == 200
    result = await pbxhub.call_result(channel, "9a41c2e07b5d4f41")
    assert result.outcome == "skipped"
    assert result.reason == "internal call between lines (direction INNER)"
    assert await pbxhub.calls_and_missed() == ([], [])


async def test_with_only_the_call_end_handler_the_call_is_still_written_whole(
    pbxhub: Pbxhub,
) -> None:
    channel, _, taras = await unitalk_line(pbxhub)
    end = scenario("unitalk", "inbound_answered")[-1]

    await deliver(pbxhub, channel, [end])

    await pbxhub.call_result(channel, ANSWERED)
    call = await pbxhub.the_one_record("call")
    assert (call["employee_id"], call["employee_extension"]) == (taras["id"], "102")
    # without CALL_ANSWER, the answer is the end less the talk
    assert instant(call["answered_at"]) == kyiv("2024-03-12 10:15:07")
    assert (call["wait_seconds"], call["talk_seconds"], call["total_seconds"]) == (7, 103, 110)
    assert call["recording_url"] == f"http://127.0.0.1:9/unitalk/tracking/rec/{ANSWERED}.mp3"


# --- duplicates and disorder -------------------------------------------------------------------


async def test_every_event_of_every_call_delivered_twice_is_recorded_once(
    pbxhub: Pbxhub,
) -> None:
    channel, _, taras = await unitalk_line(pbxhub)
    everything = [item for name in SCENARIOS for item in scenario("unitalk", name)]
    since = datetime.now(UTC)

    await deliver(pbxhub, channel, [item for item in everything for _ in range(2)])

    for name, session in SCENARIOS.items():
        result = await pbxhub.call_result(channel, session)
        assert result.events == distinct_events(scenario("unitalk", name)), name
    calls, missed = await pbxhub.calls_and_missed()
    assert sorted(c["session_id"] for c in calls) == sorted([ANSWERED, OUTBOUND])
    assert sorted(m["session_id"] for m in missed) == sorted([MISSED, OUTBOUND_MISSED])
    contact = await the_one_contact(pbxhub)
    answered = next(c for c in calls if c["session_id"] == ANSWERED)
    assert_answered_inbound_owned_by_taras(answered, taras, contact["id"], since=since)


@pytest.mark.parametrize("seed", [2, 7])
async def test_the_answered_call_shuffled_is_still_one_call_owned_by_102(
    pbxhub: Pbxhub, seed: int
) -> None:
    channel, _, taras = await unitalk_line(pbxhub)
    bodies = scenario("unitalk", "inbound_answered")
    random.Random(seed).shuffle(bodies)
    since = datetime.now(UTC)

    await deliver(pbxhub, channel, bodies)

    await pbxhub.call_result(channel, ANSWERED)
    call = await pbxhub.the_one_record("call")
    contact = await the_one_contact(pbxhub)
    assert_answered_inbound_owned_by_taras(call, taras, contact["id"], since=since)


async def test_the_two_answers_in_reverse_order_still_leave_the_call_to_102(
    pbxhub: Pbxhub,
) -> None:
    channel, _, taras = await unitalk_line(pbxhub)
    new, redirect_101, answer_101, redirect_102, answer_102, end = scenario(
        "unitalk", "inbound_answered"
    )
    since = datetime.now(UTC)

    # 102's answer reaches pbxhub before 101's: only CALL_END says who talked last
    await deliver(pbxhub, channel, [new, redirect_102, answer_102, redirect_101, answer_101, end])

    await pbxhub.call_result(channel, ANSWERED)
    call = await pbxhub.the_one_record("call")
    assert_answered_inbound_owned_by_taras(
        call, taras, (await the_one_contact(pbxhub))["id"], since=since
    )


# --- the token header ------------------------------------------------------------------------


async def test_the_channel_is_created_with_a_token_for_the_handlers_header(pbxhub: Pbxhub) -> None:
    first, _, _ = await unitalk_line(pbxhub)
    second = await pbxhub.create_channel("unitalk", timezone="Europe/Kyiv", default_country="UA")

    assert len(token_of(first)) == 32
    assert token_of(first) != token_of(second)
    assert first["webhook_urls"]["events"].endswith(f"/hooks/unitalk/{first['secret_key']}/events")


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({TOKEN_HEADER: "a-guess"}, 401)],
    ids=["no token", "a wrong token"],
)
async def test_a_handler_without_the_channels_token_is_refused_and_starts_nothing(
    pbxhub: Pbxhub, headers: dict[str, str], status: int
) -> None:
    channel, _, _ = await unitalk_line(pbxhub)

    for name, body in scenario("unitalk", "inbound_answered"):
        response = await pbxhub.post_hook(channel, "events", body, headers=headers)
        assert response.status_code == status, name
        assert token_of(channel) not in response.text

    await pbxhub.assert_no_workflow(channel, ANSWERED)
    assert await pbxhub.calls_and_missed() == ([], [])


async def test_a_call_end_without_its_talk_seconds_gets_422_naming_the_field(
    pbxhub: Pbxhub,
) -> None:
    channel, _, _ = await unitalk_line(pbxhub)
    _, body = scenario("unitalk", "inbound_answered")[-1]
    broken = json.loads(body)
    del broken["call"]["secondsTalk"]

    response = await pbxhub.post_hook(
        channel, "events", broken, headers={TOKEN_HEADER: token_of(channel)}
    )

    assert response.status_code == 422
    assert response.json()["field"] == "call.secondsTalk"
    await pbxhub.assert_no_workflow(channel, ANSWERED)
