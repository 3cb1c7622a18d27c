"""The `signature` auth kind on small specs written for the test: where the PBX sends it (a
header, a query parameter, a body field), what it is (an HMAC, a plain digest over the secret and
the body, a shared token), how it is written (hex, base64, base64 of the hex), and that every
refusal, whatever the kind, is 401 and touches no secret. The older spellings `hmac_signature`
and `token_field` load as the same mechanism."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from test_provider_engine import endpoint, event, make_spec, post

from providers.engine import ChannelContext, handle_request
from providers.rejections import RequestRejected
from providers.signatures import Signature
from providers.spec import ProviderSpec, SpecError

CHANNEL = ChannelContext(
    channel_id=1, secrets={"api_key": "k3y", "api_salt": "s4lt", "hmac": "h-secret"}
)
FORM = "application/x-www-form-urlencoded"
START = {"type": "start", "call_id": 1}


def spec_with(tmp_path: Path, *auth: dict[str, Any], **options: Any) -> ProviderSpec:
    return make_spec(tmp_path, endpoint(event("start"), auth=list(auth), **options))


def refusal(spec: ProviderSpec, request: Any, channel: ChannelContext = CHANNEL) -> Any:
    with pytest.raises(RequestRejected) as caught:
        handle_request(spec, "hook", request, channel)
    return caught.value


# --- Mango Office style: sha256(api_key + json + api_salt) in the form field `sign` ------------

MANGO = {
    "kind": "signature",
    "in": "body",
    "name": "sign",
    "algorithm": "sha256",
    "signed_string": "{{ channel.secrets.api_key ~ body.json ~ channel.secrets.api_salt }}",
    "requires": ["channel.secrets.api_key", "channel.secrets.api_salt"],
}


def mango_form(payload: dict[str, Any], *, key: str = "k3y", salt: str = "s4lt") -> bytes:
    text = json.dumps(payload)
    sign = hashlib.sha256((key + text + salt).encode()).hexdigest()
    return urlencode({"vpbx_api_key": key, "sign": sign, "json": text}).encode()


def mango_spec(tmp_path: Path) -> ProviderSpec:
    return make_spec(
        tmp_path,
        endpoint(
            event("start", recognize={"match": "'json' in body"}, schema={"type": "object"}),
            body={"format": "form"},
            session_id="{{ (body.json | from_json).entry_id }}",
            auth=[MANGO],
        ),
    )


def test_a_plain_digest_over_key_json_and_salt_in_a_form_field_is_accepted(
    tmp_path: Path,
) -> None:
    spec = mango_spec(tmp_path)
    body = mango_form({"entry_id": "MTA1", "call_state": "Appeared"})

    [started] = handle_request(spec, "hook", post(body, content_type=FORM), CHANNEL).events

    assert started.session_id == "MTA1"
    assert "sign" not in started.extra  # the signature is not one of the PBX's parameters


@pytest.mark.parametrize(
    ("case", "body"),
    [
        ("another salt", mango_form({"entry_id": "MTA1"}, salt="guessed")),
        ("json changed", mango_form({"entry_id": "MTA1"}).replace(b"MTA1", b"MTA2")),
        ("no sign", urlencode({"json": '{"entry_id": "MTA1"}'}).encode()),
    ],
)
def test_a_plain_digest_that_does_not_cover_this_body_and_secret_is_401(
    tmp_path: Path, case: str, body: bytes
) -> None:
    refused = refusal(mango_spec(tmp_path), post(body, content_type=FORM))
    assert refused.status == 401, case
    assert "sign" in refused.message


def test_a_channel_without_the_salt_refuses_a_digest_anyone_could_compute(tmp_path: Path) -> None:
    unsalted = ChannelContext(channel_id=1, secrets={"api_key": "k3y"})
    body = mango_form({"entry_id": "MTA1"}, salt="")
    refused = refusal(mango_spec(tmp_path), post(body, content_type=FORM), unsalted)
    assert refused.status == 401
    assert refused.message == "the channel has no secrets.api_salt to check the signature with"


def test_a_plain_digest_must_name_the_secrets_it_covers(tmp_path: Path) -> None:
    naked = {key: value for key, value in MANGO.items() if key != "requires"}
    with pytest.raises(SpecError) as caught:
        spec_with(tmp_path, naked)
    assert caught.value.path == "endpoints.hook.auth[0].requires"


# --- HMAC, wherever it is sent and however it is written -----------------------------------------


def hmac_digest(text: str, algorithm: str = "sha256") -> bytes:
    return hmac.new(b"h-secret", text.encode(), algorithm).digest()


HMAC = {
    "kind": "signature",
    "algorithm": "sha256",
    "key": "{{ channel.secrets.hmac }}",
    "signed_string": "{{ raw_body }}",
}


@pytest.mark.parametrize(
    ("where", "encoding", "written"),
    [
        ("header", "hex", lambda raw: "sha256=" + raw.hex().upper()),
        ("header", "base64", lambda raw: "sha256=" + base64.b64encode(raw).decode()),
        ("query", "base64_hex", lambda raw: base64.b64encode(raw.hex().encode()).decode()),
        ("body", "hex", lambda raw: raw.hex()),
    ],
)
def test_an_hmac_is_read_from_a_header_a_query_parameter_or_a_body_field(
    tmp_path: Path, where: str, encoding: str, written: Any
) -> None:
    auth = {**HMAC, "in": where, "name": "X-Sig", "encoding": encoding, "prefix": "sha256="}
    if where == "body":
        auth["signed_string"] = "{{ body.call_id }}:{{ body.type }}"
    spec = spec_with(tmp_path, auth)
    raw = json.dumps(START).encode()
    value = written(hmac_digest("1:start" if where == "body" else raw.decode()))
    request = {
        "header": post(raw, headers={"x-sig": value}),
        "query": post(raw, query={"X-Sig": value}),
        "body": post({**START, "X-Sig": value}),
    }[where]

    assert handle_request(spec, "hook", request, CHANNEL).events

    wrong = {
        "header": post(raw, headers={"x-sig": value[:-2] + "00"}),
        "query": post(raw, query={"X-Sig": "d3Jvbmc="}),
        "body": post({**START, "call_id": 2, "X-Sig": value}),
    }[where]
    assert refusal(spec, wrong).status == 401


def test_the_older_hmac_signature_spelling_is_the_same_mechanism(tmp_path: Path) -> None:
    older = {
        "kind": "hmac_signature",
        "header": "X-Sig",
        "signed_string": "{{ raw_body }}",
        "key": "{{ channel.secrets.hmac }}",
        "encoding": "base64_hex",
    }
    spec = spec_with(tmp_path, older)
    [mechanism] = spec.endpoints["hook"].auth
    assert isinstance(mechanism, Signature)
    assert (mechanism.location, mechanism.name, mechanism.algorithm) == ("header", "X-Sig", "sha1")
    raw = json.dumps(START).encode()
    value = base64.b64encode(hmac_digest(raw.decode(), "sha1").hex().encode()).decode()
    assert handle_request(spec, "hook", post(raw, headers={"x-sig": value}), CHANNEL).events


# --- a shared token ------------------------------------------------------------------------------

TOKEN = {
    "kind": "signature",
    "in": "query",
    "name": "token",
    "algorithm": "none",
    "signed_string": "{{ channel.secrets.api_key }}",
}


def test_a_shared_token_is_compared_as_sent(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, TOKEN)
    assert handle_request(spec, "hook", post(START, query={"token": "k3y"}), CHANNEL).events


@pytest.mark.parametrize(
    ("auth", "request_", "channel", "reason"),
    [
        (TOKEN, post(START, query={"token": "K3Y"}), CHANNEL, "query parameter token is wrong"),
        (TOKEN, post(START), CHANNEL, "token query parameter token is missing"),
        (TOKEN, post(START, query={"token": ""}), ChannelContext(channel_id=1), "no token"),
        (
            {"kind": "token_field", "in": "body", "name": "t", "secret": "{{ 'x' }}"},
            post({**START, "t": "y"}),
            CHANNEL,
            "body field t is wrong",
        ),
        (
            {**HMAC, "name": "X-Sig"},
            post(START, headers={"x-sig": "00"}),
            ChannelContext(channel_id=1),
            "the channel has no secret",
        ),
        (
            {**HMAC, "name": "X-Sig"},
            post(START, headers={"x-sig": "00"}),
            CHANNEL,
            "signature header X-Sig does not match",
        ),
    ],
    ids=["wrong token", "no token", "no secret", "older token_field", "no hmac key", "wrong hmac"],
)
def test_every_signature_refusal_is_401_with_its_reason_and_no_secret(
    tmp_path: Path, auth: dict[str, Any], request_: Any, channel: ChannelContext, reason: str
) -> None:
    refused = refusal(spec_with(tmp_path, auth), request_, channel)
    assert refused.status == 401
    assert reason in refused.message
    assert not any(secret in refused.message for secret in ("k3y", "s4lt", "h-secret"))


def test_a_source_address_not_allowed_stays_403(tmp_path: Path) -> None:
    allowlist = {"kind": "source_ip_allowlist", "networks": ["192.0.2.0/24"]}
    refused = refusal(spec_with(tmp_path, allowlist), post(START, client_host="198.51.100.7"))
    assert refused.status == 403


def test_a_token_takes_no_key_or_encoding(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="takes no key or encoding"):
        spec_with(tmp_path, {**TOKEN, "encoding": "base64"})
