"""The CRM telephony API (Planfix-compatible) end to end: a simulated PBX sends whole calls over
HTTP, the real Temporal server runs them, and each test asserts what lands in the store once;
pbxhub's makeCall and setup reach the simulated PBX over real HTTP."""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from conftest import Gate, Pbxhub, running_pbxhub
from pbx_simulator import as_json, pbx_simulator, scenario, send
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from crm import Store, StoredCall
from workflows.call import CallWorkflow

PROVIDER = "planfix_api"
TOKEN = "303cb962ac59075b964b07152d234b70"  # the fixtures' planfix_token
PBX_TOKEN = "202cb962ac59075b964b07152d234b70"
CALLER = "+79161234567"
LINE = "+74950000001"
INVALID_TOKEN = {"error": "Invalid token"}
INVALID_PARAMETERS = {"error": "Invalid parameters"}


async def planfix_line(hub: Pbxhub, **settings: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A channel with the fixtures' key, and Anna (101), Boris (102) and Vera (103)."""
    secrets = {"planfix_token": TOKEN, **settings.pop("secrets", {})}
    staff = {
        "Anna": {"extension": "101"},
        "Boris": {"extension": "102"},
        "Vera": {"extension": "103"},
    }
    return await hub.create_line(PROVIDER, staff, settings={"secrets": secrets, **settings})


def pbx_host_port(url: str) -> str:
    """The PBX simulator's host:port, as a channel's allowed_pbx_hosts lists it."""
    return urlsplit(url).netloc


def hook(channel: dict[str, Any], endpoint: str = "api") -> str:
    return f"/hooks/{PROVIDER}/{channel['secret_key']}/{endpoint}"


async def deliver(
    hub: Pbxhub, channel: dict[str, Any], items: list[tuple[str, bytes, str]], endpoint: str = "api"
) -> None:
    """The PBX posts each command to `endpoint` (`ats` for makeCall's own calls), and pbxhub
    answers it with nothing. A body's content type goes by its file name, as in `scenario`."""
    requests = [(name, body) for name, body, _ in items]
    await hub.deliver(channel, requests, endpoint=endpoint, reply="")


def legs(call: dict[str, Any]) -> list[tuple[str, bool, bool]]:
    """(extension, answered, closed) per leg, in the order the legs began."""
    return [(leg["employee_extension"], leg["answered"], leg["closed"]) for leg in call["legs"]]


async def eventually(check: Callable[[], Awaitable[Any]], seconds: float = 15) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = await check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.1)


# --- calls --------------------------------------------------------------------------------------


async def test_inbound_answered_with_the_link_on_completed(pbxhub: Pbxhub) -> None:
    channel, (anna, _, _) = await planfix_line(pbxhub)

    await deliver(pbxhub, channel, scenario("inbound_answered"))

    result = await pbxhub.call_result(channel, "pf-1001")
    assert result.outcome == "call"
    call = await pbxhub.the_one_record("call")
    assert (call["kind"], call["direction"], call["session_id"]) == ("call", "in", "pf-1001")
    assert (call["employee_id"], call["employee_extension"]) == (anna["id"], "101")
    assert (call["contact_phone"], call["contact_phone_raw"]) == (CALLER, "79161234567")
    assert call["virtual_number"] == LINE
    assert call["talk_seconds"] == 65
    assert call["recording_url"] == "http://127.0.0.1:9/records/pf-1001.mp3"
    # data_<field> fills the analytics field <field>; the key and the command are not kept
    assert call["extra"] == {"utm_source": "yandex", "utm_campaign": "spring"}
    assert legs(call) == [("101", True, False)]
    # no time in the protocol: the times are when pbxhub received the commands, in order
    assert call["started_at"] <= call["answered_at"] <= call["ended_at"]
    [contact] = await pbxhub.get("/api/v1/contacts")
    assert call["contact_id"] == contact["id"]


