"""UIS calls end to end: webhooks over HTTP → the real Temporal server → what lands in the store."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from conftest import (
    Pbxhub,
    running_pbxhub,
    scenario,
    start_dev_server,
    unreachable_temporal,
    wall_clock,
)
from temporalio.testing import WorkflowEnvironment

from workflows.call import CallWorkflow

ANSWERED = 3410000101
LOST = 3410000102
OUTBOUND = 3410000103
UNKNOWN = 3410000104
CALLER = "+79161234567"


async def uis_line(hub: Pbxhub) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A UIS channel with Anna (extension 101, UIS user 28511) and Boris (102, UIS user 28512)."""
    staff = {
        "Anna Smirnova": {"extension": "101", "pbx_user_id": "28511"},
        "Boris Ivanov": {"extension": "102", "pbx_user_id": "28512"},
    }
    channel, (anna, boris) = await hub.create_line(
        "uis", staff, timezone="Europe/Moscow", default_country="RU"
    )
    return channel, anna, boris


async def deliver(hub: Pbxhub, channel: dict[str, Any], bodies: list[tuple[str, bytes]]) -> None:
    """UIS posts every notification to the one `notify` URL, as JSON."""
    await hub.deliver(channel, bodies)


def moscow(text: str) -> datetime:
    """A Moscow wall-clock time as the aware UTC instant the store must hold (UTC+3, no DST)."""
    return wall_clock(text, 3)


def assert_answered_inbound(call: dict[str, Any], anna: dict[str, Any], contact_id: int) -> None:
    assert call["kind"] == "call"
    assert call["direction"] == "in"
    assert call["session_id"] == str(ANSWERED)
    assert call["employee_id"] == anna["id"]
    assert call["employee_extension"] == "101"
    assert call["employee_pbx_id"] == "28511"
    assert call["contact_id"] == contact_id
    assert call["contact_phone"] == CALLER
    assert call["contact_phone_raw"] == "79161234567"
    assert call["virtual_number"] == "+74950000001"
    assert datetime.fromisoformat(call["started_at"]) == moscow("2024-03-12 10:15:00")
    assert datetime.fromisoformat(call["answered_at"]) == moscow("2024-03-12 10:15:07")
    assert datetime.fromisoformat(call["ended_at"]) == moscow("2024-03-12 10:16:12")
    assert (call["wait_seconds"], call["talk_seconds"], call["total_seconds"]) == (7, 65, 72)
    assert call["recording_url"] == "http://127.0.0.1:9/records/3410000101/1.mp3"
    assert call["recording_duration"] == 65
    assert call["incomplete"] is False
    assert [leg["employee_pbx_id"] for leg in call["legs"]] == ["28511"]
    assert call["extra"]["scenario_name"] == "Основной"


async def the_one_contact(hub: Pbxhub) -> dict[str, Any]:
    return await hub.the_one_contact(CALLER, raw="79161234567")


async def test_inbound_call_answered_by_extension_101_with_its_recording(pbxhub: Pbxhub) -> None:
    channel, anna, _ = await uis_line(pbxhub)

    await deliver(pbxhub, channel, scenario("uis", "inbound_answered"))

    result = await pbxhub.call_result(channel, ANSWERED)
    assert result.outcome == "call"
    call = await pbxhub.the_one_record("call")
    contact = await the_one_contact(pbxhub)
    assert_answered_inbound(call, anna, contact["id"])
    assert result.call_id == call["id"]


async def test_inbound_call_lost_after_ringing_two_employees_is_one_missed_call(
    pbxhub: Pbxhub,
) -> None:
    channel, _, _ = await uis_line(pbxhub)

    await deliver(pbxhub, channel, scenario("uis", "inbound_lost"))

    result = await pbxhub.call_result(channel, LOST)
    assert result.outcome == "missed"
    lost = await pbxhub.the_one_record("missed")
    contact = await the_one_contact(pbxhub)
    assert lost["direction"] == "in"
    assert lost["contact_id"] == contact["id"]  # missed calls always hang on the contact
    assert lost["employee_id"] is None
    assert lost["wait_seconds"] == 31
    assert lost["talk_seconds"] == 0
    assert lost["recording_url"] is None
    assert sorted(leg["employee_pbx_id"] for leg in lost["legs"]) == ["28511", "28512"]
    assert not any(leg["answered"] for leg in lost["legs"])


