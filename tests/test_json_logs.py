"""PBXHUB_LOG_FORMAT=json end to end: pbxhub's logging set up as `pbxhub api`/`worker` set it,
whole calls through the real Temporal server, every line read back as JSON. A call's lines
carry its channel, session and workflow id (the ingress's from the request's context, the
activities' from Temporal); phone numbers are whole only at DEBUG; no secret is ever written:
not the admin key, not a channel key, not a PBX's API secret or the signatures made with it."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import test_zadarma_calls as zadarma
from conftest import Pbxhub, scenario
from test_uis_calls import ANSWERED, CALLER, uis_line

from pbxhub.log_records import mask_phones
from pbxhub.logging_setup import configure_logging

Lines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def json_logs(request: pytest.FixtureRequest) -> Iterator[Callable[[str, str], Lines]]:
    """configure_logging(level, "json") into a buffer; everything as it was afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    quieted = {name: logging.getLogger(name).level for name in ("alembic", "httpx", "httpcore")}

    def start(level: str, prefix: str) -> Lines:
        configure_logging(level, "json", workflow_id_prefix=prefix)
        buffer = io.StringIO()
        [handler] = root.handlers
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(buffer)

        def lines() -> list[dict[str, Any]]:
            text = buffer.getvalue()
            return [json.loads(line) for line in text.splitlines()]  # each line one object

        return lines

    yield start
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    for name, level in quieted.items():
        logging.getLogger(name).setLevel(level)


async def test_every_line_of_a_call_names_its_channel_session_and_workflow(
    pbxhub: Pbxhub, json_logs: Callable[[str, str], Lines]
) -> None:
    lines = json_logs("INFO", pbxhub.workflow_id_prefix)
    channel, _, _ = await uis_line(pbxhub)

    await pbxhub.deliver(channel, scenario("uis", "inbound_answered"))
    await pbxhub.call_result(channel, ANSWERED)

    call = {
        "channel_id": str(channel["id"]),
        "session_id": str(ANSWERED),
        "workflow_id": pbxhub.workflow_id(channel, ANSWERED),
    }
    written = lines()
    accepted = [line for line in written if line["message"].startswith("accepted ")]
    assert len(accepted) == len(scenario("uis", "inbound_answered"))
    assert all(line.items() >= call.items() for line in accepted), accepted[0]
    assert all(line["logger"] == "pbxhub.ingress" for line in accepted)
    [new_contact] = [line for line in written if line["message"].startswith("new contact")]
    assert new_contact.items() >= call.items()
    assert new_contact["activity"] == "write_call"
    # at INFO a phone number is masked wherever it is written
    assert CALLER not in json.dumps(written)
    assert mask_phones(CALLER) in new_contact["message"]
    assert {"time", "level", "logger", "message"} <= set(new_contact)


async def test_at_debug_the_whole_phone_number_is_written(
    pbxhub: Pbxhub, json_logs: Callable[[str, str], Lines]
) -> None:
    lines = json_logs("DEBUG", pbxhub.workflow_id_prefix)
    channel, _, _ = await uis_line(pbxhub)

    await pbxhub.deliver(channel, scenario("uis", "inbound_answered"))
    await pbxhub.call_result(channel, ANSWERED)

    [new_contact] = [line for line in lines() if line["message"].startswith("new contact")]
    assert CALLER in new_contact["message"]


async def test_no_secret_is_written_even_at_debug(
    pbxhub: Pbxhub, json_logs: Callable[[str, str], Lines]
) -> None:
    lines = json_logs("DEBUG", pbxhub.workflow_id_prefix)
    channel, _, _ = await zadarma.zadarma_line(pbxhub)
    bodies = zadarma.live("outbound_missed")
    signatures = [zadarma.signature(body) for _, body in bodies]

    wrong = await zadarma.post(pbxhub, channel, bodies[0][1], Signature="d3Jvbmc=")
    await zadarma.deliver(pbxhub, channel, bodies)
    await pbxhub.call_result(channel, zadarma.OUTBOUND_MISSED)
    unknown_key = await pbxhub.http.post(f"/hooks/zadarma/{channel['secret_key']}x/notify")
    wrong_admin = await pbxhub.http.get("/api/v1/channels", headers={"X-API-Key": "guess"})
    admin = await pbxhub.http.get("/api/v1/channels", headers=pbxhub.admin)

    assert (wrong.status_code, unknown_key.status_code) == (401, 404)
    assert (wrong_admin.status_code, admin.status_code) == (401, 200)
    text = json.dumps(lines())
    assert "rejected" in text and "accepted" in text  # the refusals and the call were logged
    for secret in [pbxhub.admin_key, channel["secret_key"], zadarma.SECRET, *signatures]:
        assert secret not in text, secret
