"""JSON text inside a form field (`json=<JSON string>` beside `vpbx_api_key` and `sign`, as Mango
Office posts it), declared once per endpoint as `body.json_fields`: decoded once, after auth, with
the bounded JSON reader, then validated, recognised, mapped and kept in extra like any body."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from test_provider_engine import make_spec, post

from providers.body_limits import MAX_DEPTH
from providers.engine import ChannelContext, handle_request
from providers.rejections import RequestRejected
from providers.spec import ProviderSpec, SpecError

SALT = "s4lt"
CHANNEL = ChannelContext(channel_id=3, secrets={"api_salt": SALT})
FORM = "application/x-www-form-urlencoded"

RINGING = {
    "entry_id": "MTIzNDU2",
    "call_id": "NjU0MzIx",
    "seq": 1,
    "call_state": "Appeared",
    "from": {"number": "79161234567"},
    "to": {"extension": "101", "line_number": "74950000001"},
    "location": "ivr",
}


def json_field_endpoint(**options: Any) -> dict[str, Any]:
    events = options.pop("events", None) or [
        {
            "name": "ringing",
            "recognize": {"field": "json.call_state", "values": ["Appeared"]},
            "schema": {
                "type": "object",
                "required": ["json"],
                "properties": {
                    "json": {"type": "object", "required": ["entry_id", "call_state", "seq"]}
                },
            },
            "kind": "ringing",
            "map": {
                "contact_phone_raw": "body.json.from.number",
                "employee_extension": "body.json.to.extension",
                "virtual_number": "body.json.to.line_number",
            },
        },
        {
            "name": "talk",
            "recognize": {"match": "body.json.call_state == 'Connected'"},
            "schema": {"type": "object"},
            "kind": "talk_started",
        },
    ]
    return {
        "methods": ["POST"],
        "body": {"format": "form", "json_fields": ["json"]},
        # the signature covers the field as sent: body.json is its text here
        "auth": [
            {
                "kind": "hmac_signature",
                "header": "Sign",
                "signed_string": "{{ body.vpbx_api_key }}{{ body.json }}",
                "key": "{{ channel.secrets.api_salt }}",
                "algorithm": "sha256",
            }
        ],
        "session_id": "{{ body.json.entry_id }}",
        "idempotency_key": "{{ session_id }}:{{ body.json.seq }}",
        "extra": {"exclude": ["vpbx_api_key"]},
        "events": events,
        **options,
    }


def mango_like(tmp_path: Path, **options: Any) -> ProviderSpec:
    return make_spec(tmp_path, json_field_endpoint(**options))


def notification(json_text: str, *, sign: str | None = None, **fields: str) -> Any:
    """A form as the PBX posts it: its key, the JSON text, other fields; signed unless told."""
    form = {"vpbx_api_key": "key123", "json": json_text, **fields}
    signature = (
        sign or hmac.new(SALT.encode(), ("key123" + json_text).encode(), hashlib.sha256).hexdigest()
    )
    return post(urlencode(form).encode(), content_type=FORM, headers={"sign": signature})


def rejection(spec: ProviderSpec, request: Any) -> RequestRejected:
    with pytest.raises(RequestRejected) as caught:
        handle_request(spec, "hook", request, CHANNEL)
    return caught.value


def test_the_json_field_is_recognised_mapped_and_kept_in_extra_like_any_body(
    tmp_path: Path,
) -> None:
    spec = mango_like(tmp_path)
    outcome = handle_request(spec, "hook", notification(json.dumps(RINGING), crm="1"), CHANNEL)
    assert outcome.event_name == "ringing"  # by the explicit field json.call_state
    [ringing] = outcome.events
    assert (ringing.session_id, ringing.idempotency_key) == ("MTIzNDU2", "MTIzNDU2:1")
    assert (ringing.contact_phone_raw, ringing.employee_extension, ringing.virtual_number) == (
        "79161234567",
        "101",
        "74950000001",
    )
    # what the mapping did not read, inside the JSON and beside it, as any nested parameter
    assert ringing.extra == {
        "json.call_id": "NjU0MzIx",
        "json.call_state": "Appeared",
        "json.location": "ivr",
        "json.seq": "1",  # read by the idempotency key only, which consumes nothing
        "crm": "1",
    }


def test_a_match_expression_reads_the_decoded_field(tmp_path: Path) -> None:
    spec = mango_like(tmp_path)
    connected = {**RINGING, "call_state": "Connected", "seq": 2}
    outcome = handle_request(spec, "hook", notification(json.dumps(connected)), CHANNEL)
    assert outcome.event_name == "talk"
    assert outcome.events[0].kind == "talk_started"


def test_a_wrong_signature_is_401_and_the_json_is_not_decoded(tmp_path: Path) -> None:
    spec = mango_like(tmp_path)
    # broken JSON under a wrong signature: refused for the signature, never decoded (else 422)
    assert rejection(spec, notification('{"entry_id": ', sign="0" * 64)).status == 401
    assert rejection(spec, notification(json.dumps(RINGING), sign="0" * 64)).status == 401


@pytest.mark.parametrize(
    "text",
    ['{"entry_id": "MTIzNDU2", "call_state": "Appear', "not json", "", "[" * 10_000],
    ids=["cut short", "not json", "empty", "too deep"],
)
def test_a_json_field_that_is_not_json_is_422_naming_the_field(tmp_path: Path, text: str) -> None:
    refused = rejection(mango_like(tmp_path), notification(text))
    assert (refused.status, refused.field) == (422, "json")
    assert refused.message.startswith("json ")
    if text.startswith("["):
        assert f"deeper than {MAX_DEPTH} levels" in refused.message


def test_the_events_schema_validates_the_decoded_object(tmp_path: Path) -> None:
    spec = mango_like(tmp_path)
    without_seq = {k: v for k, v in RINGING.items() if k != "seq"}
    refused = rejection(spec, notification(json.dumps(without_seq)))
    assert (refused.status, refused.field) == (422, "json.seq")


def test_an_absent_json_field_is_left_to_the_schema(tmp_path: Path) -> None:
    spec = mango_like(tmp_path)
    form = urlencode({"vpbx_api_key": "key123", "call_state": "Appeared"}).encode()
    signature = hmac.new(SALT.encode(), b"key123", hashlib.sha256).hexdigest()
    request = post(form, content_type=FORM, headers={"sign": signature})
    # recognised by no event: the JSON that says which one is missing
    assert rejection(spec, request).status == 422


def test_an_event_of_a_json_fields_endpoint_cannot_declare_its_own_auth(tmp_path: Path) -> None:
    event = {
        "name": "ringing",
        "recognize": {"match": "true"},
        "schema": {"type": "object"},
        "kind": "ringing",
        "auth": [{"kind": "source_ip_allowlist", "networks": ["127.0.0.1/32"]}],
    }
    with pytest.raises(SpecError, match="authenticates before decoding"):
        mango_like(tmp_path, events=[event])