async def test_outbound_call_answered(pbxhub: Pbxhub) -> None:
    channel, anna, _ = await uis_line(pbxhub)

    await deliver(pbxhub, channel, scenario("uis", "outbound_answered"))

    result = await pbxhub.call_result(channel, OUTBOUND)
    assert result.outcome == "call"
    call = await pbxhub.the_one_record("call")
    assert (call["direction"], call["employee_id"], call["contact_phone"]) == (
        "out",
        anna["id"],
        CALLER,
    )
    assert call["talk_seconds"] == 90
    assert call["recording_url"] is not None
    await the_one_contact(pbxhub)


async def test_every_webhook_of_a_call_delivered_twice_is_recorded_once(pbxhub: Pbxhub) -> None:
    channel, anna, _ = await uis_line(pbxhub)
    bodies = scenario("uis", "inbound_answered")

    await deliver(pbxhub, channel, [item for item in bodies for _ in range(2)])

    result = await pbxhub.call_result(channel, ANSWERED)
    assert result.events == len(bodies)
    call = await pbxhub.the_one_record("call")
    assert_answered_inbound(call, anna, (await the_one_contact(pbxhub))["id"])


async def test_the_whole_call_delivered_again_after_it_closed_changes_nothing(
    pbxhub: Pbxhub,
) -> None:
    channel, anna, _ = await uis_line(pbxhub)
    bodies = scenario("uis", "inbound_answered")
    await deliver(pbxhub, channel, bodies)
    await pbxhub.call_result(channel, ANSWERED)
    before, _ = await pbxhub.calls_and_missed()

    await deliver(pbxhub, channel, bodies[-1:] + bodies[:-1])
    again = await pbxhub.call_result(channel, ANSWERED)

    assert again.outcome == "amended"
    after, missed = await pbxhub.calls_and_missed()
    assert after == before
    assert missed == []
    assert_answered_inbound(after[0], anna, (await the_one_contact(pbxhub))["id"])


async def test_events_shuffled_finish_before_talk_start_and_recording_before_finish(
    pbxhub: Pbxhub,
) -> None:
    channel, anna, _ = await uis_line(pbxhub)
    by_name = dict(scenario("uis", "inbound_answered"))
    shuffled = [
        "06_call_recording.json",
        "05_call_finished.json",
        "03_talk_started.json",
        "01_incoming_call.json",
        "04_talk_finished.json",
        "02_waiting_for_answer.json",
    ]

    await deliver(pbxhub, channel, [(name, by_name[name]) for name in shuffled])

    await pbxhub.call_result(channel, ANSWERED)
    call = await pbxhub.the_one_record("call")
    assert_answered_inbound(call, anna, (await the_one_contact(pbxhub))["id"])


async def test_a_call_answered_by_an_unknown_employee_is_not_recorded_and_says_why(
    pbxhub: Pbxhub,
) -> None:
    channel, _, _ = await uis_line(pbxhub)

    await deliver(pbxhub, channel, scenario("uis", "unknown_employee"))

    result = await pbxhub.call_result(channel, UNKNOWN)
    assert result.outcome == "skipped"
    assert result.reason is not None and "99999" in result.reason
    assert await pbxhub.calls_and_missed() == ([], [])
    assert await pbxhub.get("/api/v1/contacts") == []


async def test_a_body_that_fails_its_schema_gets_422_naming_the_field_and_starts_nothing(
    pbxhub: Pbxhub,
) -> None:
    channel, _, _ = await uis_line(pbxhub)
    body = json.loads(dict(scenario("uis", "inbound_answered"))["05_call_finished.json"])
    body["talk_time_duration"] = "sixty-five"

    response = await pbxhub.post_hook(channel, "notify", body)

    assert response.status_code == 422
    assert response.json()["field"] == "talk_time_duration"
    await pbxhub.assert_no_workflow(channel, ANSWERED)
    assert await pbxhub.calls_and_missed() == ([], [])


async def test_a_wrong_channel_key_gets_404_and_nothing_is_written(pbxhub: Pbxhub) -> None:
    channel, _, _ = await uis_line(pbxhub)
    wrong = {**channel, "secret_key": channel["secret_key"][:-2] + "xx"}

    for _, body in scenario("uis", "inbound_answered"):
        assert (await pbxhub.post_hook(wrong, "notify", body)).status_code == 404

    await pbxhub.assert_no_workflow(channel, ANSWERED)
    assert await pbxhub.calls_and_missed() == ([], [])


async def test_a_key_of_another_providers_channel_gets_404(pbxhub: Pbxhub) -> None:
    await uis_line(pbxhub)
    other = pbxhub.store.create_channel(provider="binotel", name="not UIS")
    as_uis = {"provider": "uis", "secret_key": other.secret_key, "id": other.id}

    _, body = scenario("uis", "inbound_answered")[0]
    response = await pbxhub.post_hook(as_uis, "notify", body)

    assert response.status_code == 404
    await pbxhub.assert_no_workflow(as_uis, ANSWERED)


