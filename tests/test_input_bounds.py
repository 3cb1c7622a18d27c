"""Input that pbxhub cannot keep is refused with a 4xx naming the field, never a 500 nor a
"retry later" 503: ids and integers the store cannot hold, and call session ids longer than a
Temporal workflow id may be."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Pbxhub, running_pbxhub
from sqlalchemy.exc import OperationalError
from temporalio.testing import WorkflowEnvironment

from api.bounds import MAX_ID
from crm import Employee, Store
from providers.canonical import MAX_SESSION_ID_BYTES
from workflows.starter import (
    MAX_WORKFLOW_ID_PREFIX_BYTES,
    TEMPORAL_MAX_ID_BYTES,
    CallSettings,
    call_workflow_id,
)

TOO_BIG = 2**63  # overflows SQLite's INTEGER (and PostgreSQL's bigint)
OVER_THE_ID_BOUND = MAX_ID + 1  # fits SQLite, but not PostgreSQL's INTEGER id columns


def named(response: httpx.Response) -> list[str]:
    """The fields a 422 names, whatever their location (path, query, body)."""
    detail = response.json()["detail"]
    assert isinstance(detail, list), detail
    return [problem["field"].split(".")[-1] for problem in detail]


# -- REST: ids in paths, queries and bodies -----------------------------------------------------


@pytest.mark.parametrize("number", [TOO_BIG, OVER_THE_ID_BOUND])
@pytest.mark.parametrize(
    ("method", "url", "field"),
    [
        ("GET", "/api/v1/calls/{n}", "call_id"),
        ("GET", "/api/v1/calls/{n}/recording", "call_id"),
        ("GET", "/api/v1/calls/{n}/comments", "call_id"),
        ("GET", "/api/v1/calls?employee_id={n}", "employee_id"),
        ("GET", "/api/v1/calls?channel_id={n}", "channel_id"),
        ("GET", "/api/v1/calls?offset={n}", "offset"),
        ("GET", "/api/v1/missed-calls.csv?offset={n}", "offset"),
        ("GET", "/api/v1/skipped-calls?channel_id={n}", "channel_id"),
        ("GET", "/api/v1/channels/{n}", "channel_id"),
        ("GET", "/api/v1/contacts/{n}", "contact_id"),
        ("GET", "/api/v1/contacts?offset={n}", "offset"),
        ("GET", "/api/v1/contacts/{n}/comments", "contact_id"),
        ("GET", "/api/v1/employees/{n}", "employee_id"),
        ("GET", "/api/v1/employees?channel_id={n}", "channel_id"),
        ("POST", "/api/v1/employees/{n}/token", "employee_id"),
        ("DELETE", "/api/v1/employees/{n}/token", "employee_id"),
        ("GET", "/api/v1/tasks/{n}", "task_id"),
        ("GET", "/api/v1/tasks?contact_id={n}", "contact_id"),
        ("GET", "/api/v1/tasks/{n}/comments", "task_id"),
        ("GET", "/api/v1/notifications?call_id={n}", "call_id"),
        ("GET", "/api/v1/notifications?offset={n}", "offset"),
        ("GET", "/api/v1/groups/{n}", "group_id"),
        ("GET", "/api/v1/recordings/outcomes?channel_id={n}", "channel_id"),
    ],
)
async def test_an_id_the_store_cannot_hold_is_422_naming_it(
    pbxhub: Pbxhub, method: str, url: str, field: str, number: int
) -> None:
    response = await pbxhub.http.request(method, url.format(n=number), headers=pbxhub.admin)

    assert response.status_code == 422, response.text
    assert named(response) == [field]


@pytest.mark.parametrize(
    ("method", "url", "body", "field"),
    [
        ("POST", "/api/v1/groups", {"name": "Sales", "employee_ids": [TOO_BIG]}, "0"),
        ("POST", "/api/v1/groups/1/members", {"employee_id": TOO_BIG}, "employee_id"),
        ("PATCH", "/api/v1/contacts/1", {"responsible_employee_ids": [TOO_BIG]}, "0"),
        (
            "POST",
            "/api/v1/calls/1/comments",
            {"text": "hi", "author_employee_id": TOO_BIG},
            "author_employee_id",
        ),
        (
            "POST",
            "/api/v1/employees",
            {"name": "Anna", "links": [{"channel_id": TOO_BIG, "extension": "101"}]},
            "channel_id",
        ),
        (
            "POST",
            "/api/v1/click-to-call",
            {"channel_id": TOO_BIG, "employee_id": 1, "phone": "+79161234567"},
            "channel_id",
        ),
    ],
)
async def test_an_id_in_a_body_the_store_cannot_hold_is_422_naming_it(
    pbxhub: Pbxhub, method: str, url: str, body: dict[str, Any], field: str
) -> None:
    response = await pbxhub.http.request(method, url, json=body, headers=pbxhub.admin)

    assert response.status_code == 422, response.text
    assert named(response) == [field]


@pytest.mark.parametrize("key", ["%C2%B2", "%D9%A3", "1%C2%B2", str(MAX_ID + 1), "9999999999"])
async def test_a_recording_key_that_is_no_id_nor_checksum_is_422(pbxhub: Pbxhub, key: str) -> None:
    # `str.isdigit()` takes "²" and "٣" for digits; int() does not.
    response = await pbxhub.http.get(f"/api/v1/recordings/{key}", headers=pbxhub.admin)

    assert response.status_code == 422, response.text


def test_every_id_up_to_the_bound_can_be_looked_up_in_either_store(store: Store) -> None:
    # PostgreSQL refuses to compare its INTEGER ids with a larger number ("out of range")
    lookups: list[Callable[[int], object]] = [
        *(store.get_call, store.get_contact, store.get_employee, store.get_channel),
        *(store.get_task, store.get_group, store.get_recording),
    ]

    assert [lookup(MAX_ID) for lookup in lookups] == [None] * len(lookups)


# -- the generic telephony API -------------------------------------------------------------------


async def post_api(hub: Pbxhub, channel: dict[str, Any], pairs: list[tuple[str, Any]]) -> Any:
    url = f"/api/v2/telephony/calls/{channel['secret_key']}"
    return await hub.http.post(
        url,
        content=str(httpx.QueryParams(pairs)),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )


CREATE = [("action", "create_call"), ("direction", "incoming"), ("phone", "+79161234567")]


@pytest.mark.parametrize("number", [TOO_BIG, OVER_THE_ID_BOUND, "9" * 5000])
@pytest.mark.parametrize(
    ("pairs", "field"),
    [
        (CREATE, "user_id"),
        (CREATE, "group_ids[]"),
        ([("action", "update_call"), ("call_status", "answered")], "call_id"),
    ],
)
async def test_the_telephony_api_refuses_ids_the_store_cannot_hold_with_422(
    pbxhub: Pbxhub, pairs: list[tuple[str, Any]], field: str, number: int | str
) -> None:
    channel = await pbxhub.create_channel("telephony_api")

    response = await post_api(pbxhub, channel, [*pairs, (field, str(number))])

    assert response.status_code == 422, response.text
    assert [p["field"] for p in response.json()["detail"]] == [field]
    assert pbxhub.store.list_calls() == []


@pytest.mark.parametrize("field", ["user_id", "call_id", "group_ids"])
async def test_the_telephony_api_refuses_json_numbers_the_store_cannot_hold(
    pbxhub: Pbxhub, field: str
) -> None:
    channel = await pbxhub.create_channel("telephony_api")
    action = "update_call" if field == "call_id" else "create_call"
    body = {**dict(CREATE), "action": action, "call_status": "answered", field: TOO_BIG}
    if field == "group_ids":
        body[field] = [TOO_BIG]

    response = await pbxhub.http.post(f"/api/v2/telephony/calls/{channel['secret_key']}", json=body)

    assert response.status_code == 422, response.text
    named_fields = [p["field"] for p in response.json()["detail"]]
    assert named_fields == [field + ("[]" if field == "group_ids" else "")]


async def test_the_telephony_api_refuses_a_pbx_call_id_too_long_for_a_workflow_id(
    pbxhub: Pbxhub,
) -> None:
    channel = await pbxhub.create_channel("telephony_api")
    longest = "7" * MAX_SESSION_ID_BYTES

    too_long = await post_api(pbxhub, channel, [*CREATE, ("pbx_call_id", longest + "7")])
    at_the_bound = await post_api(pbxhub, channel, [*CREATE, ("pbx_call_id", longest)])

    assert too_long.status_code == 422, too_long.text
    assert [p["field"] for p in too_long.json()["detail"]] == ["pbx_call_id"]
    assert at_the_bound.status_code == 200, at_the_bound.text
    assert at_the_bound.json()["data"]["pbx_call_id"] == longest


# -- PBX webhooks: the session id a spec maps ----------------------------------------------------


async def test_a_webhook_session_id_too_long_for_a_workflow_id_is_422_naming_its_field(
    pbxhub: Pbxhub,
) -> None:
    channel = await pbxhub.create_channel("uis")
    digits = "1" * 5000  # passes the schema's ^\s*\d+\s*$
    body = {
        "notification_mnemonic": "incoming_call",
        "virtual_phone_number": "74950000001",
        "notification_time": "2024-03-12 10:15:00",
        "contact_phone_number": "79161234567",
        "call_session_id": digits,
    }

    response = await pbxhub.post_hook(channel, "notify", body)

    assert response.status_code == 422, response.text
    assert response.json()["field"] == "call_session_id"
    assert str(MAX_SESSION_ID_BYTES) in response.json()["error"]
    await pbxhub.assert_no_workflow(channel, digits[:100])


async def test_a_crm_api_callid_too_long_for_a_workflow_id_is_refused(pbxhub: Pbxhub) -> None:
    token = "303cb962ac59075b964b07152d234b70"
    channel = await pbxhub.create_channel(
        "planfix_api", settings={"secrets": {"planfix_token": token}}
    )
    callid = "pf-" + "x" * 5000
    body = (
        "cmd=event&type=in&event=INCOMING&phone=79161234567&diversion=74950000001&ext=101"
        f"&callid={callid}&planfix_token={token}"
    ).encode()

    response = await pbxhub.post_hook(
        channel, "api", body, content_type="application/x-www-form-urlencoded"
    )

    # the CRM API answers a bad request in its own words; never "retry later"
    assert 400 <= response.status_code < 500, response.text
    assert response.status_code != 404
    assert pbxhub.store.list_calls() == []


async def test_a_session_id_at_the_bound_is_taken(pbxhub: Pbxhub) -> None:
    channel = await pbxhub.create_channel("uis")
    digits = "2" * MAX_SESSION_ID_BYTES
    body = {
        "notification_mnemonic": "incoming_call",
        "virtual_phone_number": "74950000001",
        "notification_time": "2024-03-12 10:15:00",
        "contact_phone_number": "79161234567",
        "call_session_id": digits,
    }

    response = await pbxhub.post_hook(channel, "notify", body)

    assert response.status_code == 200, response.text
    description = await pbxhub.workflow(channel, digits).describe()
    assert description.id.endswith(digits)
    assert json.dumps(description.id)  # a Temporal id like any other


def test_the_longest_call_workflow_id_fits_temporals_limit() -> None:
    longest = call_workflow_id(
        2**63 - 1, "ж" * (MAX_SESSION_ID_BYTES // 2), prefix="p" * MAX_WORKFLOW_ID_PREFIX_BYTES
    )

    assert len(longest.encode()) <= TEMPORAL_MAX_ID_BYTES


def test_a_workflow_id_prefix_too_long_for_the_workflow_ids_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="workflow_id_prefix"):
        CallSettings(
            recording_wait_seconds=60,
            max_call_seconds=3600,
            workflow_id_prefix="p" * (MAX_WORKFLOW_ID_PREFIX_BYTES + 1),
        )


# -- 503 means the store is down, nothing else ---------------------------------------------------


class GroupsStore(Store):
    """A real store whose group lookup fails as `failure` says: the database gone, or a bug."""

    failure: Exception | None = None

    def employees_in_groups(self, group_ids: Sequence[int]) -> list[Employee]:
        if self.failure is not None:
            raise self.failure
        return super().employees_in_groups(group_ids)


@pytest.fixture
async def groups_hub(temporal_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Pbxhub]:
    async with running_pbxhub(temporal_env, tmp_path, store_class=GroupsStore) as hub:
        try:
            yield hub
        finally:
            GroupsStore.failure = None


async def test_the_telephony_api_says_retry_later_when_the_store_is_down(
    groups_hub: Pbxhub,
) -> None:
    channel = await groups_hub.create_channel("telephony_api")
    GroupsStore.failure = OperationalError("SELECT", {}, ConnectionError("database unreachable"))

    response = await post_api(groups_hub, channel, [*CREATE, ("group_ids[]", "1")])

    assert response.status_code == 503, response.text


async def test_a_fault_of_pbxhubs_own_is_a_server_error_not_retry_later(
    groups_hub: Pbxhub,
) -> None:
    channel = await groups_hub.create_channel("telephony_api")
    GroupsStore.failure = OverflowError("Python int too large to convert to SQLite INTEGER")

    # In-process the app's exception reaches the client; a server answers it with 500.
    with pytest.raises(OverflowError):
        await post_api(groups_hub, channel, [*CREATE, ("group_ids[]", "1")])


@pytest.mark.parametrize("seconds", [MAX_ID + 1, 10**30])
async def test_a_webhook_number_the_store_cannot_hold_is_422_naming_its_field(
    pbxhub: Pbxhub, seconds: int
) -> None:
    channel = await pbxhub.create_channel("uis")
    body = {
        "notification_mnemonic": "call_finished",
        "virtual_phone_number": "74950000001",
        "notification_time": "2024-03-12 10:15:00",
        "contact_phone_number": "79161234567",
        "call_session_id": 3410009001,
        "wait_time_duration": 5,
        "talk_time_duration": 60,
        "total_time_duration": seconds,
    }

    response = await pbxhub.post_hook(channel, "notify", body)

    assert response.status_code == 422, response.text
    assert response.json()["field"] == "total_time_duration"
    await pbxhub.assert_no_workflow(channel, 3410009001)


# -- text PostgreSQL cannot keep (a NUL character) -----------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "body", "field"),
    [
        ("POST", "/api/v1/channels", {"provider": "uis", "name": "Sales\x00"}, "name"),
        ("PATCH", "/api/v1/channels/1", {"name": "Sales\x00"}, "name"),
        ("PATCH", "/api/v1/channels/1", {"settings": {"lines": {"\x00": "x"}}}, "settings"),
        ("POST", "/api/v1/employees", {"name": "Anna", "phones": ["+7916\x00"]}, "0"),
        ("POST", "/api/v1/groups", {"name": "\x00"}, "name"),
        ("POST", "/api/v1/calls/1/comments", {"text": "hi\x00", "author_employee_id": 1}, "text"),
    ],
)
async def test_text_with_a_nul_character_is_422_naming_its_field(
    pbxhub: Pbxhub, method: str, url: str, body: dict[str, Any], field: str
) -> None:
    await pbxhub.create_channel("uis")

    response = await pbxhub.http.request(method, url, json=body, headers=pbxhub.admin)

    assert response.status_code == 422, response.text
    assert named(response) == [field]


@pytest.mark.parametrize("field", ["comment", "pbx_call_id", "utm_source"])
async def test_the_telephony_api_refuses_text_with_a_nul_character(
    pbxhub: Pbxhub, field: str
) -> None:
    channel = await pbxhub.create_channel("telephony_api")

    response = await post_api(pbxhub, channel, [*CREATE, (field, "a\x00b")])

    assert response.status_code == 422, response.text
    assert [p["field"] for p in response.json()["detail"]] == [field]


async def test_a_webhook_text_with_a_nul_character_is_422_naming_its_field(
    pbxhub: Pbxhub,
) -> None:
    channel = await pbxhub.create_channel("uis")
    body = {
        "notification_mnemonic": "incoming_call",
        "virtual_phone_number": "74950000001",
        "notification_time": "2024-03-12 10:15:00",
        "contact_phone_number": "79161234567",
        "contact_full_name": "Ivan\x00Petrov",
        "call_session_id": 3410009002,
    }

    response = await pbxhub.post_hook(channel, "notify", body)

    assert response.status_code == 422, response.text
    assert response.json()["field"] == "contact_full_name"
    await pbxhub.assert_no_workflow(channel, 3410009002)
