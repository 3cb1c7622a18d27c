"""Engine mechanisms a request/answer protocol needs (the CRM telephony API uses them all), each
with a small spec written for the test: declared rejections, a token under two names that never
reaches extra, prefixed analytics fields, and outbound actions rendered and read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from test_provider_engine import endpoint, event, make_spec, post

from providers.actions import ActionError, read_answer, render_action
from providers.engine import ChannelContext, handle_request
from providers.rejections import RequestRejected
from providers.spec import SpecError

TOKEN_AUTH = [
    {
        "kind": "token_field",
        "in": "body",
        "name": "planfix_token",
        "aliases": ["token"],
        "secret": "{{ channel.secrets.key }}",
    }
]
CHANNEL = ChannelContext(channel_id=1, secrets={"key": "s3cret"})
REJECTIONS = {
    "unauthorized": {"status": 401, "body": '{"error": "Invalid token"}'},
    "invalid": {
        "status": 400,
        "body": '{"error": "Invalid parameters", "why": {{ field | tojson }}}',
    },
}


def rejected(spec: Any, body: dict[str, Any]) -> RequestRejected:
    with pytest.raises(RequestRejected) as caught:
        handle_request(spec, "hook", post(body), CHANNEL)
    return caught.value


def test_declared_rejections_replace_the_status_and_body_and_keep_the_reason(
    tmp_path: Path,
) -> None:
    spec = make_spec(tmp_path, endpoint(event("start"), auth=TOKEN_AUTH, rejections=REJECTIONS))

    wrong = rejected(spec, {"type": "start", "call_id": 1, "planfix_token": "nope"})
    missing = rejected(spec, {"type": "start", "call_id": 1})
    unknown = rejected(spec, {"type": "other", "call_id": 1, "token": "s3cret"})
    invalid = rejected(spec, {"type": "start", "planfix_token": "s3cret"})

    for refusal in (wrong, missing):
        assert refusal.status == 401
        assert refusal.reply is not None
        assert (refusal.reply.status, json.loads(refusal.reply.body)) == (
            401,
            {"error": "Invalid token"},
        )
    assert "wrong" in wrong.message and "missing" in missing.message  # the log still says why
    assert unknown.status == 400 and "matches none" in unknown.message
    assert invalid.reply is not None
    assert json.loads(invalid.reply.body) == {"error": "Invalid parameters", "why": "call_id"}


def test_without_declared_rejections_the_engine_keeps_its_own(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, endpoint(event("start"), auth=TOKEN_AUTH))
    refusal = rejected(spec, {"type": "start", "call_id": 1, "planfix_token": "nope"})
    assert (refusal.status, refusal.reply) == (401, None)


def test_a_token_may_come_under_its_alias_and_never_reaches_extra(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, endpoint(event("start"), auth=TOKEN_AUTH))
    for name in ("planfix_token", "token"):
        body = {"type": "start", "call_id": 1, name: "s3cret", "other": "x"}
        [mapped] = handle_request(spec, "hook", post(body), CHANNEL).events
        assert mapped.extra == {"type": "start", "other": "x"}
    # both sent: the first name decides
    with pytest.raises(RequestRejected):
        body = {"type": "start", "call_id": 1, "planfix_token": "nope", "token": "s3cret"}
        handle_request(spec, "hook", post(body), CHANNEL)


def test_strip_prefixes_puts_data_fields_in_extra_under_their_own_name(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path, endpoint(event("start"), extra={"strip_prefixes": ["data_"], "exclude": ["type"]})
    )
    body = {
        "type": "start",
        "call_id": 1,
        "data_utm_source": "site.io",
        "utm_source": "overridden",
        "data_": "kept as is",
        "plain": "p",
    }
    [mapped] = handle_request(spec, "hook", post(body), CHANNEL).events
    assert mapped.extra == {"utm_source": "site.io", "data_": "kept as is", "plain": "p"}


ACTION: dict[str, Any] = {
    "request": {
        "method": "POST",
        "url": "{{ channel.settings.pbx_url }}",
        "format": "form",
        "fields": {
            "cmd": "makeCall",
            "from": "{{ args.employee.extension }}",
            "to": "{{ args.phone | digits }}",
            "token": "{{ channel.secrets.pbx }}",
        },
    },
    "answers": [
        {"when": "status == 200", "ok": True},
        {"when": "status == 401", "message": "wrong key for {{ args.employee.extension }}"},
    ],
}
ARGS = {"employee": {"id": 1, "name": "Anna", "extension": "101"}, "phone": "+79101234567"}


def action_spec(tmp_path: Path, action: dict[str, Any] = ACTION) -> Any:
    return make_spec(tmp_path, endpoint(event("start")), actions={"click_to_call": action})


def test_an_action_renders_to_the_channels_pbx_address(tmp_path: Path) -> None:
    spec = action_spec(tmp_path)
    channel = ChannelContext(
        channel_id=1, settings={"pbx_url": "https://pbx.test/api?x=1"}, secrets={"pbx": "k"}
    )
    request = render_action(
        spec.actions["click_to_call"], channel=channel, provider=spec.id, args=ARGS
    )
    assert (request.method, request.url) == ("POST", "https://pbx.test/api?x=1")
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert dict(parse_qsl(request.body.decode())) == {
        "cmd": "makeCall",
        "from": "101",
        "to": "79101234567",
        "token": "k",
    }
    assert request.describe() == "POST https://pbx.test/api"  # no query, no body: no keys


@pytest.mark.parametrize("url", ["", "ftp://pbx.test/x", "pbx.test/api", "http:///nohost"])
def test_an_action_without_an_http_address_is_not_sent(tmp_path: Path, url: str) -> None:
    spec = action_spec(tmp_path)
    channel = ChannelContext(channel_id=1, settings={"pbx_url": url})
    with pytest.raises(ActionError) as caught:
        render_action(spec.actions["click_to_call"], channel=channel, provider=spec.id, args=ARGS)
    assert not caught.value.spec_bug
    assert "set it in the channel's settings" in caught.value.message


def test_answers_are_read_by_the_first_matching_rule_else_by_status(tmp_path: Path) -> None:
    action = action_spec(tmp_path).actions["click_to_call"]

    def read(status: int, text: str = "") -> tuple[bool, str | None]:
        answer = read_answer(
            action, status=status, text=text, channel=CHANNEL, provider="acme", args=ARGS
        )
        return answer.ok, answer.message

    assert read(200) == (True, None)
    assert read(401) == (False, "wrong key for 101")
    assert read(500, '{"error": "down"}') == (False, 'the PBX answered HTTP 500: {"error": "down"}')
    assert read(204) == (True, None)  # no rule: 2xx is ok


def test_a_json_action_sends_its_fields_as_an_object(tmp_path: Path) -> None:
    action = {**ACTION, "request": {**ACTION["request"], "format": "json"}}
    spec = action_spec(tmp_path, action)
    channel = ChannelContext(channel_id=1, settings={"pbx_url": "http://pbx.test"})
    request = render_action(
        spec.actions["click_to_call"], channel=channel, provider="acme", args=ARGS
    )
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body)["to"] == "79101234567"


def test_a_broken_action_template_or_unknown_role_stops_the_spec(tmp_path: Path) -> None:
    broken = {**ACTION, "answers": [{"when": "statuss == 200", "ok": True}]}
    with pytest.raises(SpecError) as caught:
        action_spec(tmp_path, broken)
    assert caught.value.path == "actions.click_to_call.answers[0].when"
    with pytest.raises(SpecError) as unknown:
        make_spec(tmp_path, endpoint(event("start")), actions={"hang_up": ACTION})
    assert unknown.value.path == "actions"
