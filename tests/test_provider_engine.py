"""The provider engine's generic mechanisms, each shown with a small spec written for the test:
recognition, body formats, auth, extra, emissions, replies, coercion, filters and the sandbox."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from providers.engine import ChannelContext, IncomingRequest, handle_request
from providers.rejections import EndpointNotFound, MappingError, RequestRejected
from providers.spec import ProviderSpec, SpecError
from providers.spec_loader import load_spec
from providers.template_filters import FilterValueError, as_int, as_list, as_str, unix_time
from providers.templating import MAP_NAMES, compile_expression

MOSCOW = ChannelContext(channel_id=7)


def make_spec(tmp_path: Path, endpoint: dict[str, Any], **top: Any) -> ProviderSpec:
    document = {
        "id": "acme",
        "title": "ACME PBX",
        "sources": {"doc": "ACME webhook docs"},
        "endpoints": {"hook": endpoint},
        **top,
    }
    path = tmp_path / "acme.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), "utf-8")
    return load_spec(path)


def endpoint(*events: dict[str, Any], **options: Any) -> dict[str, Any]:
    return {
        "methods": ["POST"],
        "body": {"format": "json"},
        "session_id": "{{ body.call_id | as_str }}",
        "idempotency_key": "{{ session_id }}:{{ event }}",
        "events": list(events),
        **options,
    }


def event(name: str, **options: Any) -> dict[str, Any]:
    """An event recognised by `type` == its name, emitting call_started unless told otherwise."""
    spec_event = {
        "name": name,
        "recognize": {"match": f"body.type == '{name}'"},
        "schema": {"type": "object", "required": ["call_id"]},
        "kind": "call_started",
        **options,
    }
    if "emit" in options:
        del spec_event["kind"]
    return spec_event


def post(body: Any, *, content_type: str | None = "application/json", **kw: Any) -> IncomingRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    headers = {"content-type": content_type} if content_type else {}
    headers.update(kw.pop("headers", {}))
    return IncomingRequest("POST", headers, kw.pop("query", {}), raw, **kw)


# --- routing and recognition --------------------------------------------------------------------


def test_an_unknown_endpoint_is_endpoint_not_found(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, endpoint(event("start")))
    with pytest.raises(EndpointNotFound):
        handle_request(spec, "nope", post({}), MOSCOW)


def test_a_method_the_endpoint_does_not_take_is_405(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, endpoint(event("start")))
    request = IncomingRequest("GET", {}, {"call_id": "1"}, b"")
    with pytest.raises(RequestRejected) as caught:
        handle_request(spec, "hook", request, MOSCOW)
    assert caught.value.status == 405


def test_a_body_matching_no_event_is_422_without_a_field(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, endpoint(event("start")))
    with pytest.raises(RequestRejected) as caught:
        handle_request(spec, "hook", post({"type": "other", "call_id": 1}), MOSCOW)
    assert (caught.value.status, caught.value.field) == (422, None)
    assert "matches none of the events" in caught.value.message


def test_the_first_matching_shape_wins(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        endpoint(
            event("specific", recognize={"match": "'a' in body and 'b' in body"}),
            event("general", recognize={"match": "'a' in body"}),
        ),
    )
    both = handle_request(spec, "hook", post({"a": 1, "b": 2, "call_id": 1}), MOSCOW)
    only_a = handle_request(spec, "hook", post({"a": 1, "call_id": 1}), MOSCOW)
    assert (both.event_name, only_a.event_name) == ("specific", "general")


def test_an_explicit_field_value_wins_over_any_shape(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        endpoint(
            event("by_shape", recognize={"match": "'file_link' in body"}),
            event("by_code", recognize={"field": "meta.code", "values": ["finished", 42]}),
        ),
    )
    body: dict[str, Any] = {"file_link": "x", "meta": {"code": "finished"}, "call_id": 1}
    assert handle_request(spec, "hook", post(body), MOSCOW).event_name == "by_code"
    body["meta"]["code"] = 42
    assert handle_request(spec, "hook", post(body), MOSCOW).event_name == "by_code"
    body["meta"]["code"] = "unknown"
    assert handle_request(spec, "hook", post(body), MOSCOW).event_name == "by_shape"


def test_a_schema_failure_is_422_naming_the_nested_field(tmp_path: Path) -> None:
    schema = {
        "type": "object",
        "properties": {"employee_ids": {"type": "array", "items": {"type": "integer"}}},
    }
    spec = make_spec(tmp_path, endpoint(event("start", schema=schema)))
    with pytest.raises(RequestRejected) as caught:
        body = {"type": "start", "call_id": 1, "employee_ids": [1, 2, "x"]}
        handle_request(spec, "hook", post(body), MOSCOW)
    assert (caught.value.status, caught.value.field) == (422, "employee_ids[2]")
    assert caught.value.as_json() == {"error": caught.value.message, "field": "employee_ids[2]"}


def test_a_missing_required_field_is_named(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, endpoint(event("start")))
    with pytest.raises(RequestRejected) as caught:
        handle_request(spec, "hook", post({"type": "start"}), MOSCOW)
    assert caught.value.field == "call_id"


def test_an_empty_session_id_is_422(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, endpoint(event("start")))
    with pytest.raises(RequestRejected) as caught:
        handle_request(spec, "hook", post({"type": "start", "call_id": ""}), MOSCOW)
    assert caught.value.status == 422


# --- bodies ------------------------------------------------------------------------------------


def test_json_is_parsed_whatever_the_content_type_says(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, endpoint(event("start")))
    for content_type in ("text/plain", None, "application/x-www-form-urlencoded"):
        body = post({"type": "start", "call_id": 1}, content_type=content_type)
        assert handle_request(spec, "hook", body, MOSCOW).event_name == "start"


def test_broken_json_is_400(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, endpoint(event("start")))
    for raw in (b"{not json", b"", b"[1, 2]"):
        with pytest.raises(RequestRejected) as caught:
            handle_request(spec, "hook", post(raw), MOSCOW)
        assert caught.value.status == 400


def test_the_double_quote_artefact_needs_lenient_json(tmp_path: Path) -> None:
    raw = b'{"type":""start"", "call_id":""123""}'
    strict = make_spec(tmp_path, endpoint(event("start")))
    with pytest.raises(RequestRejected):
        handle_request(strict, "hook", post(raw), MOSCOW)
    lenient = make_spec(
        tmp_path, endpoint(event("start"), body={"format": "json", "lenient_json": True})
    )
    outcome = handle_request(lenient, "hook", post(raw), MOSCOW)
    assert outcome.events[0].session_id == "123"


def test_lenient_json_leaves_a_valid_body_untouched(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        endpoint(
            event("start", map={"contact_name": "body.name"}),
            body={"format": "json", "lenient_json": True},
        ),
    )
    body = {"type": "start", "call_id": 1, "name": 'He said ""hi"", ok: fine, yes'}
    outcome = handle_request(spec, "hook", post(body), MOSCOW)
    assert outcome.events[0].contact_name == body["name"]


def test_a_form_body_with_php_nested_keys_becomes_objects_and_lists(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        endpoint(
            event(
                "completed",
                recognize={"field": "requestType", "values": ["apiCallCompleted"]},
                schema={"type": "object"},
                map={
                    "contact_phone_raw": "body.callDetails.externalNumber",
                    "wait_seconds": "body.callDetails.historyData[1].waitsec | as_int",
                },
            ),
            body={"format": "form", "nested": "php"},
            session_id="{{ body.callDetails.generalCallID }}",
        ),
    )
    raw = (
        b"requestType=apiCallCompleted&callDetails[generalCallID]=555"
        b"&callDetails[externalNumber]=0671234567&callDetails[historyData][0][waitsec]=3"
        b"&callDetails[historyData][1][waitsec]=9&callDetails[callTrackingData][utm_source]=google"
    )
    outcome = handle_request(
        spec, "hook", post(raw, content_type="application/x-www-form-urlencoded"), MOSCOW
    )
    [mapped] = outcome.events
    assert (mapped.session_id, mapped.contact_phone_raw, mapped.wait_seconds) == (
        "555",
        "0671234567",
        9,
    )
    # what the mapping did not read stays, flattened to dotted keys; a list the mapping read
    # into (historyData) counts as read
    assert mapped.extra == {
        "requestType": "apiCallCompleted",
        "callDetails.callTrackingData.utm_source": "google",
    }


def test_a_query_string_endpoint_reads_the_query_as_its_body(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        endpoint(
            event(
                "echo",
                recognize={"match": "'zd_echo' in body"},
                schema={"type": "object"},
                emit=[],
                reply={"content_type": "text/plain", "body": "{{ body.zd_echo }}"},
            ),
            methods=["GET", "POST"],
            body={"format": "query"},
        ),
    )
    request = IncomingRequest("GET", {}, {"zd_echo": "abc123"}, b"")
    outcome = handle_request(spec, "hook", request, MOSCOW)
    assert outcome.events == ()
    assert (outcome.reply.body, outcome.reply.content_type) == ("abc123", "text/plain")


def test_a_multipart_body_gives_fields_and_keeps_files_out_of_extra(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        endpoint(
            event("start", map={"recording_url": "body.audio_record.filename"}),
            body={"format": ["json", "form", "multipart"]},
        ),
    )
    boundary = "XyZ"
    raw = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="type"\r\n\r\nstart\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="call_id"\r\n\r\n77\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="audio_record"; '
        f'filename="call.mp3"\r\nContent-Type: audio/mpeg\r\n\r\nID3data\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    request = post(raw, content_type=f"multipart/form-data; boundary={boundary}")
    [mapped] = handle_request(spec, "hook", request, MOSCOW).events
    assert mapped.session_id == "77"
    assert mapped.recording_url == "call.mp3"
    assert mapped.extra == {"type": "start"}


def test_several_formats_are_told_apart_by_content_type_or_by_sniffing(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path, endpoint(event("start"), body={"format": ["json", "form", "multipart"]})
    )
    form = post(b"type=start&call_id=5", content_type="application/x-www-form-urlencoded")
    sniffed_json = post({"type": "start", "call_id": 6}, content_type=None)
    sniffed_form = post(b"type=start&call_id=7", content_type="text/plain")
    ids = [
        handle_request(spec, "hook", r, MOSCOW).events[0].session_id
        for r in (form, sniffed_json, sniffed_form)
    ]
    assert ids == ["5", "6", "7"]


# --- mapping, extra, emissions, replies ---------------------------------------------------------


def test_extra_keeps_every_unmapped_parameter_as_a_string(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        endpoint(
            event("start", map={"contact_name": "body.name"}),
            extra={"exclude": ["secret_token"]},
        ),
    )
    body = {
        "type": "start",
        "call_id": 1,
        "name": "Ivan",
        "count": 3,
        "ratio": 2.0,
        "flag": True,
        "tags": ["a", "b"],
        "empty": "",
        "nothing": None,
        "quoted_null": "null",
        "secret_token": "x",
        "nested": {"k": 1},
        "no_items": [],
    }
    [mapped] = handle_request(spec, "hook", post(body), MOSCOW).events
    assert mapped.extra == {
        "type": "start",
        "count": "3",
        "ratio": "2",
        "flag": "true",
        "tags": '["a", "b"]',
        "nested.k": "1",
    }


def test_a_parameter_named_like_a_dict_method_is_read_as_a_parameter(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, endpoint(event("start", map={"contact_name": "body.items"})))
    [mapped] = handle_request(
        spec, "hook", post({"type": "start", "call_id": 1, "items": "x"}), MOSCOW
    ).events
    assert mapped.contact_name == "x"


def test_one_request_can_emit_several_events_each_with_its_own_key(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        endpoint(
            event(
                "completed",
                emit=[
                    {"kind": "call_finished", "map": {"talk_seconds": "body.billsec | as_int"}},
                    {
                        "kind": "recording_ready",
                        "when": "body.record is not blank",
                        "map": {"recording_url": "body.record"},
                        "idempotency_key": "{{ session_id }}:{{ kind }}:{{ mapped.recording_url }}",
                    },
                ],
            )
        ),
    )
    body = {"type": "completed", "call_id": 9, "billsec": "12", "record": "http://r/1.mp3"}
    events = handle_request(spec, "hook", post(body), MOSCOW).events
    assert [(e.kind, e.idempotency_key) for e in events] == [
        ("call_finished", "9:completed"),
        ("recording_ready", "9:recording_ready:http://r/1.mp3"),
    ]
    body["record"] = ""
    assert len(handle_request(spec, "hook", post(body), MOSCOW).events) == 1


def test_an_emission_for_each_item_of_a_list_reads_the_item_and_its_index(
    tmp_path: Path,
) -> None:
    spec = make_spec(
        tmp_path,
        endpoint(
            event(
                "completed",
                emit=[
                    {"kind": "call_finished"},
                    {
                        "kind": "talk_finished",
                        "for_each": "body.legs",
                        "when": "(item.talk | as_int) > 0",
                        "map": {
                            "employee_extension": "item.ext",
                            "talk_seconds": "item.talk | as_int",
                            "leg_id": "index",
                        },
                        "idempotency_key": "{{ session_id }}:{{ kind }}:{{ index }}",
                    },
                ],
            )
        ),
    )
    body = {
        "type": "completed",
        "call_id": 4,
        "legs": [
            {"ext": "101", "talk": "30"},
            {"ext": "102", "talk": 0},
            {"ext": "103", "talk": 9},
        ],
        "other": "kept",
    }
    events = handle_request(spec, "hook", post(body), MOSCOW).events
    assert [(e.kind, e.idempotency_key, e.employee_extension, e.leg_id) for e in events] == [
        ("call_finished", "4:completed", None, None),
        ("talk_finished", "4:talk_finished:0", "101", "0"),
        ("talk_finished", "4:talk_finished:2", "103", "2"),
    ]
    # the list is read by the emission, so it is not repeated in extra
    assert events[1].extra == {"type": "completed", "other": "kept"}
    body["legs"] = ""
    assert [e.kind for e in handle_request(spec, "hook", post(body), MOSCOW).events] == [
        "call_finished"
    ]


def test_for_each_needs_its_own_key_and_a_list(tmp_path: Path) -> None:
    repeated = {"kind": "ringing", "for_each": "body.legs", "map": {"leg_id": "item"}}
    with pytest.raises(SpecError, match="needs its own idempotency_key"):
        make_spec(tmp_path, endpoint(event("start", emit=[repeated])))
    same_key = {**repeated, "idempotency_key": "{{ session_id }}:{{ kind }}"}
    spec = make_spec(tmp_path, endpoint(event("start", emit=[same_key])))
    with pytest.raises(MappingError, match="share the idempotency key"):
        handle_request(spec, "hook", post({"type": "start", "call_id": 1, "legs": [1, 2]}), MOSCOW)
    # a PBX that sends text where its protocol has a list is at fault: 422 naming the field
    with pytest.raises(RequestRejected, match="for_each must give a list") as caught:
        handle_request(spec, "hook", post({"type": "start", "call_id": 1, "legs": "1,2"}), MOSCOW)
    assert (caught.value.status, caught.value.field) == (422, "legs")


def test_a_reply_per_event_overrides_the_endpoint_default_and_may_use_lookups(
    tmp_path: Path,
) -> None:
    spec = make_spec(
        tmp_path,
        endpoint(
            event("start"),
            event(
                "route",
                emit=[],
                reply={"body": "{{ {'phones': lookups.phones or []} | tojson }}"},
            ),
            reply={"status": 200, "body": '{"ok": true}'},
        ),
    )
    start = handle_request(spec, "hook", post({"type": "start", "call_id": 1}), MOSCOW)
    assert (start.reply.status, start.reply.body) == (200, '{"ok": true}')
    route = handle_request(
        spec,
        "hook",
        post({"type": "route", "call_id": 1}),
        MOSCOW,
        lookups={"phones": ["79031234567"]},
    )
    assert json.loads(route.reply.body) == {"phones": ["79031234567"]}
    assert route.reply.content_type == "application/json"


def test_a_reply_can_show_the_events_it_acknowledges(tmp_path: Path) -> None:
    reply = {"content_type": "text/plain", "body": "{{ events | map(attribute='kind') | join }}"}
    spec = make_spec(tmp_path, endpoint(event("start"), reply=reply))
    outcome = handle_request(spec, "hook", post({"type": "start", "call_id": 1}), MOSCOW)
    assert outcome.reply.body == "call_started"


def test_an_event_map_overrides_the_endpoint_map_and_null_cancels_it(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        endpoint(
            event("start", map={"contact_name": "'event level'"}),
            event("other", map={"contact_name": None}),
            map={"contact_name": "'endpoint level'", "line_name": "'line'"},
        ),
    )
    start = handle_request(spec, "hook", post({"type": "start", "call_id": 1}), MOSCOW)
    other = handle_request(spec, "hook", post({"type": "other", "call_id": 1}), MOSCOW)
    assert (start.events[0].contact_name, start.events[0].line_name) == ("event level", "line")
    assert (other.events[0].contact_name, other.events[0].line_name) == (None, "line")


def test_a_value_that_cannot_fill_its_event_field_is_refused_naming_field_and_spec_path(
    tmp_path: Path,
) -> None:
    spec = make_spec(tmp_path, endpoint(event("start", map={"talk_seconds": "body.talk"})))
    with pytest.raises(RequestRejected) as caught:
        handle_request(spec, "hook", post({"type": "start", "call_id": 1, "talk": "abc"}), MOSCOW)
    assert (caught.value.status, caught.value.field) == (422, "talk")
    assert "endpoints.hook.events[0].map.talk_seconds" in caught.value.message


def test_a_naive_datetime_is_a_mapping_error(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, endpoint(event("start", map={"occurred_at": "body.at"})))
    with pytest.raises(MappingError, match="no time zone"):
        handle_request(
            spec,
            "hook",
            post({"type": "start", "call_id": 1, "at": "2024-01-01 10:00:00"}),
            MOSCOW,
        )


def test_a_sandbox_escape_built_at_run_time_is_refused_at_render(tmp_path: Path) -> None:
    escape = "'' | attr('_' ~ '_class_' ~ '_') | attr('_' ~ '_mro_' ~ '_')"
    spec = make_spec(tmp_path, endpoint(event("start", map={"contact_name": escape})))
    with pytest.raises(MappingError, match="unsafe"):
        handle_request(spec, "hook", post({"type": "start", "call_id": 1}), MOSCOW)


def test_a_huge_repetition_is_refused_at_render(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, endpoint(event("start", map={"contact_name": "'x' * 10000000"})))
    with pytest.raises(MappingError, match="repetition too large"):
        handle_request(spec, "hook", post({"type": "start", "call_id": 1}), MOSCOW)


# --- auth -----------------------------------------------------------------------------------------


def zadarma_like(tmp_path: Path) -> ProviderSpec:
    return make_spec(
        tmp_path,
        endpoint(
            event(
                "start",
                recognize={"field": "event", "values": ["NOTIFY_START"]},
                schema={"type": "object", "required": ["pbx_call_id"]},
            ),
            body={"format": "form"},
            session_id="{{ body.pbx_call_id }}",
            auth=[
                {
                    "kind": "hmac_signature",
                    "header": "Signature",
                    "signed_string": (
                        "{{ body.caller_id }}{{ body.called_did }}{{ body.call_start }}"
                    ),
                    "key": "{{ channel.secrets.api_secret }}",
                    "algorithm": "sha1",
                    "encoding": "base64_hex",
                    "optional_without_key": True,
                }
            ],
        ),
    )


ZADARMA_BODY = (
    "event=NOTIFY_START&call_start=2024-03-12 10:15:00&pbx_call_id=in_1"
    "&caller_id=79161234567&called_did=74950000001"
)


def signed(secret: str) -> str:
    text = "7916123456774950000001" + "2024-03-12 10:15:00"
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha1).hexdigest()
    return base64.b64encode(digest.encode()).decode()


def test_an_hmac_signature_declared_in_yaml_accepts_the_right_signature(tmp_path: Path) -> None:
    spec = zadarma_like(tmp_path)
    channel = ChannelContext(channel_id=1, secrets={"api_secret": "s3cret"})
    request = post(
        ZADARMA_BODY.encode(),
        content_type="application/x-www-form-urlencoded",
        headers={"signature": signed("s3cret")},
    )
    assert handle_request(spec, "hook", request, channel).events[0].session_id == "in_1"


@pytest.mark.parametrize("header", [None, "d3Jvbmc="], ids=["missing", "wrong"])
def test_a_missing_or_wrong_hmac_signature_is_401(tmp_path: Path, header: str | None) -> None:
    spec = zadarma_like(tmp_path)
    channel = ChannelContext(channel_id=1, secrets={"api_secret": "s3cret"})
    headers = {"signature": header} if header else {}
    request = post(ZADARMA_BODY.encode(), content_type=None, headers=headers)
    with pytest.raises(RequestRejected) as caught:
        handle_request(spec, "hook", request, channel)
    assert caught.value.status == 401


def test_an_hmac_check_is_skipped_when_the_channel_has_no_secret_and_the_spec_allows_it(
    tmp_path: Path,
) -> None:
    spec = zadarma_like(tmp_path)
    request = post(ZADARMA_BODY.encode(), content_type=None)
    assert handle_request(spec, "hook", request, MOSCOW).event_name == "start"


def test_a_source_address_allow_list_from_a_channel_setting(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        endpoint(event("start"), auth=[{"kind": "source_ip_allowlist", "setting": "networks"}]),
    )
    channel = ChannelContext(channel_id=1, settings={"networks": "194.88.218.0/24, 45.91.130.82"})
    body = {"type": "start", "call_id": 1}
    assert handle_request(spec, "hook", post(body, client_host="194.88.218.116"), channel).events
    assert handle_request(spec, "hook", post(body, client_host="45.91.130.82"), channel).events
    with pytest.raises(RequestRejected) as caught:
        handle_request(spec, "hook", post(body, client_host="10.0.0.1"), channel)
    assert caught.value.status == 403
    # a channel with no list configured is not restricted
    assert handle_request(spec, "hook", post(body, client_host="10.0.0.1"), MOSCOW).events


def test_a_published_address_list_the_channels_own_list_replaces(tmp_path: Path) -> None:
    allowlist = {
        "kind": "source_ip_allowlist",
        "networks": ["194.88.218.116"],
        "setting": "pbx_sources",
        "setting_replaces": True,
    }
    spec = make_spec(tmp_path, endpoint(event("start"), auth=[allowlist]))
    body = {"type": "start", "call_id": 1}
    # the PBX's published address is allowed on a channel that says nothing
    assert handle_request(spec, "hook", post(body, client_host="194.88.218.116"), MOSCOW).events
    with pytest.raises(RequestRejected):
        handle_request(spec, "hook", post(body, client_host="10.0.0.1"), MOSCOW)
    # a channel's own list replaces it: its networks only
    own = ChannelContext(channel_id=1, settings={"pbx_sources": ["10.0.0.0/8"]})
    assert handle_request(spec, "hook", post(body, client_host="10.0.0.1"), own).events
    with pytest.raises(RequestRejected) as caught:
        handle_request(spec, "hook", post(body, client_host="194.88.218.116"), own)
    assert caught.value.status == 403


def test_a_token_field_is_compared_with_a_channel_secret(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        endpoint(
            event("start"),
            auth=[
                {
                    "kind": "token_field",
                    "in": "body",
                    "name": "token",
                    "secret": "{{ channel.secrets.token }}",
                }
            ],
        ),
    )
    channel = ChannelContext(channel_id=1, secrets={"token": "t0k"})
    ok = {"type": "start", "call_id": 1, "token": "t0k"}
    [mapped] = handle_request(spec, "hook", post(ok), channel).events
    assert "token" not in mapped.extra  # a secret never reaches a call's extra (the store)
    statuses = []
    for body in ({"type": "start", "call_id": 1}, {**ok, "token": "nope"}):
        with pytest.raises(RequestRejected) as caught:
            handle_request(spec, "hook", post(body), channel)
        statuses.append(caught.value.status)
    assert statuses == [401, 401]  # missing or wrong: one status for every signature kind


def test_an_event_may_declare_its_own_auth(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        endpoint(
            event("start"),
            event("echo", emit=[], auth=[]),
            auth=[{"kind": "token_field", "in": "query", "name": "t", "secret": "{{ 'x' }}"}],
        ),
    )
    assert handle_request(spec, "hook", post({"type": "echo", "call_id": 1}), MOSCOW)
    with pytest.raises(RequestRejected):
        handle_request(spec, "hook", post({"type": "start", "call_id": 1}), MOSCOW)


# --- filters ------------------------------------------------------------------------------------


def evaluate(source: str, channel: ChannelContext = MOSCOW, **body: Any) -> Any:
    return compile_expression(source, "test", MAP_NAMES).evaluate(
        {"body": body, "channel": channel, "query": {}, "headers": {}}
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (12, 12),
        ("12", 12),
        (" 7 ", 7),
        ("65.0", 65),
        (3.0, 3),
        ("", None),
        (None, None),
        ("null", None),
    ],
)
def test_as_int_accepts_template_quirks(value: Any, expected: int | None) -> None:
    assert as_int(value) == expected


def test_as_int_refuses_text() -> None:
    with pytest.raises(FilterValueError):
        as_int("abc")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([28511, 28512], [28511, 28512]),
        ("[28511, 28512]", [28511, 28512]),
        ("28511,28512", ["28511", "28512"]),
        ("28511, 28512", ["28511", "28512"]),
        (28511, [28511]),
        ("VIP", ["VIP"]),
        ("", []),
        (None, []),
        ([None, "", 1], [1]),
    ],
)
def test_as_list_accepts_every_list_rendering(value: Any, expected: list[Any]) -> None:
    assert as_list(value) == expected


def test_as_str_renders_numbers_and_structures_plainly() -> None:
    assert [as_str(v) for v in (28511, 28511.0, True, " x ", None, "", [1])] == [
        "28511",
        "28511",
        "true",
        "x",
        None,
        None,
        "[1]",
    ]


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("79161234567", "RU", "+79161234567"),
        ("89161234567", "RU", "+79161234567"),
        ("+7 (916) 123-45-67", "RU", "+79161234567"),
        ("380441234567", "RU", "+380441234567"),
        ("0671234567", "UA", "+380671234567"),
        ("0048221234567", "UA", "+48221234567"),
        # "00" is read as the international prefix even where the country dials another one
        ("0048221234567", "RU", "+48221234567"),
        ("00380671234567", "RU", "+380671234567"),
        ("00 48 22 123 45 67", "KZ", "+48221234567"),
        ("101", "RU", None),
        ("anonymous", "RU", None),
        (None, "RU", None),
    ],
)
def test_e164_reads_numbers_with_the_channels_country(
    raw: Any, country: str, expected: str | None
) -> None:
    channel = ChannelContext(channel_id=1, country=country)
    assert evaluate("body.n | e164", channel, n=raw) == expected


@pytest.mark.parametrize(
    ("zone", "local", "utc"),
    [
        ("Europe/Moscow", "2024-03-12 10:15:07", "2024-03-12T07:15:07+00:00"),
        ("Europe/Moscow", "2024-07-01 10:15:07.123456", "2024-07-01T07:15:07.123456+00:00"),
        ("Europe/Kyiv", "2024-07-01 12:00:00", "2024-07-01T09:00:00+00:00"),  # EEST, UTC+3
        ("Europe/Kyiv", "2024-01-15 12:00:00", "2024-01-15T10:00:00+00:00"),  # EET, UTC+2
        ("Europe/Kyiv", "2024-03-31 02:59:59", "2024-03-31T00:59:59+00:00"),  # last winter second
        ("Europe/Kyiv", "2024-03-31 04:00:00", "2024-03-31T01:00:00+00:00"),  # first summer hour
        ("Europe/Kyiv", "2024-07-01T12:00:00+05:00", "2024-07-01T07:00:00+00:00"),  # offset wins
        ("Europe/Moscow", "2024-07-01T12:00:00Z", "2024-07-01T12:00:00+00:00"),
    ],
)
def test_local_time_converts_pbx_local_times_to_utc_with_dst(
    zone: str, local: str, utc: str
) -> None:
    channel = ChannelContext(channel_id=1, timezone=zone)
    result = evaluate("body.t | local_time", channel, t=local)
    assert result.tzinfo is not None and result.isoformat() == utc


def test_local_time_reads_the_first_of_two_ambiguous_autumn_times() -> None:
    kyiv = ChannelContext(channel_id=1, timezone="Europe/Kyiv")
    result = evaluate("body.t | local_time", kyiv, t="2024-10-27 03:30:00")
    assert result == datetime(2024, 10, 27, 0, 30, tzinfo=UTC)


def test_local_time_accepts_a_strptime_format() -> None:
    result = evaluate("body.t | local_time('%d.%m.%Y %H:%M:%S%z')", t="1.01.2019 10:05:36+0300")
    assert result == datetime(2019, 1, 1, 7, 5, 36, tzinfo=UTC)


def test_unix_time_reads_seconds_and_milliseconds() -> None:
    assert unix_time("1710227707") == datetime(2024, 3, 12, 7, 15, 7, tzinfo=UTC)
    assert unix_time(1710227707000, unit="ms") == datetime(2024, 3, 12, 7, 15, 7, tzinfo=UTC)
    assert unix_time("") is None


def test_short_number_recognises_extensions_only() -> None:
    assert [evaluate("body.n | short_number", n=n) for n in ("101", 1001, "79031234567", "")] == [
        "101",
        "1001",
        None,
        None,
    ]


def test_the_blank_test_covers_missing_null_empty_and_quoted_null() -> None:
    results = [
        evaluate("body.x is blank", **b)
        for b in ({}, {"x": None}, {"x": ""}, {"x": "null"}, {"x": 0})
    ]
    assert results == [True, True, True, True, False]


# --- received_at, extra.keep ---------------------------------------------------------------------


def test_received_at_is_when_the_ingress_received_the_request_and_maps_like_any_time(
    tmp_path: Path,
) -> None:
    spec = make_spec(
        tmp_path,
        endpoint(event("answer", kind="talk_started", map={"answered_at": "received_at"})),
    )
    moment = datetime(2024, 3, 12, 7, 15, 9, tzinfo=UTC)
    [mapped] = handle_request(
        spec, "hook", post({"type": "answer", "call_id": 1}, received_at=moment), MOSCOW
    ).events
    assert mapped.answered_at == moment
    # nobody received a request built without it (a spec example): the field stays empty
    [unstamped] = handle_request(
        spec, "hook", post({"type": "answer", "call_id": 1}), MOSCOW
    ).events
    assert unstamped.answered_at is None


def test_an_idempotency_key_may_not_read_received_at(tmp_path: Path) -> None:
    # a redelivery is received at another moment: such a key would count it twice
    with pytest.raises(SpecError) as caught:
        make_spec(
            tmp_path,
            endpoint(event("start"), idempotency_key="{{ session_id }}:{{ received_at }}"),
        )
    assert caught.value.path == "endpoints.hook.idempotency_key"
    assert "unknown name(s) received_at" in caught.value.problem


def test_extra_keep_copies_a_parameter_the_mapping_reads(tmp_path: Path) -> None:
    answered = "(body.disposition | as_str) == 'answered'"
    spec = make_spec(
        tmp_path,
        endpoint(
            event("end", kind="call_finished", map={"answered": answered}),
            extra={"keep": ["disposition"], "exclude": ["type"]},
        ),
    )
    request = post({"type": "end", "call_id": 1, "disposition": "busy", "code": 17})
    [mapped] = handle_request(spec, "hook", request, MOSCOW).events
    assert mapped.answered is False
    assert mapped.extra == {"disposition": "busy", "code": "17"}
