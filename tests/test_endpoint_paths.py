"""Endpoint paths: a PBX given one base URL appends its own sub-paths (`<base>/events/call`);
each endpoint of a spec declares the path it answers at, and anything else under /hooks is
answered with the documented JSON error and logged with its reason."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from spec_hub import spec_hub, write_spec
from temporalio.testing import WorkflowEnvironment

from providers.spec import SpecError


def acme(**endpoints: dict[str, Any]) -> dict[str, Any]:
    """A PBX that appends sub-paths to its base URL, with the endpoints given (by name)."""
    return {
        "id": "acme",
        "title": "ACME PBX",
        "sources": {"doc": "ACME webhook docs"},
        "endpoints": endpoints,
    }


def events_endpoint(kind: str, **options: Any) -> dict[str, Any]:
    return {
        "methods": ["POST"],
        "body": {"format": "json"},
        "session_id": "{{ body.call_id | as_str }}",
        "idempotency_key": "{{ session_id }}:{{ event }}",
        "events": [
            {
                "name": kind,
                "recognize": {"match": True},
                "schema": {"type": "object", "required": ["call_id"]},
                "kind": kind,
            }
        ],
        **options,
    }


ACME = acme(
    call=events_endpoint("call_started", path="events/call"),
    summary=events_endpoint("call_finished", path="events/summary"),
    record=events_endpoint("recording_ready", path="events/record/added"),
    ping=events_endpoint("status_update"),  # no path: answers at its name, as before paths
)


# --- the spec loader --------------------------------------------------------------------------


def test_every_endpoint_answers_at_its_path_or_else_its_name(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, ACME)
    assert {name: ep.url_path for name, ep in spec.endpoints.items()} == {
        "call": "events/call",
        "summary": "events/summary",
        "record": "events/record/added",
        "ping": "ping",
    }
    record = spec.endpoint_at("events/record/added")
    assert record is not None and record.name == "record"
    assert spec.endpoint_at("events") is None
    assert spec.endpoint_at("record") is None  # a name with a path answers only at its path


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("/events/call", "must not start with '/'"),
        ("events/call/", "must not end with '/'"),
        ("events//call", "empty segment"),
        ("events/../call", "'..' segment"),
        ("./call", "'.' segment"),
        ("events/call?x=1", "may hold only letters, digits and -._~"),
        ("events/%2e%2e", "may hold only letters, digits and -._~"),
    ],
)
def test_a_path_that_is_not_clean_segments_is_refused_at_load(
    tmp_path: Path, path: str, problem: str
) -> None:
    with pytest.raises(SpecError) as caught:
        write_spec(tmp_path, acme(call=events_endpoint("call_started", path=path)))
    assert caught.value.path == "endpoints.call.path"
    assert problem in caught.value.problem


def test_two_endpoints_cannot_claim_one_path_even_a_default_one(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        write_spec(
            tmp_path,
            acme(
                summary=events_endpoint("call_finished"),
                other=events_endpoint("call_finished", path="summary"),
            ),
        )
    assert [(p.path, p.message) for p in caught.value.problems] == [
        ("endpoints.other.path", "path 'summary' is already the path of endpoint 'summary'")
    ]


# --- over HTTP --------------------------------------------------------------------------------


async def test_a_pbx_given_the_base_url_reaches_each_endpoint_at_its_sub_path(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with spec_hub(temporal_env, tmp_path, write_spec(tmp_path, ACME)) as hub:
        channel = await hub.create_channel("acme")
        base = channel["webhook_base_url"]
        assert base == f"http://testserver/hooks/acme/{channel['secret_key']}"
        assert channel["webhook_urls"] == {
            "call": f"{base}/events/call",
            "summary": f"{base}/events/summary",
            "record": f"{base}/events/record/added",
            "ping": f"{base}/ping",
        }
        for sub_path in ("events/call", "events/summary", "events/record/added", "ping"):
            response = await hub.http.post(f"{base}/{sub_path}", json={"call_id": 7})
            assert response.status_code == 200, (sub_path, response.text)
        assert len(await hub.signals(channel, "7")) == 4


async def test_the_shipped_specs_keep_their_urls(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with spec_hub(temporal_env, tmp_path) as hub:
        channel = await hub.create_channel("binotel")
        base = f"http://testserver/hooks/binotel/{channel['secret_key']}"
        assert channel["webhook_urls"] == {
            name: f"{base}/{name}" for name in ("push", "settings", "completed")
        }


@pytest.mark.parametrize(
    ("method", "url", "status", "reason"),
    [
        ("POST", "/hooks/nobody/{key}/events/call", 404, "unknown provider"),
        ("POST", "/hooks/acme/{key}/events/nothing", 404, "no endpoint of acme at this path"),
        ("POST", "/hooks/acme/{key}/events", 404, "no endpoint of acme at this path"),
        ("POST", "/hooks/acme/{key}/", 404, "no endpoint of acme at this path"),
        ("POST", "/hooks/acme/not-a-key/events/call", 404, "unknown channel key"),
        ("POST", "/hooks/acme/{key}", 404, "not a webhook URL"),
        ("GET", "/hooks/acme", 404, "not a webhook URL"),
        ("POST", "/hooks", 404, "not a webhook URL"),
        ("DELETE", "/hooks/acme/{key}/events/call", 405, "method DELETE not allowed; use POST"),
        ("PATCH", "/hooks/acme/{key}", 404, "not a webhook URL"),
        ("GET", "/hooks/acme/{key}/events/call", 405, "method GET not allowed; use POST"),
    ],
)
async def test_a_request_to_no_endpoint_gets_the_json_error_and_leaves_its_reason_in_the_log(
    temporal_env: WorkflowEnvironment,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    method: str,
    url: str,
    status: int,
    reason: str,
) -> None:
    async with spec_hub(temporal_env, tmp_path, write_spec(tmp_path, ACME)) as hub:
        channel = await hub.create_channel("acme")
        key = channel["secret_key"]
        with caplog.at_level(logging.WARNING, logger="pbxhub.ingress"):
            response = await hub.http.request(method, url.format(key=key), json={"call_id": 1})
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    assert set(answer) == {"error", "field"} and reason in answer["error"]
    logged = [r.getMessage() for r in caplog.records if r.name == "pbxhub.ingress"]
    assert len(logged) == 1 and reason in logged[0] and f"with {status}" in logged[0]
    assert key not in logged[0]  # the channel key is a secret, even in a URL that is wrong


async def test_a_wrong_url_cannot_write_lines_into_the_log(
    temporal_env: WorkflowEnvironment, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with spec_hub(temporal_env, tmp_path, write_spec(tmp_path, ACME)) as hub:
        channel = await hub.create_channel("acme")
        with caplog.at_level(logging.WARNING, logger="pbxhub.ingress"):
            response = await hub.http.post(
                f"/hooks/acme/{channel['secret_key']}/events%0Aaccepted%20call_started",
                json={"call_id": 1},
            )
    assert response.status_code == 404
    (logged,) = [r.getMessage() for r in caplog.records if r.name == "pbxhub.ingress"]
    assert "\n" not in logged and "events\\naccepted call_started" in logged


async def test_a_body_field_named_with_a_line_break_cannot_write_lines_into_the_log(
    temporal_env: WorkflowEnvironment, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    strict = events_endpoint("call_started", path="events/call")
    strict["events"][0]["schema"] = {
        "type": "object",
        "required": ["call_id"],
        "additionalProperties": {"type": "integer"},
    }
    async with spec_hub(temporal_env, tmp_path, write_spec(tmp_path, acme(call=strict))) as hub:
        channel = await hub.create_channel("acme")
        with caplog.at_level(logging.WARNING, logger="pbxhub.ingress"):
            response = await hub.http.post(
                channel["webhook_urls"]["call"],
                json={"call_id": 1, "x\nINFO accepted call_started": "forged"},
            )
    assert response.status_code == 422
    assert response.json()["field"] == "x\nINFO accepted call_started"  # the PBX reads it as sent
    (logged,) = [r.getMessage() for r in caplog.records if r.name == "pbxhub.ingress"]
    assert "\n" not in logged and "x\\nINFO accepted call_started" in logged
