"""Synchronous replies in the engine: declared lookups, prepare → finish, the fallback reply, the
load-time checks on them, and the channel's own source allow-list. No server: the engine is pure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from api.pbx_routing import ANSWERERS
from providers.engine import (
    ChannelContext,
    IncomingRequest,
    fallback_outcome,
    finish_request,
    handle_request,
    prepare_request,
)
from providers.examples import run_examples
from providers.lookups import (
    LOOKUP_KINDS,
    ContactAnswer,
    EmployeeAnswer,
    ResponsibleAnswer,
    answer_from_mapping,
)
from providers.rejections import RequestRejected
from providers.spec import ProviderSpec, SpecError
from providers.spec_loader import load_spec
from schemas import PROVIDER_SPEC_SCHEMA, load_schema

CHANNEL = ChannelContext(channel_id=7, settings={"returned_code": 5})

ROUTE_REPLY = (
    "{% set r = lookups.responsible %}"
    "{% if r.forward %}{{ {'to': r.employee.extension} | tojson }}"
    "{% else %}{{ {'code': channel.settings.returned_code} | tojson }}{% endif %}"
)
FALLBACK = {"body": "{{ {'code': channel.settings.returned_code, 'event': event} | tojson }}"}


def routing_event(**options: Any) -> dict[str, Any]:
    event = {
        "name": "route",
        "recognize": {"match": True},
        "schema": {"type": "object"},
        "kind": "call_started",
        "map": {"contact_phone": "body.caller | e164"},
        "lookups": {"responsible": {"phone": "body.caller | e164"}},
        "reply": {"body": ROUTE_REPLY},
        "fallback_reply": FALLBACK,
    }
    event.update(options)
    return {k: v for k, v in event.items() if v is not None}


def make_spec(tmp_path: Path, *events: dict[str, Any], **endpoint: Any) -> ProviderSpec:
    document = {
        "id": "acme",
        "title": "ACME PBX",
        "sources": {"doc": "ACME docs"},
        "endpoints": {
            "hook": {
                "methods": ["POST"],
                "body": {"format": "json"},
                "session_id": "{{ body.call_id | as_str }}",
                "idempotency_key": "{{ session_id }}:{{ event }}",
                "events": list(events) or [routing_event()],
                **endpoint,
            }
        },
    }
    path = tmp_path / "acme.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), "utf-8")
    return load_spec(path)


def post(body: dict[str, Any], client_host: str | None = "192.0.2.10") -> IncomingRequest:
    return IncomingRequest(
        "POST", {"content-type": "application/json"}, {}, json.dumps(body).encode(), client_host
    )


ANNA = ResponsibleAnswer(
    contact=ContactAnswer(id=5, name="Ivan", url="http://x/contacts/5", api_url="http://x/5"),
    employee=EmployeeAnswer(id=3, name="Anna", extension="101", phones=("+79031234567",)),
    forward=True,
    reason="forwarding_on",
)


def test_a_prepared_request_says_what_to_look_up_before_any_reply(tmp_path: Path) -> None:
    spec = make_spec(tmp_path)
    prepared = prepare_request(spec, "hook", post({"call_id": 1, "caller": "89161234567"}), CHANNEL)
    assert prepared.event_name == "route"
    assert dict(prepared.lookups_needed) == {"responsible": {"phone": "+79161234567"}}
    assert [e.kind for e in prepared.events] == ["call_started"]


def test_the_reply_is_rendered_with_the_answers_the_caller_read(tmp_path: Path) -> None:
    spec = make_spec(tmp_path)
    prepared = prepare_request(spec, "hook", post({"call_id": 1, "caller": "79161234567"}), CHANNEL)
    outcome = finish_request(prepared, {"responsible": ANNA})
    assert json.loads(outcome.reply.body) == {"to": "101"}
    assert outcome.fallback is False
    assert outcome.events == prepared.events


def test_the_fallback_reply_keeps_the_events_and_cannot_see_lookups(tmp_path: Path) -> None:
    spec = make_spec(tmp_path)
    prepared = prepare_request(spec, "hook", post({"call_id": 1, "caller": "79161234567"}), CHANNEL)
    outcome = fallback_outcome(prepared)
    assert json.loads(outcome.reply.body) == {"code": 5, "event": "route"}
    assert outcome.fallback is True
    assert [e.contact_phone for e in outcome.events] == ["+79161234567"]


def test_handle_request_without_answers_renders_the_reply_with_nothing_known(
    tmp_path: Path,
) -> None:
    spec = make_spec(tmp_path)
    outcome = handle_request(spec, "hook", post({"call_id": 1, "caller": "x"}), CHANNEL)
    assert json.loads(outcome.reply.body) == {"code": 5}


def test_an_event_without_lookups_falls_back_to_its_ordinary_reply(tmp_path: Path) -> None:
    plain = routing_event(lookups=None, fallback_reply=None, reply={"body": '{"ok": true}'})
    spec = make_spec(tmp_path, plain)
    prepared = prepare_request(spec, "hook", post({"call_id": 1}), CHANNEL)
    assert prepared.lookups_needed == {}
    assert fallback_outcome(prepared).reply.body == '{"ok": true}'


def test_lookups_and_fallback_declared_on_the_endpoint_serve_every_event(tmp_path: Path) -> None:
    event = routing_event(lookups=None, fallback_reply=None)
    spec = make_spec(
        tmp_path,
        event,
        lookups={"responsible": {"phone": "body.caller | e164"}},
        fallback_reply=FALLBACK,
    )
    prepared = prepare_request(spec, "hook", post({"call_id": 1, "caller": "79161234567"}), CHANNEL)
    assert dict(prepared.lookups_needed) == {"responsible": {"phone": "+79161234567"}}
    assert fallback_outcome(prepared).fallback is True


@pytest.mark.parametrize(
    ("change", "path", "problem"),
    [
        (
            {"fallback_reply": None},
            "endpoints.hook.events[0]",
            "needs a fallback_reply",
        ),
        (
            {"fallback_reply": {"body": "{{ lookups.responsible.forward }}"}},
            "endpoints.hook.events[0].fallback_reply.body",
            "unknown name(s) lookups",
        ),
        (
            {"lookups": {"responsible": {"phone": "body.caller | e165"}}},
            "endpoints.hook.events[0].lookups.responsible.phone",
            "no filter named 'e165'",
        ),
        (
            {"lookups": {"responsible": {"phone": "events"}}},
            "endpoints.hook.events[0].lookups.responsible.phone",
            "unknown name(s) events",
        ),
        (
            {"lookups": {"responsible": {}}},
            "endpoints.hook.events[0].lookups.responsible",
            "missing required key 'phone'",
        ),
        (
            {"lookups": {"weather": {"city": "'Moscow'"}}},
            "endpoints.hook.events[0].lookups",
            "weather",
        ),
    ],
    ids=[
        "no fallback",
        "fallback reads lookups",
        "unknown filter in an argument",
        "unknown name in an argument",
        "argument missing",
        "unknown kind",
    ],
)
def test_a_wrong_lookup_declaration_is_named_with_its_path_at_load(
    tmp_path: Path, change: dict[str, Any], path: str, problem: str
) -> None:
    with pytest.raises(SpecError) as caught:
        make_spec(tmp_path, routing_event(**change))
    assert any(p.path == path and problem in p.message for p in caught.value.problems), str(
        caught.value
    )


def test_the_closed_list_of_kinds_is_the_same_in_engine_meta_schema_and_ingress() -> None:
    meta = load_schema(PROVIDER_SPEC_SCHEMA)["$defs"]["lookups"]["properties"]
    assert set(meta) == set(LOOKUP_KINDS) == set(ANSWERERS)
    for kind, lookup in LOOKUP_KINDS.items():
        assert set(meta[kind]["properties"]) == set(lookup.arguments)
        assert set(meta[kind]["required"]) == set(lookup.arguments)


def test_an_example_answer_with_a_field_the_ingress_never_gives_fails_the_example(
    tmp_path: Path,
) -> None:
    with pytest.raises(ValueError, match="unknown key"):
        answer_from_mapping("responsible", {"employee": {"id": 1, "name": "A", "mobile": "1"}})
    spec = make_spec(tmp_path)
    document = dict(spec.document)
    document["examples"] = [
        {
            "name": "typo in the answer",
            "endpoint": "hook",
            "lookups": {"responsible": {"forward": True, "reason": "forwarding_on", "emp": {}}},
            "request": {"json": {"call_id": 1}},
            "expect": {"events": []},
        }
    ]
    path = tmp_path / "acme.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), "utf-8")
    result = run_examples(load_spec(path)).results[0]
    assert not result.passed and "unknown key(s) emp" in result.error


def test_an_example_answer_becomes_the_typed_answer_the_ingress_gives() -> None:
    answer = answer_from_mapping(
        "responsible",
        {"employee": {"id": 3, "name": "Anna", "phones": ["+79031234567"]}, "forward": True},
    )
    assert answer.employee == EmployeeAnswer(3, "Anna", None, ("+79031234567",))
    assert answer.employee.phone == "+79031234567"
    assert answer_from_mapping("something_else", {"x": 1}) == {"x": 1}


# --- the channel's own source allow-list ----------------------------------------------------


def channel_allowing(networks: Any) -> ChannelContext:
    return ChannelContext(channel_id=7, settings={"allowed_sources": networks})


@pytest.mark.parametrize(
    ("networks", "client", "allowed"),
    [
        (["194.88.218.0/24", "45.91.130.82"], "194.88.218.116", True),
        (["194.88.218.0/24", "45.91.130.82"], "45.91.130.82", True),
        (["194.88.218.0/24", "45.91.130.82"], "45.91.130.83", False),
        ("194.88.218.0/24, 2001:db8::/32", "2001:db8::1", True),
        (["194.88.218.0/24"], None, False),
        (["not a network"], "194.88.218.116", False),
        ({"a": "b"}, "194.88.218.116", False),
        ([], "198.51.100.1", True),
        (None, "198.51.100.1", True),
    ],
)
def test_a_channels_allowed_sources_decide_before_anything_else(
    tmp_path: Path, networks: Any, client: str | None, allowed: bool
) -> None:
    spec = make_spec(tmp_path)
    # a body that is not even JSON: a refused source learns nothing about what it would be
    request = IncomingRequest("POST", {}, {}, b"not json", client)
    with pytest.raises(RequestRejected) as caught:
        prepare_request(spec, "hook", request, channel_allowing(networks))
    assert caught.value.status == (400 if allowed else 403)
