"""UIS calls end to end: webhooks over HTTP → the real Temporal server → what lands in the store."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import BIN, Pbxhub, running_pbxhub, scenario
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from api.temporal import TemporalGateway
from workflows.call import SEARCH_ATTRIBUTES, CallWorkflow

ANSWERED = 3410000101
LOST = 3410000102
OUTBOUND = 3410000103
UNKNOWN = 3410000104
CALLER = "+79161234567"


async def uis_line(hub: Pbxhub) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A UIS channel with Anna (extension 101, UIS user 28511) and Boris (102, UIS user 28512)."""
    channel = await hub.create_channel("uis", timezone="Europe/Moscow", default_country="RU")
    anna = await hub.create_employee(
        "Anna Smirnova",
        links=[{"channel_id": channel["id"], "extension": "101", "pbx_user_id": "28511"}],
    )
    boris = await hub.create_employee(
        "Boris Ivanov",
        links=[{"channel_id": channel["id"], "extension": "102", "pbx_user_id": "28512"}],
    )
    return channel, anna, boris


async def deliver(hub: Pbxhub, channel: dict[str, Any], bodies: list[tuple[str, bytes]]) -> None:
    for name, body in bodies:
        response = await hub.post_hook(channel, "notify", body)
        assert response.status_code == 200, f"{name}: {response.status_code} {response.text}"


async def calls_and_missed(hub: Pbxhub) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    calls = await hub.get("/api/v1/calls")
    missed = await hub.get("/api/v1/missed-calls")
    assert calls["total"] == len(calls["items"]) and missed["total"] == len(missed["items"])
    return calls["items"], missed["items"]


