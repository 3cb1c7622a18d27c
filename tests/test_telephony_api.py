"""The generic telephony API (seed 002) over HTTP, through the real Temporal server into the store.

`POST /api/v2/telephony/calls/{channel_key}` with action=create_call|update_call, as form,
multipart or JSON; answers `{"data": {call_id, pbx_call_id, user_id, pbx_user_id, call_status,
audio_record, ticket_id}}`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from conftest import Pbxhub, running_pbxhub, unreachable_temporal
from temporalio.testing import WorkflowEnvironment

from contracts.call_workflow import CallState

T = TypeVar("T")
CALLER = "+79161234567"
SEED_ANSWER_KEYS = {
    "call_id",
    "pbx_call_id",
    "user_id",
    "pbx_user_id",
    "call_status",
    "audio_record",
    "ticket_id",
}
# The first bytes that make a file what it is; the rest is filler.
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 8
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)

Params = dict[str, Any]


async def api_line(hub: Pbxhub) -> dict[str, Any]:
    """A telephony API channel whose tickets go to the Sales department."""
    return await hub.create_channel("telephony_api", settings={"default_department": "Sales"})


async def post(
    hub: Pbxhub,
    channel: dict[str, Any],
    params: Params,
    *,
    body: str = "form",
    audio: tuple[str, bytes, str] | None = None,
    key: str | None = None,
) -> httpx.Response:
    """Send the API's parameters as a form, a multipart body or JSON (lists repeat the key)."""
    url = f"/api/v2/telephony/calls/{key or channel['secret_key']}"
    if body == "json":
        return await hub.http.post(url, json=params)
    pairs: list[tuple[str, Any]] = [
        (name, str(item))
        for name, value in params.items()
        for item in (value if isinstance(value, list) else [value])
    ]
    if body == "form" and audio is None:
        return await hub.http.post(url, content=str(httpx.QueryParams(pairs)), headers=FORM)
    parts: list[tuple[str, Any]] = [(name, (None, value)) for name, value in pairs]
    if audio is not None:
        parts.append(("audio_record", audio))
    return await hub.http.post(url, files=parts)


FORM = {"content-type": "application/x-www-form-urlencoded"}


