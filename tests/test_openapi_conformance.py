"""The API answers what its OpenAPI description says, for any request: schemathesis generates
requests for every operation (valid and invalid ones, a fixed number each, derandomized so a run
is reproducible) and sends them with the admin key to pbxhub in-process, on a real store holding
a channel, employees, a call with its task, contact, comment and kept recording; each answer
must be no 5xx, a status the operation documents, and a body its declared schema accepts.

The PBX webhooks (`/hooks/...`) are left out: their answers are the PBXs' own formats, declared
by each provider's spec and tested against them (tests/test_provider_specs.py and the e2e tests).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from conftest import Pbxhub, running_pbxhub
from hypothesis import HealthCheck, Phase, strategies
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from temporalio.testing import WorkflowEnvironment

from crm import Store

# Examples per operation and generation mode: ~40 operations × 2 modes × 2 stores, under a minute.
EXAMPLES = 10
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
LEFT_OUT = "/hooks/"
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 8


async def some_of_everything(hub: Pbxhub) -> None:
    """A channel of each kind, employees in a group, and a call (with its contact, ticket,
    comment and kept recording) made through the telephony API: ids 1 and 2 name something."""
    uis = await hub.create_channel("uis")
    api = await hub.create_channel("telephony_api")
    anna = await hub.create_employee("Anna", links=[{"channel_id": uis["id"], "extension": "101"}])
    boris = await hub.create_employee("Boris", links=[{"channel_id": api["id"]}])
    group = await hub.http.post(
        "/api/v1/groups",
        json={"name": "Sales", "employee_ids": [anna["id"], boris["id"]]},
        headers=hub.admin,
    )
    assert group.status_code == 201, group.text
    created = await hub.http.post(
        f"/api/v2/telephony/calls/{api['secret_key']}",
        data={
            "action": "create_call",
            "direction": "incoming",
            "phone": "+79161234567",
            "call_status": "answered",
            "user_id": str(boris["id"]),
        },
        files={"audio_record": ("call.mp3", MP3, "audio/mpeg")},
    )
    assert created.status_code == 200, created.text
    call_id = created.json()["data"]["call_id"]
    comment = await hub.http.post(
        f"/api/v1/calls/{call_id}/comments",
        json={"text": "called back", "author_employee_id": boris["id"]},
        headers=hub.admin,
    )
    assert comment.status_code == 201, comment.text


def sender(hub: Pbxhub, loop: asyncio.AbstractEventLoop) -> Callable[[Any], httpx.Response]:
    """Sends a generated case to pbxhub on the test's event loop (where its store and worker
    live) from the thread hypothesis runs in; the case's request as schemathesis builds it."""
    accepted = {"method", "url", "headers", "params", "data", "json", "files", "cookies"}

    def send(case: Any) -> httpx.Response:
        kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=hub.admin)
        prepared = requests.Request(**{k: v for k, v in kwargs.items() if k in accepted}).prepare()
        body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
        assert body is None or isinstance(body, bytes)
        # on the wire a header is bytes: a generated non-ASCII value goes as its UTF-8 bytes
        headers = [
            (k.encode(), v.encode() if isinstance(v, str) else v)
            for k, v in prepared.headers.items()
        ]
        request = hub.http.request(
            str(prepared.method), str(prepared.url), headers=headers, content=body or b""
        )
        return asyncio.run_coroutine_threadsafe(request, loop).result(timeout=60)

    return send


def failures_of(operation: Any, send: Callable[[Any], httpx.Response]) -> list[str]:
    found: list[str] = []
    cases = strategies.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @hypothesis.settings(
        max_examples=EXAMPLES * 2,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=cases)
    def check(case: Any) -> None:
        response = send(case)
        try:
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as failure:  # every failure, not the first only
            found.append(
                f"{operation.label}: {response.request.method} {response.request.url} → "
                f"{response.status_code} {response.text[:200]!r}\n{failure}"
            )

    check()
    return found


@pytest.fixture
async def hub_on_each_store(
    database_url: str, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> AsyncIterator[Pbxhub]:
    """pbxhub on SQLite and on PostgreSQL (whose 32-bit ids are where large ones fail)."""

    class StoreOnTheDatabase(Store):
        def __init__(self, _: str) -> None:
            super().__init__(database_url)

    async with running_pbxhub(temporal_env, tmp_path, store_class=StoreOnTheDatabase) as hub:
        yield hub


async def test_every_answer_matches_the_openapi_description(hub_on_each_store: Pbxhub) -> None:
    pbxhub = hub_on_each_store
    await some_of_everything(pbxhub)
    schema = schemathesis.openapi.from_dict((await pbxhub.http.get("/openapi.json")).json())
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()  # the description itself is valid
        if not result.ok().path.startswith(LEFT_OUT):
            operations.append(result.ok())
    assert len(operations) >= 38, [op.label for op in operations]
    send = sender(pbxhub, asyncio.get_running_loop())

    def run_all() -> list[str]:
        return [failure for op in operations for failure in failures_of(op, send)]

    failures = await asyncio.to_thread(run_all)

    assert not failures, f"{len(failures)} answers differ from the OpenAPI:\n\n" + "\n\n".join(
        failures
    )
