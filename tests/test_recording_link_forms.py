"""A recording link that is no http(s) address, through HTTP and the real Temporal server: the
PBX's notification is accepted (the PBX is not told to retry what can never pass), and the call
records its recording as refused, with the guard's reason, like a link to this machine."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import running_pbxhub, scenario
from temporalio.testing import WorkflowEnvironment
from test_recordings import outcomes, the_call, uis_call, uis_line

SESSION = 3410000301


@pytest.mark.parametrize(
    ("link", "code", "words"),
    [
        ("file:///etc/passwd", "scheme", "only http and https links are fetched, not 'file'"),
        ("gopher://files.pbx.example/r.mp3", "scheme", "not 'gopher'"),
        ("recording-1.mp3", "scheme", "not 'no scheme'"),
    ],
)
async def test_a_uis_recording_link_that_is_no_web_address_is_accepted_and_refused_with_why(
    temporal_env: WorkflowEnvironment, tmp_path: Path, link: str, code: str, words: str
) -> None:
    async with running_pbxhub(temporal_env, tmp_path) as hub:
        channel = await uis_line(hub)

        for name, body in uis_call(SESSION, link):
            response = await hub.post_hook(channel, "notify", body)
            # accepted: a PBX told 422 would drop the recording with no trace on the call
            assert response.status_code == 200, f"{name}: {response.text}"
        result = await hub.call_result(channel, SESSION)

        assert (result.outcome, result.recording_status) == ("call", "refused")
        call = await the_call(hub, channel, SESSION)
        assert call["recording_url"] == link  # what the PBX sent, for a person to see
        assert call["recording"]["error_code"] == code
        assert words in call["recording"]["reason"]
        assert await outcomes(hub) == {("refused", code): 1}


async def test_a_telephony_api_record_command_with_a_file_link_is_accepted_and_refused(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_pbxhub(temporal_env, tmp_path) as hub:
        channel = await hub.create_channel(
            "planfix_api",
            settings={"secrets": {"planfix_token": "303cb962ac59075b964b07152d234b70"}},
        )
        await hub.create_employee("Anna", links=[{"channel_id": channel["id"], "extension": "101"}])
        bodies = dict(scenario("planfix_api", "inbound_record_later"))
        bodies["04_record.txt"] = bodies["04_record.txt"].replace(
            quote("http://127.0.0.1:9/records/pf-1002.mp3", safe="").encode(),
            quote("file:///etc/passwd", safe="").encode(),
        )
        assert b"file%3A%2F%2F%2Fetc%2Fpasswd" in bodies["04_record.txt"]

        for name, body in sorted(bodies.items()):
            response = await hub.post_hook(
                channel, "api", body, content_type="application/x-www-form-urlencoded"
            )
            assert response.status_code == 200, f"{name}: {response.text}"
        result = await hub.call_result(channel, "pf-1002")

        assert (result.outcome, result.recording_status) == ("call", "refused")
        assert "only http and https links are fetched" in (result.recording_error or "")
        call = await the_call(hub, channel, "pf-1002")
        assert (call["recording_url"], call["recording"]["error_code"]) == (
            "file:///etc/passwd",
            "scheme",
        )


async def test_a_link_over_8_kib_is_still_refused_naming_the_field(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    # the schema still bounds the link: what it refuses now is size, not form
    async with running_pbxhub(temporal_env, tmp_path) as hub:
        channel = await uis_line(hub)
        [(name, body)] = [b for b in uis_call(SESSION, "x" * 9000) if b"file_link" in b[1]]
        response = await hub.post_hook(channel, "notify", body)
        assert response.status_code == 422, name
        assert "file_link" in json.dumps(response.json())