async def test_unknown_provider_and_unknown_endpoint_get_404(pbxhub: Pbxhub) -> None:
    channel, _, _ = await uis_line(pbxhub)
    _, body = scenario("uis", "inbound_answered")[0]

    assert (
        await pbxhub.post_hook({**channel, "provider": "nope"}, "notify", body)
    ).status_code == 404
    assert (await pbxhub.post_hook(channel, "nope", body)).status_code == 404
    await pbxhub.assert_no_workflow(channel, ANSWERED)


async def test_a_body_over_the_limit_gets_413(pbxhub: Pbxhub) -> None:
    channel, _, _ = await uis_line(pbxhub)
    huge = b'{"call_session_id": 1, "padding": "' + b"x" * (300 * 1024) + b'"}'

    response = await pbxhub.post_hook(channel, "notify", huge)

    assert response.status_code == 413


async def test_with_temporal_stopped_the_pbx_gets_503_never_a_silent_200(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_pbxhub(temporal_env, tmp_path, temporal=unreachable_temporal()) as hub:
        channel, _, _ = await uis_line(hub)
        for _, body in scenario("uis", "inbound_answered"):
            response = await hub.post_hook(channel, "notify", body)
            assert response.status_code == 503
        assert await hub.calls_and_missed() == ([], [])


async def test_when_the_temporal_server_goes_away_mid_call_the_pbx_gets_503(
    tmp_path: Path,
) -> None:
    env = await start_dev_server()
    bodies = scenario("uis", "inbound_answered")
    async with running_pbxhub(env, tmp_path) as hub:
        channel, _, _ = await uis_line(hub)
        assert (await hub.post_hook(channel, "notify", bodies[0][1])).status_code == 200
        await env.shutdown()
        response = await hub.post_hook(channel, "notify", bodies[1][1])
        assert response.status_code == 503


async def test_a_call_whose_finish_never_comes_is_closed_as_incomplete(
    pbxhub_skipping_time: Pbxhub, time_skipping_env: WorkflowEnvironment
) -> None:
    hub = pbxhub_skipping_time
    channel, anna, _ = await uis_line(hub)
    bodies = dict(scenario("uis", "inbound_answered"))
    started = ["01_incoming_call.json", "02_waiting_for_answer.json", "03_talk_started.json"]

    await deliver(hub, channel, [(name, bodies[name]) for name in started])

    # The maximum call length (an hour here) passes in an instant on the time-skipping server.
    await time_skipping_env.sleep(timedelta(hours=1, minutes=1))
    result = await hub.call_result(channel, ANSWERED)
    assert result.outcome == "call"
    assert result.incomplete is True
    call = await hub.the_one_record("call")
    assert call["incomplete"] is True
    assert call["employee_id"] == anna["id"]
    assert call["ended_at"] is None
    assert call["talk_seconds"] is None


async def test_the_state_query_shows_a_call_in_progress(pbxhub: Pbxhub) -> None:
    channel, _, _ = await uis_line(pbxhub)
    bodies = scenario("uis", "inbound_answered")

    await deliver(pbxhub, channel, bodies[:3])

    state = await pbxhub.workflow(channel, ANSWERED).query(CallWorkflow.state)
    assert state.events == 3
    assert state.over is False
    assert state.answered is True
    assert state.contact_phone == CALLER
    assert state.employee_pbx_id == "28511"
    await deliver(pbxhub, channel, bodies[3:])
    await pbxhub.call_result(channel, ANSWERED)


async def test_calls_are_findable_by_phone_employee_and_time(pbxhub: Pbxhub) -> None:
    channel, anna, boris = await uis_line(pbxhub)
    await deliver(pbxhub, channel, scenario("uis", "inbound_answered"))
    await deliver(pbxhub, channel, scenario("uis", "outbound_answered"))
    await pbxhub.call_result(channel, ANSWERED)
    await pbxhub.call_result(channel, OUTBOUND)

    by_phone = await pbxhub.get("/api/v1/calls", phone="8 (916) 123-45-67")
    assert by_phone["total"] == 2
    assert (await pbxhub.get("/api/v1/calls", employee_id=anna["id"]))["total"] == 2
    assert (await pbxhub.get("/api/v1/calls", employee_id=boris["id"]))["total"] == 0
    morning = await pbxhub.get(
        "/api/v1/calls", since="2024-03-12T07:00:00Z", until="2024-03-12T08:00:00Z"
    )
    assert [call["session_id"] for call in morning["items"]] == [str(ANSWERED)]