def moscow(text: str) -> datetime:
    """A Moscow wall-clock time as the aware UTC instant the store must hold (UTC+3, no DST)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC) - timedelta(hours=3)


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
    contacts = await hub.get("/api/v1/contacts")
    assert len(contacts) == 1
    assert contacts[0]["phones"] == [{"phone": CALLER, "raw": "79161234567"}]
    contact: dict[str, Any] = contacts[0]
    return contact


async def test_inbound_call_answered_by_extension_101_with_its_recording(pbxhub: Pbxhub) -> None:
    channel, anna, _ = await uis_line(pbxhub)

    await deliver(pbxhub, channel, scenario("uis", "inbound_answered"))

    result = await pbxhub.call_result(channel, ANSWERED)
    assert result.outcome == "call"
    calls, missed = await calls_and_missed(pbxhub)
    assert missed == []
    contact = await the_one_contact(pbxhub)
    assert len(calls) == 1
    assert_answered_inbound(calls[0], anna, contact["id"])
    assert result.call_id == calls[0]["id"]


async def test_inbound_call_lost_after_ringing_two_employees_is_one_missed_call(
    pbxhub: Pbxhub,
) -> None:
    channel, _, _ = await uis_line(pbxhub)

    await deliver(pbxhub, channel, scenario("uis", "inbound_lost"))

    result = await pbxhub.call_result(channel, LOST)
    assert result.outcome == "missed"
    calls, missed = await calls_and_missed(pbxhub)
    assert calls == []
    assert len(missed) == 1
    contact = await the_one_contact(pbxhub)
    lost = missed[0]
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
    calls, missed = await calls_and_missed(pbxhub)
    assert missed == []
    assert len(calls) == 1
    call = calls[0]
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
    calls, missed = await calls_and_missed(pbxhub)
    assert missed == []
    assert len(calls) == 1
    assert_answered_inbound(calls[0], anna, (await the_one_contact(pbxhub))["id"])


async def test_the_whole_call_delivered_again_after_it_closed_changes_nothing(
    pbxhub: Pbxhub,
) -> None:
    channel, anna, _ = await uis_line(pbxhub)
    bodies = scenario("uis", "inbound_answered")
    await deliver(pbxhub, channel, bodies)
    await pbxhub.call_result(channel, ANSWERED)
    before, _ = await calls_and_missed(pbxhub)

    await deliver(pbxhub, channel, bodies[-1:] + bodies[:-1])
    again = await pbxhub.call_result(channel, ANSWERED)

    assert again.outcome == "amended"
    after, missed = await calls_and_missed(pbxhub)
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
    calls, missed = await calls_and_missed(pbxhub)
    assert missed == []
    assert len(calls) == 1
    assert_answered_inbound(calls[0], anna, (await the_one_contact(pbxhub))["id"])


async def test_a_call_answered_by_an_unknown_employee_is_not_recorded_and_says_why(
    pbxhub: Pbxhub,
) -> None:
    channel, _, _ = await uis_line(pbxhub)

    await deliver(pbxhub, channel, scenario("uis", "unknown_employee"))

    result = await pbxhub.call_result(channel, UNKNOWN)
    assert result.outcome == "skipped"
    assert result.reason is not None and "99999" in result.reason
    assert await calls_and_missed(pbxhub) == ([], [])
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
    await assert_no_workflow(pbxhub, channel, ANSWERED)
    assert await calls_and_missed(pbxhub) == ([], [])


async def test_a_wrong_channel_key_gets_404_and_nothing_is_written(pbxhub: Pbxhub) -> None:
    channel, _, _ = await uis_line(pbxhub)
    wrong = {**channel, "secret_key": channel["secret_key"][:-2] + "xx"}

    for _, body in scenario("uis", "inbound_answered"):
        assert (await pbxhub.post_hook(wrong, "notify", body)).status_code == 404

    await assert_no_workflow(pbxhub, channel, ANSWERED)
    assert await calls_and_missed(pbxhub) == ([], [])


async def test_a_key_of_another_providers_channel_gets_404(pbxhub: Pbxhub) -> None:
    await uis_line(pbxhub)
    other = pbxhub.store.create_channel(provider="binotel", name="not UIS")
    as_uis = {"provider": "uis", "secret_key": other.secret_key, "id": other.id}

    _, body = scenario("uis", "inbound_answered")[0]
    response = await pbxhub.post_hook(as_uis, "notify", body)

    assert response.status_code == 404
    await assert_no_workflow(pbxhub, as_uis, ANSWERED)


async def test_unknown_provider_and_unknown_endpoint_get_404(pbxhub: Pbxhub) -> None:
    channel, _, _ = await uis_line(pbxhub)
    _, body = scenario("uis", "inbound_answered")[0]

    assert (
        await pbxhub.post_hook({**channel, "provider": "nope"}, "notify", body)
    ).status_code == 404
    assert (await pbxhub.post_hook(channel, "nope", body)).status_code == 404
    await assert_no_workflow(pbxhub, channel, ANSWERED)


async def test_a_body_over_the_limit_gets_413(pbxhub: Pbxhub) -> None:
    channel, _, _ = await uis_line(pbxhub)
    huge = b'{"call_session_id": 1, "padding": "' + b"x" * (300 * 1024) + b'"}'

    response = await pbxhub.post_hook(channel, "notify", huge)

    assert response.status_code == 413


async def test_with_temporal_stopped_the_pbx_gets_503_never_a_silent_200(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    # A gateway to a port where no Temporal listens: what the API sees when Temporal is down.
    down = TemporalGateway.for_address(f"127.0.0.1:{free_port()}", namespace="default")
    async with running_pbxhub(temporal_env, tmp_path, temporal=down) as hub:
        channel, _, _ = await uis_line(hub)
        for _, body in scenario("uis", "inbound_answered"):
            response = await hub.post_hook(channel, "notify", body)
            assert response.status_code == 503
        assert await calls_and_missed(hub) == ([], [])


async def test_when_the_temporal_server_goes_away_mid_call_the_pbx_gets_503(
    tmp_path: Path,
) -> None:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"),
        dev_server_log_level="error",
        ui=False,
        search_attributes=SEARCH_ATTRIBUTES,
    )
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
    calls, missed = await calls_and_missed(hub)
    assert missed == []
    assert len(calls) == 1
    call = calls[0]
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


async def assert_no_workflow(hub: Pbxhub, channel: dict[str, Any], session_id: int) -> None:
    with pytest.raises(RPCError) as error:
        await hub.workflow(channel, session_id).describe()
    assert error.value.status == RPCStatusCode.NOT_FOUND


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    # Closed again: nothing listens there, as when Temporal is down.
    return port