async def test_the_link_arrives_later_by_record_and_the_call_waits_for_it(pbxhub: Pbxhub) -> None:
    # The PBX's link is what this channel keeps: the test is about the wait, not the download.
    channel, (anna, _, _) = await planfix_line(pbxhub, recording_storage="keep_link")
    *call_events, record = scenario("inbound_record_later")

    await deliver(pbxhub, channel, call_events)
    # the call is written while its workflow still waits for the promised recording
    written = await eventually(
        lambda: asyncio.to_thread(pbxhub.store.get_call_by_session, channel["id"], "pf-1002")
    )
    assert written is not None and written.recording_url is None
    await deliver(pbxhub, channel, [record])

    result = await pbxhub.call_result(channel, "pf-1002")
    assert result.outcome == "call"
    assert result.recording_url == "http://127.0.0.1:9/records/pf-1002.mp3"
    call = await pbxhub.the_one_record("call")
    assert call["employee_id"] == anna["id"]
    assert call["recording_url"] == "http://127.0.0.1:9/records/pf-1002.mp3"
    # is_temp=1 is read as the event's recording_link_once (fetched at once: test_recordings)
    assert call["extra"] == {}


class RulesHeldStore(Store):
    """A real store whose read of a written call (the first thing the channel's rules do) waits
    while its gate is closed, so that a test can deliver a webhook mid-write."""

    gate = Gate()

    def get_call(self, call_id: int) -> StoredCall | None:
        self.gate.pass_through()
        return super().get_call(call_id)