async def create_call(hub: Pbxhub, channel: dict[str, Any], **params: Any) -> dict[str, Any]:
    response = await post(
        hub, channel, {"action": "create_call", "direction": "incoming", "phone": CALLER, **params}
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def update_call(hub: Pbxhub, channel: dict[str, Any], **params: Any) -> dict[str, Any]:
    response = await post(hub, channel, {"action": "update_call", **params})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def eventually(check: Callable[[], Awaitable[T]], *, seconds: float = 20) -> T:
    """`check()`'s result once it stops raising AssertionError (the workflow writes after a
    short settle)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        try:
            return await check()
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)


def error_fields(response: httpx.Response) -> list[str]:
    return [problem["field"] for problem in response.json()["detail"]]


# -- create_call ----------------------------------------------------------------------------


async def test_the_seeds_create_call_example_gets_the_seeds_answer(pbxhub: Pbxhub) -> None:
    channel = await api_line(pbxhub)
    assert channel["webhook_urls"] == {
        "api": f"http://testserver/api/v2/telephony/calls/{channel['secret_key']}"
    }

    # curl --form 'action=create_call' --form 'direction=outgoing' --form 'phone=777777777'
    #      --form 'call_status=ringing' --form 'comment=start'
    response = await post(
        pbxhub,
        channel,
        {
            "action": "create_call",
            "direction": "outgoing",
            "phone": "777777777",
            "call_status": "ringing",
            "comment": "start",
        },
        body="multipart",
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    data = response.json()["data"]
    assert set(data) == SEED_ANSWER_KEYS
    assert data["pbx_call_id"] is None
    assert (data["user_id"], data["pbx_user_id"], data["audio_record"]) == (None, None, None)
    assert data["call_status"] == "ringing"
    call = await pbxhub.get(f"/api/v1/calls/{data['call_id']}")
    assert (call["kind"], call["direction"], call["status"]) == ("active", "out", "ringing")
    assert call["contact_phone_raw"] == "777777777"
    ticket = await pbxhub.get(f"/api/v1/tasks/{data['ticket_id']}")
    assert ticket["call_id"] == data["call_id"]
    assert (ticket["status"], ticket["department"]) == ("open", "Sales")
    assert ticket["title"] == "Outgoing call to 777777777"
    comments = await pbxhub.get(f"/api/v1/tasks/{data['ticket_id']}/comments")
    assert [comment["text"] for comment in comments] == ["start"]


@pytest.mark.parametrize("body", ["form", "multipart", "json"])
async def test_create_call_reads_form_multipart_and_json_alike(pbxhub: Pbxhub, body: str) -> None:
    channel = await api_line(pbxhub)

    response = await post(
        pbxhub,
        channel,
        {
            "action": "create_call",
            "direction": "incoming",
            "phone": "8 (916) 123-45-67",
            "pbx_call_id": "pbx-42",
            "utm_source": "google",
        },
        body=body,
    )

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    # call_status defaults to ringing; pbx_call_id comes back as the PBX gave it.
    assert (data["call_status"], data["pbx_call_id"]) == ("ringing", "pbx-42")
    call = await pbxhub.get(f"/api/v1/calls/{data['call_id']}")
    assert (call["session_id"], call["direction"]) == ("pbx-42", "in")
    assert (call["contact_phone"], call["contact_phone_raw"]) == (CALLER, "8 (916) 123-45-67")
    contacts = await pbxhub.get("/api/v1/contacts")
    assert [contact["id"] for contact in contacts] == [call["contact_id"]]
    ticket = await pbxhub.get(f"/api/v1/tasks/{data['ticket_id']}")
    assert ticket["contact_id"] == call["contact_id"]
    assert ticket["title"] == f"Incoming call from {CALLER}"
    state = await pbxhub.workflow(channel, "pbx-42").query("state", result_type=CallState)
    assert state.call_id == data["call_id"] and not state.over


async def test_the_same_create_call_twice_is_one_call_and_one_ticket(pbxhub: Pbxhub) -> None:
    channel = await api_line(pbxhub)
    params = {"pbx_call_id": 777, "comment": "hello"}

    first = await create_call(pbxhub, channel, **params)
    racing = await asyncio.gather(*(create_call(pbxhub, channel, **params) for _ in range(4)))
    later = await create_call(pbxhub, channel, pbx_call_id=777, call_status="in-progress")

    assert all(answer == first for answer in racing)
    assert (later["call_id"], later["ticket_id"]) == (first["call_id"], first["ticket_id"])
    assert later["call_status"] == "in-progress"
    tasks = await pbxhub.get("/api/v1/tasks")
    assert [task["id"] for task in tasks] == [first["ticket_id"]]
    comments = await pbxhub.get(f"/api/v1/tasks/{first['ticket_id']}/comments")
    assert [comment["text"] for comment in comments] == ["hello"]
    assert len(pbxhub.store.list_calls()) == 1


async def test_calls_without_a_pbx_call_id_are_separate_calls(pbxhub: Pbxhub) -> None:
    channel = await api_line(pbxhub)

    first = await create_call(pbxhub, channel)
    second = await create_call(pbxhub, channel)

    assert first["call_id"] != second["call_id"]
    assert first["ticket_id"] != second["ticket_id"]


# -- who the call is for --------------------------------------------------------------------


async def people(hub: Pbxhub, channel: dict[str, Any]) -> tuple[int, int, int, int]:
    """Anna (PBX user u-1) and Boris (u-2) in the channel; groups: Sales (Anna), All (both)."""
    anna, boris = await hub.create_staff(
        channel,
        {
            "Anna": {"extension": "101", "pbx_user_id": "u-1"},
            "Boris": {"extension": "102", "pbx_user_id": "u-2"},
        },
    )
    groups = []
    for name, members in (("Sales", [anna["id"]]), ("All", [anna["id"], boris["id"]])):
        response = await hub.http.post(
            "/api/v1/groups", json={"name": name, "employee_ids": members}, headers=hub.admin
        )
        assert response.status_code == 201, response.text
        groups.append(response.json()["id"])
    return anna["id"], boris["id"], groups[0], groups[1]


async def test_exactly_one_employee_named_becomes_the_tickets_assignee(pbxhub: Pbxhub) -> None:
    channel = await api_line(pbxhub)
    anna, boris, sales, everyone = await people(pbxhub, channel)
    cases: list[tuple[Params, int | None, str | None]] = [
        ({"user_ids[]": [anna]}, anna, None),
        ({"user_ids[]": [anna, boris]}, None, None),
        ({"group_ids[]": [sales]}, anna, None),
        ({"group_ids[]": [everyone, sales]}, None, None),
        # A PBX user id the channel does not know names nobody; the one it knows is the one.
        ({"pbx_user_ids[]": ["u-2", "u-999"]}, boris, "u-2"),
        ({"pbx_user_ids[]": ["u-1", "u-2"]}, None, None),
        ({"pbx_user_ids[]": ["u-999"]}, None, None),
        ({}, None, None),
    ]
    for params, assignee, pbx_user_id in cases:
        data = await create_call(pbxhub, channel, **params)
        assert (data["user_id"], data["pbx_user_id"]) == (assignee, pbx_user_id), params
        ticket = await pbxhub.get(f"/api/v1/tasks/{data['ticket_id']}")
        assert ticket["assignee_employee_id"] == assignee, params
        call = await pbxhub.get(f"/api/v1/calls/{data['call_id']}")
        assert call["employee_id"] == assignee, params


async def test_php_style_indexed_arrays_are_read(pbxhub: Pbxhub) -> None:
    channel = await api_line(pbxhub)
    anna, boris, _, _ = await people(pbxhub, channel)

    one = await create_call(pbxhub, channel, **{"user_ids[0]": anna})
    two = await create_call(pbxhub, channel, **{"user_ids[0]": anna, "user_ids[1]": boris})

    assert (one["user_id"], two["user_id"]) == (anna, None)


async def test_update_call_binds_the_call_and_ticket_to_a_user(pbxhub: Pbxhub) -> None:
    channel = await api_line(pbxhub)
    anna, boris, _, _ = await people(pbxhub, channel)
    created = await create_call(pbxhub, channel, **{"user_ids[]": [anna]})

    by_pbx_id = await update_call(
        pbxhub, channel, call_id=created["call_id"], call_status="in-progress", pbx_user_id="u-2"
    )
    assert (by_pbx_id["user_id"], by_pbx_id["pbx_user_id"]) == (boris, "u-2")
    assert by_pbx_id["ticket_id"] == created["ticket_id"]
    ticket = await pbxhub.get(f"/api/v1/tasks/{created['ticket_id']}")
    assert ticket["assignee_employee_id"] == boris

    by_user_id = await update_call(
        pbxhub, channel, call_id=created["call_id"], call_status="in-progress", user_id=anna
    )
    assert by_user_id["user_id"] == anna
    ticket = await pbxhub.get(f"/api/v1/tasks/{created['ticket_id']}")
    assert ticket["assignee_employee_id"] == anna


# -- the end of a call ----------------------------------------------------------------------


async def test_a_call_answered_is_one_call_record(pbxhub: Pbxhub) -> None:
    channel = await api_line(pbxhub)
    anna, _, _, _ = await people(pbxhub, channel)
    created = await create_call(pbxhub, channel, pbx_call_id="c-1", **{"user_ids[]": [anna]})
    await update_call(pbxhub, channel, pbx_call_id="c-1", call_status="in-progress")

    answered = await update_call(
        pbxhub, channel, call_id=created["call_id"], call_status="answered", comment="done"
    )
    # The PBX repeating itself, and a late "ringing", change nothing.
    again = await update_call(
        pbxhub, channel, call_id=created["call_id"], call_status="answered", comment="done"
    )
    late = await update_call(pbxhub, channel, call_id=created["call_id"], call_status="ringing")

    assert answered["call_status"] == again["call_status"] == late["call_status"] == "answered"
    record = await eventually(lambda: pbxhub.the_one_record("call"))
    assert record["id"] == created["call_id"]
    assert (record["direction"], record["contact_phone"]) == ("in", CALLER)
    assert (record["employee_id"], record["status"]) == (anna, "answered")
    assert record["answered_at"] is not None and record["ended_at"] is not None
    comments = await pbxhub.get(f"/api/v1/tasks/{created['ticket_id']}/comments")
    assert [comment["text"] for comment in comments] == ["done"]
    assert len(await pbxhub.get("/api/v1/tasks")) == 1


@pytest.mark.parametrize(
    ("direction", "status"),
    [
        ("incoming", "missed"),
        ("incoming", "canceled"),
        ("outgoing", "failed"),
        ("outgoing", "busy"),
    ],
)
async def test_a_call_not_answered_is_one_missed_call_on_its_contact(
    pbxhub: Pbxhub, direction: str, status: str
) -> None:
    channel = await api_line(pbxhub)
    created = await create_call(pbxhub, channel, direction=direction)

    await update_call(pbxhub, channel, call_id=created["call_id"], call_status=status)

    record = await eventually(lambda: pbxhub.the_one_record("missed"))
    assert record["id"] == created["call_id"]
    assert record["direction"] == ("in" if direction == "incoming" else "out")
    assert record["status"] == status
    contacts = await pbxhub.get("/api/v1/contacts", phone=CALLER)
    assert record["contact_id"] == contacts[0]["id"]
    result = await pbxhub.call_result(channel, record["session_id"])
    assert (result.outcome, result.call_id) == ("missed", created["call_id"])


async def test_a_call_created_already_final_is_recorded(pbxhub: Pbxhub) -> None:
    channel = await api_line(pbxhub)

    created = await create_call(pbxhub, channel, call_status="missed", comment="after the fact")

    assert created["call_status"] == "missed"
    record = await eventually(lambda: pbxhub.the_one_record("missed"))
    assert record["id"] == created["call_id"]


# -- audio ----------------------------------------------------------------------------------


async def test_an_uploaded_mp3_is_stored_and_becomes_the_calls_recording(
    pbxhub: Pbxhub, tmp_path: Path
) -> None:
    channel = await api_line(pbxhub)
    created = await create_call(pbxhub, channel, pbx_call_id="rec-1")
    digest = hashlib.sha256(MP3).hexdigest()

    # A client's file name is never used: "../../etc/passwd.mp3" lands under its checksum.
    response = await post(
        pbxhub,
        channel,
        {"action": "update_call", "pbx_call_id": "rec-1", "call_status": "answered"},
        audio=("../../etc/passwd.mp3", MP3, "application/octet-stream"),
    )

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["audio_record"] == f"http://testserver/api/v1/recordings/{digest}"
    (recording,) = pbxhub.store.list_recordings(created["call_id"])
    assert (recording.size, recording.sha256) == (len(MP3), digest)
    assert (recording.content_type, recording.storage) == ("audio/mpeg", "local")
    assert (tmp_path / "recordings" / recording.location).read_bytes() == MP3
    assert recording.location == f"{digest[:2]}/{digest}.mp3"
    served = await pbxhub.http.get(f"/api/v1/recordings/{digest}", headers=pbxhub.admin)
    assert served.status_code == 200
    assert (served.content, served.headers["content-type"]) == (MP3, "audio/mpeg")
    record = await eventually(lambda: pbxhub.the_one_record("call"))
    assert record["recording_url"] == data["audio_record"]
    # The recording ends the workflow's wait for one.
    result = await pbxhub.call_result(channel, "rec-1")
    assert result.recording_url == data["audio_record"]


@pytest.mark.parametrize(
    ("content", "status"),
    [(PNG, 415), (b"%PDF-1.7\n" + bytes(32), 415), (b"", 422)],
)
async def test_a_file_that_is_not_audio_is_refused_whatever_its_name(
    pbxhub: Pbxhub, tmp_path: Path, content: bytes, status: int
) -> None:
    channel = await api_line(pbxhub)
    created = await create_call(pbxhub, channel)

    response = await post(
        pbxhub,
        channel,
        {"action": "update_call", "call_id": created["call_id"], "call_status": "answered"},
        audio=("record.mp3", content, "audio/mpeg"),
    )

    assert response.status_code == status, response.text
    assert error_fields(response) == ["audio_record"]
    assert pbxhub.store.list_recordings(created["call_id"]) == []
    assert list((tmp_path / "recordings").rglob("*.mp3")) == []
    call = await pbxhub.get(f"/api/v1/calls/{created['call_id']}")
    assert call["status"] == "ringing"


async def test_audio_sent_after_the_workflow_ended_still_reaches_the_call(pbxhub: Pbxhub) -> None:
    channel = await api_line(pbxhub)
    created = await create_call(pbxhub, channel, pbx_call_id="late-1")
    await update_call(pbxhub, channel, pbx_call_id="late-1", call_status="missed")
    result = await pbxhub.call_result(channel, "late-1")
    assert result.outcome == "missed"

    response = await post(
        pbxhub,
        channel,
        {"action": "update_call", "call_id": created["call_id"], "call_status": "missed"},
        audio=("voicemail.mp3", MP3, "audio/mpeg"),
    )

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["call_id"], data["ticket_id"]) == (created["call_id"], created["ticket_id"])
    assert data["audio_record"] is not None
    record = await eventually(lambda: pbxhub.the_one_record("missed"))
    assert record["recording_url"] == data["audio_record"]
    assert len(pbxhub.store.list_recordings(created["call_id"])) == 1
    assert len(await pbxhub.get("/api/v1/tasks")) == 1


# -- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({"user_ids[]": [1], "group_ids[]": [1]}, ["user_ids[], group_ids[]"]),
        ({"user_ids[]": [1], "pbx_user_ids[]": ["u-1"]}, ["user_ids[], pbx_user_ids[]"]),
        ({"group_ids[]": [1], "pbx_user_ids[]": ["u-1"]}, ["group_ids[], pbx_user_ids[]"]),
        ({"user_id": 1, "pbx_user_id": "u-1"}, ["user_id, pbx_user_id"]),
        ({"user_ids[]": [1], "user_id": 1}, ["user_ids[], user_id"]),
    ],
)
async def test_naming_employees_two_ways_at_once_is_refused(
    pbxhub: Pbxhub, params: Params, fields: list[str]
) -> None:
    channel = await api_line(pbxhub)
    await people(pbxhub, channel)

    response = await post(
        pbxhub,
        channel,
        {"action": "create_call", "direction": "incoming", "phone": CALLER, **params},
    )

    assert response.status_code == 422, response.text
    assert error_fields(response) == fields
    assert pbxhub.store.list_calls() == []
    assert await pbxhub.get("/api/v1/tasks") == []


async def test_update_call_takes_call_id_or_pbx_call_id_not_both(pbxhub: Pbxhub) -> None:
    channel = await api_line(pbxhub)
    created = await create_call(pbxhub, channel, pbx_call_id="x-1")

    both = await post(
        pbxhub,
        channel,
        {
            "action": "update_call",
            "call_id": created["call_id"],
            "pbx_call_id": "x-1",
            "call_status": "missed",
        },
    )
    neither = await post(pbxhub, channel, {"action": "update_call", "call_status": "missed"})

    assert both.status_code == 422 and error_fields(both) == ["call_id, pbx_call_id"]
    assert neither.status_code == 422 and error_fields(neither) == ["call_id"]
    call = await pbxhub.get(f"/api/v1/calls/{created['call_id']}")
    assert call["status"] == "ringing"


async def test_an_update_of_an_unknown_call_is_404_naming_it(pbxhub: Pbxhub) -> None:
    channel = await api_line(pbxhub)
    other = await api_line(pbxhub)
    elsewhere = await create_call(pbxhub, other)

    for params, field in (
        ({"call_id": 9999}, "call_id"),
        ({"call_id": elsewhere["call_id"]}, "call_id"),
        ({"pbx_call_id": "never-created"}, "pbx_call_id"),
    ):
        response = await post(
            pbxhub, channel, {"action": "update_call", "call_status": "answered", **params}
        )
        assert response.status_code == 404, response.text
        assert error_fields(response) == [field]
    call = await pbxhub.get(f"/api/v1/calls/{elsewhere['call_id']}")
    assert call["status"] == "ringing"


async def test_a_wrong_channel_key_is_404_and_touches_nothing(pbxhub: Pbxhub) -> None:
    uis = await pbxhub.create_channel("uis")
    params = {"action": "create_call", "direction": "incoming", "phone": CALLER}

    unknown = await post(pbxhub, uis, params, key="no-such-key")
    not_api = await post(pbxhub, uis, params)

    assert unknown.status_code == not_api.status_code == 404
    assert error_fields(unknown) == ["channel_key"]
    assert pbxhub.store.list_calls() == []


async def test_a_channel_allowing_other_sources_refuses_with_403(pbxhub: Pbxhub) -> None:
    closed = await pbxhub.create_channel(
        "telephony_api", settings={"allowed_sources": "10.0.0.0/8"}
    )
    open_to_us = await pbxhub.create_channel(
        "telephony_api", settings={"allowed_sources": ["10.0.0.0/8", "127.0.0.1"]}
    )
    params = {"action": "create_call", "direction": "incoming", "phone": CALLER}

    refused = await post(pbxhub, closed, params)
    allowed = await post(pbxhub, open_to_us, params)

    assert refused.status_code == 403 and error_fields(refused) == ["source"]
    assert allowed.status_code == 200, allowed.text
    assert len(pbxhub.store.list_calls()) == 1


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({}, ["action"]),
        ({"action": "delete_call"}, ["action"]),
        ({"action": "create_call"}, ["direction", "phone"]),
        ({"action": "create_call", "direction": "sideways", "phone": "1"}, ["direction"]),
        (
            {"action": "create_call", "direction": "incoming", "phone": "1", "call_status": "x"},
            ["call_status"],
        ),
        ({"action": "update_call", "call_id": 1}, ["call_status"]),
        ({"action": "update_call", "call_id": "abc", "call_status": "busy"}, ["call_id"]),
        (
            {"action": "create_call", "direction": "incoming", "phone": "1", "user_ids[]": ["x"]},
            ["user_ids[]"],
        ),
        (
            {"action": "create_call", "direction": "incoming", "phone": "1", "user_ids[]": [999]},
            ["user_ids[]"],
        ),
        (
            {"action": "create_call", "direction": "incoming", "phone": "1", "group_ids[]": [9]},
            ["group_ids[]"],
        ),
        (
            {"action": "create_call", "direction": "incoming", "phone": "1", "call_id": 5},
            ["call_id"],
        ),
        (
            {"action": "create_call", "direction": "in", "phone": "1", "audio_record": "x.mp3"},
            ["direction", "audio_record"],
        ),
    ],
)
async def test_bad_parameters_get_a_422_naming_them(
    pbxhub: Pbxhub, params: Params, fields: list[str]
) -> None:
    channel = await api_line(pbxhub)

    response = await post(pbxhub, channel, params)

    assert response.status_code == 422, response.text
    assert error_fields(response) == fields
    assert pbxhub.store.list_calls() == []


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"[1, 2]", "application/json", 422),
        (b'{"action": {"nested": 1}}', "application/json", 422),
        (b"action=create_call&phone=%FF%FE", "application/x-www-form-urlencoded", 400),
        (b"--nothing\r\n", "multipart/form-data; boundary=other", 400),
    ],
)
async def test_unreadable_bodies_are_4xx_never_500(
    pbxhub: Pbxhub, content: bytes, content_type: str, status: int
) -> None:
    channel = await api_line(pbxhub)

    response = await pbxhub.http.post(
        f"/api/v2/telephony/calls/{channel['secret_key']}",
        content=content,
        headers={"content-type": content_type},
    )

    assert response.status_code == status, response.text
    assert "detail" in response.json()


async def test_a_json_body_without_content_type_is_read_as_json(pbxhub: Pbxhub) -> None:
    channel = await api_line(pbxhub)
    body = {"action": "create_call", "direction": "incoming", "phone": 79161234567}

    response = await pbxhub.http.post(
        f"/api/v2/telephony/calls/{channel['secret_key']}",
        content=json.dumps(body).encode(),
        headers={"content-type": ""},
    )

    assert response.status_code == 200, response.text
    call = await pbxhub.get(f"/api/v1/calls/{response.json()['data']['call_id']}")
    assert call["contact_phone"] == CALLER


async def test_an_upload_over_the_limit_gets_413_and_stores_nothing(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_pbxhub(temporal_env, tmp_path, max_upload_bytes=1024) as hub:
        channel = await api_line(hub)
        created = await create_call(hub, channel)

        response = await post(
            hub,
            channel,
            {"action": "update_call", "call_id": created["call_id"], "call_status": "answered"},
            audio=("long.mp3", MP3, "audio/mpeg"),
        )

        assert response.status_code == 413, response.text
        assert hub.store.list_recordings(created["call_id"]) == []
        assert list((tmp_path / "recordings").rglob("*.mp3")) == []


async def test_with_temporal_down_the_pbx_gets_503_and_nothing_is_written(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_pbxhub(temporal_env, tmp_path, temporal=unreachable_temporal()) as hub:
        channel = await api_line(hub)

        response = await post(
            hub, channel, {"action": "create_call", "direction": "incoming", "phone": CALLER}
        )

        assert response.status_code == 503, response.text
        assert hub.store.list_calls() == []
        assert hub.store.list_tasks() == []


# -- the REST around it ---------------------------------------------------------------------


async def test_employees_get_working_hours_and_groups_through_rest(pbxhub: Pbxhub) -> None:
    hours = {"timezone": "Europe/Moscow", "days": {"mon": [["09:00", "18:00"]]}}
    anna = await pbxhub.create_employee("Anna", working_hours=hours)
    assert anna["working_hours"] == hours
    assert (await pbxhub.get(f"/api/v1/employees/{anna['id']}"))["working_hours"] == hours
    bad = await pbxhub.http.post(
        "/api/v1/employees",
        json={"name": "Boris", "working_hours": {"timezone": "Mars/Base", "days": {}}},
        headers=pbxhub.admin,
    )
    assert bad.status_code == 422 and "working_hours" in bad.text

    created = await pbxhub.http.post("/api/v1/groups", json={"name": "Sales"}, headers=pbxhub.admin)
    assert created.status_code == 201, created.text
    group = created.json()
    joined = await pbxhub.http.post(
        f"/api/v1/groups/{group['id']}/members",
        json={"employee_id": anna["id"]},
        headers=pbxhub.admin,
    )
    assert joined.status_code == 200 and joined.json()["employee_ids"] == [anna["id"]]
    assert await pbxhub.get("/api/v1/groups") == [joined.json()]
    ghost = await pbxhub.http.post(
        f"/api/v1/groups/{group['id']}/members", json={"employee_id": 999}, headers=pbxhub.admin
    )
    assert ghost.status_code == 422
    anonymous = await pbxhub.http.get("/api/v1/groups")
    assert anonymous.status_code == 401
