"""A spec that fails on a request at run time: 422 naming the field when the request carries
the fault (a missing field, a value unreadable as what the spec reads it as), else a spec bug
logged with its place in the spec and answered 501 — never a framework 500 with a traceback."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from spec_hub import spec_hub, write_spec
from temporalio.testing import WorkflowEnvironment

from pbxhub.cli_providers import main as providers_cli
from providers.engine import ChannelContext, IncomingRequest, handle_request
from providers.rejections import MappingError, RequestRejected
from providers.spec import ProviderSpec

MOSCOW = ChannelContext(channel_id=7, settings={"offset": "soon"})


def acme(*events: dict[str, Any], **options: Any) -> dict[str, Any]:
    return {
        "id": "acme",
        "title": "ACME PBX",
        "sources": {"doc": "ACME webhook docs"},
        "endpoints": {
            "hook": {
                "methods": ["POST"],
                "body": {"format": "json"},
                "session_id": "{{ body.call_id | as_str }}",
                "idempotency_key": "{{ session_id }}:{{ event }}",
                "events": list(events),
                **options,
            }
        },
    }


def finished(**options: Any) -> dict[str, Any]:
    event = {
        "name": "finished",
        "recognize": {"match": True},
        "schema": {"type": "object", "required": ["call_id"]},
        "kind": "call_finished",
        **options,
    }
    if "emit" in options:
        del event["kind"]
    return event


def post(body: dict[str, Any]) -> IncomingRequest:
    return IncomingRequest(
        method="POST",
        headers={"content-type": "application/json"},
        query={},
        body=json.dumps(body).encode(),
    )


def refused(spec: ProviderSpec, body: dict[str, Any]) -> RequestRejected:
    with pytest.raises(RequestRejected) as caught:
        handle_request(spec, "hook", post(body), MOSCOW)
    return caught.value


def spec_bug(spec: ProviderSpec, body: dict[str, Any]) -> MappingError:
    with pytest.raises(MappingError) as caught:
        handle_request(spec, "hook", post(body), MOSCOW)
    return caught.value


# --- the request at fault: 422 naming the field ------------------------------------------------


def test_a_value_a_filter_cannot_read_names_its_field(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, acme(finished(map={"talk_seconds": "body.talk | as_int"})))
    rejected = refused(spec, {"call_id": 1, "talk": "a while"})
    assert (rejected.status, rejected.field) == (422, "talk")
    assert "not an integer: 'a while'" in rejected.message
    assert "endpoints.hook.events[0].map.talk_seconds" in rejected.message


def test_a_value_that_does_not_fit_its_event_field_names_its_field(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, acme(finished(map={"talk_seconds": "body.talk"})))
    rejected = refused(spec, {"call_id": 1, "talk": "abc"})
    assert (rejected.status, rejected.field) == (422, "talk")


def test_a_date_that_does_not_exist_names_its_field(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, acme(finished(map={"ended_at": "body.at | local_time"})))
    rejected = refused(spec, {"call_id": 1, "at": "2024-02-30 10:00:00"})
    assert (rejected.status, rejected.field) == (422, "at")


def test_a_unix_time_no_clock_can_hold_names_its_field(tmp_path: Path) -> None:
    # also read into a sum: the failure on the PBX's own value explains the sum's
    spec = write_spec(
        tmp_path,
        acme(
            finished(
                map={
                    "ended_at": "((body.start | as_int) + 60) | unix_time",
                    "started_at": "body.start | unix_time",
                }
            )
        ),
    )
    rejected = refused(spec, {"call_id": 1, "start": "1" * 25})
    assert (rejected.status, rejected.field) == (422, "start")
    assert "out of range" in rejected.message


def test_a_missing_field_an_operation_needs_is_named(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, acme(finished(map={"talk_seconds": "body.leg.talk + 1"})))
    rejected = refused(spec, {"call_id": 1})
    assert (rejected.status, rejected.field) == (422, "leg.talk")
    assert "leg.talk: missing" in rejected.message
    sent_as_null = refused(spec, {"call_id": 1, "leg": {"talk": None}})
    assert (sent_as_null.status, sent_as_null.field) == (422, "leg.talk")


def test_a_value_inside_a_list_is_named_with_its_index(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path,
        acme(
            finished(
                emit=[
                    {
                        "kind": "ringing",
                        "for_each": "body.legs",
                        "map": {"wait_seconds": "item.wait | as_int"},
                        "idempotency_key": "{{ session_id }}:{{ index }}",
                    }
                ]
            )
        ),
    )
    rejected = refused(spec, {"call_id": 1, "legs": [{"wait": "3"}, {"wait": "three"}]})
    assert (rejected.status, rejected.field) == (422, "legs[1].wait")


def test_a_value_read_through_a_var_is_named(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path,
        acme(finished(vars={"talk": "body.talk | as_int"}, map={"talk_seconds": "vars.talk"})),
    )
    rejected = refused(spec, {"call_id": 1, "talk": "n/a"})
    assert (rejected.status, rejected.field) == (422, "talk")
    assert "endpoints.hook.events[0].vars.talk" in rejected.message


def test_of_two_fields_with_the_same_text_the_one_read_is_named(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path,
        acme(finished(vars={"talk": "body.billsec"}, map={"talk_seconds": "vars.talk | as_int"})),
    )
    rejected = refused(spec, {"call_id": 1, "comment": "n/a", "billsec": "n/a"})
    assert (rejected.status, rejected.field) == (422, "billsec")


def test_a_key_left_empty_by_a_missing_field_names_it(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, acme(finished(idempotency_key="{{ body.event_id | as_str }}")))
    rejected = refused(spec, {"call_id": 1})
    assert (rejected.status, rejected.field) == (422, "event_id")


def test_a_reply_that_reads_an_unreadable_value_answers_as_the_endpoint_declares(
    tmp_path: Path,
) -> None:
    spec = write_spec(
        tmp_path,
        acme(
            finished(reply={"body": '{"wait": {{ body.wait | as_int }}}'}),
            rejections={"invalid": {"status": 400, "body": '{"error": "bad {{ field }}"}'}},
        ),
    )
    rejected = refused(spec, {"call_id": 1, "wait": "long"})
    assert (rejected.status, rejected.field) == (400, "wait")
    assert rejected.reply is not None and json.loads(rejected.reply.body) == {"error": "bad wait"}


# --- the spec at fault: a MappingError placed in the spec ------------------------------------


@pytest.mark.parametrize(
    ("event", "key"),
    [
        # a PBX time is read without a zone: the spec should use local_time
        (finished(map={"ended_at": "body.at"}), "map.ended_at"),
        # the PBX sent text, the spec computes with it without as_int
        (finished(map={"talk_seconds": "body.talk - 1"}), "map.talk_seconds"),
        # the channel's own setting is unreadable: nothing the PBX can fix
        (finished(map={"wait_seconds": "channel.settings.offset | as_int"}), "map.wait_seconds"),
        # a macro that calls itself
        (
            finished(reply={"body": "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"}),
            "reply.body",
        ),
    ],
)
def test_a_failure_the_request_does_not_explain_is_a_spec_bug_with_its_place(
    tmp_path: Path, event: dict[str, Any], key: str
) -> None:
    spec = write_spec(tmp_path, acme(event))
    bug = spec_bug(spec, {"call_id": 1, "at": "2024-03-01 10:00:00", "talk": "12"})
    assert bug.status == 501
    assert (bug.file, bug.endpoint, bug.event) == (str(spec.path), "hook", "finished")
    assert bug.path == f"endpoints.hook.events[0].{key}"


# --- over HTTP --------------------------------------------------------------------------------


async def test_over_http_the_pbx_gets_a_422_naming_the_field_and_nothing_is_started(
    temporal_env: WorkflowEnvironment, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spec = write_spec(tmp_path, acme(finished(map={"talk_seconds": "body.talk | as_int"})))
    async with spec_hub(temporal_env, tmp_path, spec) as hub:
        channel = await hub.create_channel("acme")
        with caplog.at_level(logging.WARNING, logger="pbxhub.ingress"):
            response = await hub.http.post(
                channel["webhook_urls"]["hook"], json={"call_id": 31, "talk": "a while"}
            )
        assert response.status_code == 422
        assert response.json()["field"] == "talk"
        with pytest.raises(Exception, match="not found"):
            await hub.signals(channel, "31")
    (logged,) = [r.getMessage() for r in caplog.records if r.name == "pbxhub.ingress"]
    assert "with 422" in logged and "talk" in logged


async def test_over_http_a_spec_bug_is_a_501_in_json_and_a_log_line_naming_its_place(
    temporal_env: WorkflowEnvironment, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spec = write_spec(tmp_path, acme(finished(map={"ended_at": "body.at"})))
    async with spec_hub(temporal_env, tmp_path, spec) as hub:
        channel = await hub.create_channel("acme")
        with caplog.at_level(logging.WARNING, logger="pbxhub.ingress"):
            response = await hub.http.post(
                channel["webhook_urls"]["hook"], json={"call_id": 32, "at": "2024-03-01 10:00"}
            )
    assert response.status_code == 501
    assert response.json() == {
        "error": "the provider spec cannot handle this request yet; retry later",
        "field": None,
        "at": "endpoints.hook.events[0].map.ended_at",
    }
    (record,) = [r for r in caplog.records if r.name == "pbxhub.ingress"]
    assert record.levelno == logging.ERROR and record.exc_info is None
    logged = record.getMessage()
    for place in (str(spec.path), "endpoints.hook.events[0].map.ended_at", "hook", "finished"):
        assert place in logged


async def test_over_http_a_reply_that_fails_after_the_events_are_durable_keeps_them(
    temporal_env: WorkflowEnvironment, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spec = write_spec(
        tmp_path, acme(finished(reply={"body": "{{ channel.settings.offset | as_int }}"}))
    )
    async with spec_hub(temporal_env, tmp_path, spec) as hub:
        channel = await hub.create_channel("acme", settings={"offset": "soon"})
        with caplog.at_level(logging.WARNING, logger="pbxhub.ingress"):
            response = await hub.http.post(channel["webhook_urls"]["hook"], json={"call_id": 33})
        assert response.status_code == 501
        # a retry once the spec is fixed is absorbed by the event's idempotency key
        assert len(await hub.signals(channel, "33")) == 1
    (logged,) = [r.getMessage() for r in caplog.records if r.name == "pbxhub.ingress"]
    assert "1 event(s) were accepted before the reply failed" in logged


# --- examples ---------------------------------------------------------------------------------


def test_an_example_declares_a_refused_request_and_the_whole_answer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = acme(finished(map={"talk_seconds": "body.talk | as_int"}))
    answer = {
        "error": "talk: not an integer: 'x' (read at endpoints.hook.events[0].map.talk_seconds)",
        "field": "talk",
    }
    document["examples"] = [
        {
            "name": "rejected: a talk that is no number",
            "endpoint": "hook",
            "request": {"json": {"call_id": 1, "talk": "x"}},
            "expect": {"rejected": {"status": 422, "field": "talk", "body": json.dumps(answer)}},
        },
        {
            "name": "rejected: the wrong field expected",
            "endpoint": "hook",
            "request": {"json": {"call_id": 1, "talk": "x"}},
            "expect": {"rejected": {"status": 422, "field": "call_id"}},
        },
    ]
    spec = write_spec(tmp_path, document)
    assert providers_cli(["providers", "test", str(spec.path)]) == 1
    out = capsys.readouterr().out
    assert "1/2 examples passed" in out
    assert "FAIL rejected: the wrong field expected" in out
    assert "-  field: call_id\n" in out and "+  field: talk\n" in out


async def test_over_http_a_routing_reply_that_cannot_read_the_request_answers_its_fallback(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    route = finished(
        emit=[],
        lookups={"responsible": {"phone": "body.phone | e164"}},
        reply={"body": '{"wait": {{ body.wait | as_int }}}'},
        fallback_reply={"body": '{"go_on": true}'},
    )
    async with spec_hub(temporal_env, tmp_path, write_spec(tmp_path, acme(route))) as hub:
        channel = await hub.create_channel("acme")
        response = await hub.http.post(
            channel["webhook_urls"]["hook"],
            json={"call_id": 34, "phone": "+79161234567", "wait": "soon"},
        )
    # the PBX waits on this answer to route the call: it gets one that lets it go on
    assert (response.status_code, response.json()) == (200, {"go_on": True})