async def test_the_recording_arrives_while_the_call_is_being_written_and_is_written_too(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    gate = RulesHeldStore.gate
    gate.close()
    try:
        async with running_pbxhub(temporal_env, tmp_path, store_class=RulesHeldStore) as hub:
            channel, (anna, _, _) = await planfix_line(hub, recording_storage="keep_link")
            *call_events, record = scenario("inbound_record_later")
            await deliver(hub, channel, call_events)
            # the call is saved and its rules are running: now the record comes
            assert await gate.wait_reached()
            await deliver(hub, channel, [record])
            workflow = hub.workflow(channel, "pf-1002")
            assert await eventually(lambda: _events_seen(workflow, 4)), (
                "the record did not reach the call's workflow"
            )
            gate.open()

            result = await hub.call_result(channel, "pf-1002")
            assert result.recording_url == "http://127.0.0.1:9/records/pf-1002.mp3"
            call = await hub.the_one_record("call")
            assert call["employee_id"] == anna["id"]
            assert call["recording_url"] == "http://127.0.0.1:9/records/pf-1002.mp3"
    finally:
        gate.open()


async def _events_seen(workflow: WorkflowHandle[Any, Any], count: int) -> bool:
    state = await workflow.query(CallWorkflow.state)
    return bool(state.events == count)


async def test_is_recorded_0_does_not_wait_for_a_recording(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_pbxhub(temporal_env, tmp_path, recording_wait_seconds=600) as hub:
        channel, _ = await planfix_line(hub)
        started = time.monotonic()

        await deliver(hub, channel, scenario("inbound_not_recorded"))

        result = await asyncio.wait_for(hub.call_result(channel, "pf-1003"), 30)
        assert time.monotonic() - started < 30  # not the 600 s recording wait
        assert (result.outcome, result.recording_url) == ("call", None)
        call = await hub.the_one_record("call")
        assert call["recording_url"] is None


async def test_simultaneous_group_call_of_three_is_one_call_owned_by_the_talker(
    pbxhub: Pbxhub,
) -> None:
    channel, (_, boris, _) = await planfix_line(pbxhub)

    await deliver(pbxhub, channel, scenario("group_simultaneous"))

    await assert_simultaneous_group_call(pbxhub, channel, boris)


async def assert_simultaneous_group_call(
    hub: Pbxhub, channel: dict[str, Any], boris: dict[str, Any]
) -> None:
    result = await hub.call_result(channel, "pf-2001")
    assert result.outcome == "call"
    call = await hub.the_one_record("call")  # the Cancelled legs record nothing
    assert (call["employee_id"], call["employee_extension"]) == (boris["id"], "102")
    assert call["talk_seconds"] == 95
    assert call["recording_url"] == "http://127.0.0.1:9/records/pf-2001.mp3"
    assert sorted(legs(call)) == [("101", False, True), ("102", True, False), ("103", False, True)]
    assert len(await hub.get("/api/v1/contacts")) == 1


async def test_sequential_group_call_is_one_call_with_every_leg(pbxhub: Pbxhub) -> None:
    channel, (_, _, vera) = await planfix_line(pbxhub)

    await deliver(pbxhub, channel, scenario("group_sequential"))

    result = await pbxhub.call_result(channel, "pf-2002")
    assert result.outcome == "call"
    call = await pbxhub.the_one_record("call")
    assert (call["employee_id"], call["employee_extension"]) == (vera["id"], "103")
    assert legs(call) == [("101", False, True), ("102", False, True), ("103", True, False)]
    assert call["talk_seconds"] == 50


async def test_inbound_missed_after_two_legs_is_one_missed_call(pbxhub: Pbxhub) -> None:
    channel, _ = await planfix_line(pbxhub)

    await deliver(pbxhub, channel, scenario("inbound_missed"))

    result = await pbxhub.call_result(channel, "pf-3001")
    assert result.outcome == "missed"
    lost = await pbxhub.the_one_record("missed")
    [contact] = await pbxhub.get("/api/v1/contacts")
    assert (lost["direction"], lost["contact_id"], lost["employee_id"]) == (
        "in",
        contact["id"],
        None,
    )
    assert lost["talk_seconds"] == 0
    assert lost["wait_seconds"] == 31
    assert sorted(leg["employee_extension"] for leg in lost["legs"]) == ["101", "102"]
    assert not any(leg["answered"] for leg in lost["legs"])


async def test_outgoing_success(pbxhub: Pbxhub) -> None:
    channel, (_, boris, _) = await planfix_line(pbxhub)

    await deliver(pbxhub, channel, scenario("outgoing_answered"), endpoint="ats")

    result = await pbxhub.call_result(channel, "pf-4001")
    assert result.outcome == "call"
    call = await pbxhub.the_one_record("call")
    assert (call["direction"], call["employee_id"], call["contact_phone"]) == (
        "out",
        boris["id"],
        CALLER,
    )
    assert call["talk_seconds"] == 90
    assert call["recording_url"] == "http://127.0.0.1:9/records/pf-4001.mp3"


async def test_outgoing_busy_is_a_missed_outgoing_call(pbxhub: Pbxhub) -> None:
    channel, (_, boris, _) = await planfix_line(pbxhub)

    await deliver(pbxhub, channel, scenario("outgoing_busy"))

    result = await pbxhub.call_result(channel, "pf-4002")
    assert result.outcome == "missed"
    lost = await pbxhub.the_one_record("missed")
    assert (lost["direction"], lost["employee_id"], lost["contact_phone"]) == (
        "out",
        boris["id"],
        CALLER,
    )
    assert lost["talk_seconds"] == 0


async def test_every_command_twice_and_shuffled_is_recorded_once(pbxhub: Pbxhub) -> None:
    channel, (_, boris, _) = await planfix_line(pbxhub)
    items = scenario("group_simultaneous") * 2
    random.Random(4).shuffle(items)
    assert items[0][0] != "01_incoming.txt"  # the finish may well come before a ring

    await deliver(pbxhub, channel, items)

    await assert_simultaneous_group_call(pbxhub, channel, boris)
    result = await pbxhub.call_result(channel, "pf-2001")
    assert result.events == len(scenario("group_simultaneous")) + 1  # + the recording


# --- FreePBX ------------------------------------------------------------------------------------


async def test_freepbx_callmissednotify_with_completed_missed_is_one_missed_call(
    pbxhub: Pbxhub,
) -> None:
    channel, _ = await planfix_line(pbxhub, missed_calls_only_from_special_request=True)

    await deliver(pbxhub, channel, scenario("freepbx_missed_notify"))

    result = await pbxhub.call_result(channel, "1700000000.77")
    assert result.outcome == "missed"
    lost = await pbxhub.the_one_record("missed")
    assert lost["contact_phone"] == CALLER
    assert [leg["employee_extension"] for leg in lost["legs"]] == ["101"]


async def test_freepbx_setting_completed_missed_alone_records_nothing(pbxhub: Pbxhub) -> None:
    channel, _ = await planfix_line(pbxhub, missed_calls_only_from_special_request=True)

    await deliver(pbxhub, channel, scenario("freepbx_missed_notify")[:2])

    result = await pbxhub.call_result(channel, "1700000000.77")
    assert result.outcome == "skipped"
    assert "callMissedNotify" in (result.reason or "")
    assert await pbxhub.calls_and_missed() == ([], [])


async def test_freepbx_callinforespnum(pbxhub: Pbxhub) -> None:
    channel, (anna, _, _) = await planfix_line(pbxhub, forward_to_responsible="on")
    contact, _ = pbxhub.store.find_or_create_contact(phone=CALLER, name="Иван Петров")
    pbxhub.store.set_contact_responsibles(contact.id, [anna["id"]])

    async def ask(int_num: str, ext_num: str) -> Any:
        body = {"event": "callInfoRespNum", "uniqueId": "1.1", "intNum": int_num, "extNum": ext_num}
        response = await pbxhub.http.post(hook(channel), json=body)
        assert response.status_code == 200
        return response.json()

    assert await ask("200", "79161234567") == {"responsibleNumbers": ["101"]}
    assert await ask("101", "79161234567") == {"error": "no persons responsible"}
    assert await ask("200", "79990000000") == {"error": "no persons responsible"}


# --- contact, ping, refusals --------------------------------------------------------------------


async def test_contact_for_a_known_and_an_unknown_number(pbxhub: Pbxhub) -> None:
    channel, (anna, _, _) = await planfix_line(pbxhub, forward_to_responsible="on")
    contact, _ = pbxhub.store.find_or_create_contact(phone=CALLER, name="Иван Петров")
    pbxhub.store.set_contact_responsibles(contact.id, [anna["id"]])

    known = await send(
        pbxhub.http,
        hook(channel),
        {"cmd": "contact", "phone": "79161234567", "callid": "c-1", "planfix_token": TOKEN},
    )
    unknown = await send(
        pbxhub.http, hook(channel), {"cmd": "contact", "phone": "79990000000", "token": TOKEN}
    )

    assert (known.status_code, known.json()) == (
        200,
        {"contact_name": "Иван Петров", "responsible": 101},
    )
    assert (unknown.status_code, unknown.json()) == (200, {})
    assert len(await pbxhub.get("/api/v1/contacts")) == 1  # a question creates nothing
    assert await pbxhub.calls_and_missed() == ([], [])


async def test_ping_answers_the_pbx_key_and_address(pbxhub: Pbxhub) -> None:
    channel, _ = await planfix_line(
        pbxhub, pbx_url="https://pbx.example.com/planfix_api.php", secrets={"pbx_token": PBX_TOKEN}
    )

    response = await send(
        pbxhub.http, hook(channel, "ats"), {"cmd": "ping", "planfix_token": TOKEN}
    )

    assert response.status_code == 200
    assert response.json() == {
        "pbxToken": PBX_TOKEN,
        "pbxUrl": "https://pbx.example.com/planfix_api.php",
    }


async def test_a_wrong_token_is_401_and_nothing_happens(pbxhub: Pbxhub) -> None:
    channel, _ = await planfix_line(pbxhub)

    for name, body, content_type in scenario("inbound_answered"):
        wrong = body.replace(TOKEN.encode(), b"0" * 32)
        response = await send(pbxhub.http, hook(channel), wrong, content_type)
        assert (response.status_code, as_json(response)) == (401, INVALID_TOKEN), name

    await pbxhub.assert_no_workflow(channel, "pf-1001")
    assert await pbxhub.calls_and_missed() == ([], [])
    assert await pbxhub.get("/api/v1/contacts") == []


async def test_an_event_without_callid_is_400_and_nothing_happens(pbxhub: Pbxhub) -> None:
    channel, _ = await planfix_line(pbxhub)
    [(_, body, content_type), *_] = scenario("inbound_answered")
    without = re.sub(rb"&callid=[^&]*", b"", body)
    assert b"callid" not in without

    response = await send(pbxhub.http, hook(channel), without, content_type)

    assert (response.status_code, as_json(response)) == (400, INVALID_PARAMETERS)
    assert await pbxhub.calls_and_missed() == ([], [])


# --- pbxhub → PBX: setup and makeCall -----------------------------------------------------------


async def test_setup_is_sent_when_the_channel_is_created_and_when_its_keys_change(
    pbxhub: Pbxhub,
) -> None:
    with pbx_simulator() as pbx:
        channel = await pbxhub.create_channel(
            PROVIDER,
            settings={
                "pbx_url": pbx.url,
                # the simulator is on this machine: allowed by its exact host:port
                "allowed_pbx_hosts": [pbx_host_port(pbx.url)],
                "secrets": {"pbx_token": PBX_TOKEN},
            },
        )
        generated = channel["settings"]["secrets"]["planfix_token"]
        assert re.fullmatch(r"[0-9a-f]{32}", generated)

        [setup] = await eventually(lambda: asyncio.sleep(0, pbx.commands("setup")))
        assert setup == {
            "cmd": "setup",
            "token": PBX_TOKEN,
            "planfix_token": generated,
            "planfix_url": channel["webhook_urls"]["api"],
        }
        assert (await pbxhub.get(f"/api/v1/channels/{channel['id']}"))["last_error"] is None

        # the PBX refuses the new key: the admin sees why on the channel
        pbx.answer("setup", 401, '{"error": "Invalid token"}')
        patched = await pbxhub.http.patch(
            f"/api/v1/channels/{channel['id']}",
            json={"settings": {"secrets": {"pbx_token": "new-key"}}},
            headers=pbxhub.admin,
        )
        assert patched.status_code == 200
        assert patched.json()["settings"]["secrets"] == {
            "pbx_token": "new-key",
            "planfix_token": generated,
        }

        async def last_error() -> Any:
            return (await pbxhub.get(f"/api/v1/channels/{channel['id']}"))["last_error"]

        error = await eventually(last_error)
        assert error["action"] == "channel_setup"
        assert error["status"] == 401
        assert "401" in error["message"] and "pbx_token" in error["message"]
        assert [s["token"] for s in pbx.commands("setup")] == [PBX_TOKEN, "new-key"]

        # a change the PBX is not told about sends nothing
        renamed = await pbxhub.http.patch(
            f"/api/v1/channels/{channel['id']}", json={"name": "renamed"}, headers=pbxhub.admin
        )
        assert renamed.status_code == 200
        await asyncio.sleep(0.5)
        assert len(pbx.commands("setup")) == 2


async def test_make_call_200_400_401(pbxhub: Pbxhub) -> None:
    with pbx_simulator() as pbx:
        channel, (anna, _, _) = await planfix_line(
            pbxhub,
            pbx_url=pbx.url,
            allowed_pbx_hosts=[pbx_host_port(pbx.url)],
            secrets={"pbx_token": PBX_TOKEN},
        )

        async def click(phone: str = "8 (916) 123-45-67") -> Any:
            return await pbxhub.http.post(
                "/api/v1/click-to-call",
                json={"channel_id": channel["id"], "employee_id": anna["id"], "phone": phone},
                headers=pbxhub.admin,
            )

        ok = await click()
        assert ok.status_code == 200, ok.text
        assert ok.json() == {
            "ok": True,
            "phone": CALLER,
            "pbx_status": 200,
            "pbx_answer": "the PBX accepted: HTTP 200",
        }
        assert pbx.commands("makeCall") == [
            {"cmd": "makeCall", "from": "101", "to": "79161234567", "token": PBX_TOKEN}
        ]

        pbx.answer("makeCall", 400, '{"error": "Invalid parameters"}')
        refused = await click()
        assert refused.status_code == 502
        assert refused.json()["pbx_status"] == 400
        assert "400 Invalid parameters" in refused.json()["detail"]
        assert "short number 101" in refused.json()["detail"]

        pbx.answer("makeCall", 401, '{"error": "Invalid token"}')
        unauthorized = await click()
        assert unauthorized.status_code == 502
        assert unauthorized.json()["pbx_status"] == 401
        assert "401 Invalid token" in unauthorized.json()["detail"]

        assert (await click("not a number")).status_code == 422
        assert len(pbx.commands("makeCall")) == 3
        assert await pbxhub.calls_and_missed() == ([], [])


async def test_make_call_without_the_pbx_address_is_a_clear_422(pbxhub: Pbxhub) -> None:
    channel, (anna, _, _) = await planfix_line(pbxhub)

    response = await pbxhub.http.post(
        "/api/v1/click-to-call",
        json={"channel_id": channel["id"], "employee_id": anna["id"], "phone": CALLER},
        headers=pbxhub.admin,
    )

    assert response.status_code == 422
    assert "address" in response.json()["detail"]
