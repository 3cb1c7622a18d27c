"""Per-request variables in ingress mappings: a value computed once (`vars`), read by the map,
`when`, keys and replies; what a var reads is consumed like any read; mistakes fail at load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from spec_hub import write_spec

from providers.engine import ChannelContext, IncomingRequest, handle_request
from providers.spec import SpecError

MOSCOW = ChannelContext(channel_id=7)


def acme(endpoint: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "acme",
        "title": "ACME PBX",
        "sources": {"doc": "ACME webhook docs"},
        "endpoints": {"hook": endpoint},
    }


def hook(*events: dict[str, Any], **options: Any) -> dict[str, Any]:
    return {
        "methods": ["POST"],
        "body": {"format": "json"},
        "session_id": "{{ body.call_id | as_str }}",
        "idempotency_key": "{{ session_id }}:{{ event }}",
        "events": list(events),
        **options,
    }


def finished(**options: Any) -> dict[str, Any]:
    return {
        "name": "finished",
        "recognize": {"match": True},
        "schema": {"type": "object", "required": ["call_id"]},
        "kind": "call_finished",
        **options,
    }


def post(body: dict[str, Any]) -> IncomingRequest:
    return IncomingRequest(
        method="POST",
        headers={"content-type": "application/json"},
        query={},
        body=json.dumps(body).encode(),
    )


# The PBX sends one duration and says whether it was talk: written once, read three times.
TALK = {
    "talk": "(body.duration | as_int) if body.status == 'answered' else 0",
}


def test_a_var_is_computed_once_and_read_by_the_map_when_the_key_and_the_reply(
    tmp_path: Path,
) -> None:
    spec = write_spec(
        tmp_path,
        acme(
            hook(
                finished(
                    vars={"answered": "vars.talk > 0"},
                    map={"talk_seconds": "vars.talk", "answered": "vars.answered"},
                    when="vars.answered or body.status == 'busy'",
                    idempotency_key="{{ session_id }}:{{ event }}:{{ vars.talk }}",
                    reply={"body": '{"talk": {{ vars.talk }}}'},
                ),
                vars=TALK,
            )
        ),
    )
    outcome = handle_request(
        spec, "hook", post({"call_id": 5, "status": "answered", "duration": "42"}), MOSCOW
    )
    (event,) = outcome.events
    assert (event.talk_seconds, event.answered) == (42, True)
    assert event.idempotency_key == "5:finished:42"
    assert json.loads(outcome.reply.body) == {"talk": 42}
    # `when` reads the var too: an unanswered call that was not busy emits nothing
    missed = handle_request(
        spec, "hook", post({"call_id": 6, "status": "noanswer", "duration": "9"}), MOSCOW
    )
    assert missed.events == ()


def test_parameters_read_through_a_var_do_not_go_to_extra(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, acme(hook(finished(map={"talk_seconds": "vars.talk"}), vars=TALK)))
    outcome = handle_request(
        spec,
        "hook",
        post({"call_id": 5, "status": "answered", "duration": "42", "utm_source": "ads"}),
        MOSCOW,
    )
    assert outcome.events[0].extra == {"utm_source": "ads"}


def test_an_events_var_replaces_the_endpoints_var_of_the_same_name(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path,
        acme(
            hook(
                finished(vars={"talk": "body.billsec | as_int"}, map={"talk_seconds": "vars.talk"}),
                vars=TALK,
            )
        ),
    )
    outcome = handle_request(
        spec,
        "hook",
        post({"call_id": 5, "status": "answered", "duration": "42", "billsec": 30}),
        MOSCOW,
    )
    assert outcome.events[0].talk_seconds == 30
    assert outcome.events[0].extra == {"duration": "42", "status": "answered"}


@pytest.mark.parametrize(
    ("endpoint", "path", "message"),
    [
        (
            hook(finished(map={"talk_seconds": "vars.tlak"}), vars=TALK),
            "endpoints.hook.events[0].map.talk_seconds",
            "reads vars.tlak, which is not declared (vars here: talk)",
        ),
        (
            hook(finished(), vars={"a": "vars.b", "b": "1"}),
            "endpoints.hook.vars.a",
            "reads vars.b, which is declared after it",
        ),
        (
            hook(finished(), vars={"a": "body.x | no_such_filter"}),
            "endpoints.hook.vars.a",
            "no filter named 'no_such_filter'",
        ),
        (
            hook(
                finished(),
                vars={"now": "received_at", "later": "vars.now"},
                idempotency_key="{{ session_id }}:{{ vars.later }}",
            ),
            "endpoints.hook.idempotency_key",
            "reads vars.later, which depends on received_at",
        ),
        (
            hook(finished(recognize={"match": "vars.x"}), vars={"x": "true"}),
            "endpoints.hook.events[0].recognize.match",
            "unknown name(s) vars",
        ),
    ],
)
def test_a_var_mistake_is_an_error_at_load_naming_its_place(
    tmp_path: Path, endpoint: dict[str, Any], path: str, message: str
) -> None:
    with pytest.raises(SpecError) as caught:
        write_spec(tmp_path, acme(endpoint))
    assert [(p.path, message in p.message) for p in caught.value.problems] == [(path, True)]
