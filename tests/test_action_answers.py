"""A PBX's answer to an outbound action is read within the body bounds every request body is read
with: an answer nested deeper (or wider) than pbxhub reads is not parsed into a crash, it is the
action's failure with the reason, as activities/pbx.py sends it to a PBX played by a real HTTP
server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

from test_action_redirects import CALL_FIELDS, Pbx, acme, channel, click_to_call, pbx

from activities.pbx import send_action
from contracts.messages import ActionCall, PbxActionInput

__all__ = ["pbx"]  # the redirect tests' PBX fixture, used here too


def test_an_answer_nested_deeper_than_pbxhub_reads_is_a_failure_naming_why(
    tmp_path: Path, pbx: Pbx
) -> None:
    spec = acme(
        tmp_path,
        "click_to_call",
        {"path": "/call", "fields": CALL_FIELDS},
        answers=[{"when": "status == 200 and body.result == 'ok'", "ok": True}],
    )
    pbx.on("/call", 200, b"[" * 50_000, Content_Type="application/json")

    result = click_to_call(spec, pbx)

    assert (result.ok, result.status) == (False, 200)
    assert result.message is not None
    assert "could not be read" in result.message and "nests deeper than 32" in result.message


def test_a_recording_link_in_an_answer_beyond_the_bounds_is_not_read(
    tmp_path: Path, pbx: Pbx
) -> None:
    spec = acme(
        tmp_path,
        "recording_link",
        {"method": "GET", "format": "query", "path": "/records/1"},
        answers=[{"when": "status == 200", "ok": True, "link": "body.link"}],
    )
    deep = b'{"link": "https://files.example/1.mp3", "x": ' + b"[" * 40 + b"]" * 40 + b"}"
    pbx.on("/records/1", 200, deep, Content_Type="application/json")
    data = PbxActionInput(channel_id=1, action="recording_link", call=ActionCall(session_id="1"))

    result = send_action(channel(pbx), spec, data)

    assert (result.ok, result.link, result.retry) == (False, None, False)
    assert result.message is not None and "nests deeper than 32 levels" in result.message


def test_an_answer_within_the_bounds_is_read_as_before(tmp_path: Path, pbx: Pbx) -> None:
    spec = acme(
        tmp_path,
        "click_to_call",
        {"path": "/call", "fields": CALL_FIELDS},
        answers=[{"when": "status == 200 and body.result == 'ok'", "ok": True}],
    )
    nested = b'{"result": "ok", "x": ' + b"[" * 30 + b"]" * 30 + b"}"
    pbx.on("/call", 200, nested, Content_Type="application/json")

    assert click_to_call(spec, pbx).ok
