"""The two ingresses — PBX webhooks and the generic call API — share one core (api/ingress.py):
a database that has gone away is a 503 for both (the PBX retries), never a 500, and a body over
the limit a 413 for both, each in its own documented shape."""

from __future__ import annotations

from pathlib import Path

from conftest import running_pbxhub, scenario
from temporalio.testing import WorkflowEnvironment
from test_telephony_api import CALLER, FORM, api_line, post

from api.ingress import mask_key


async def test_a_database_gone_away_is_a_503_for_webhooks_and_the_call_api_alike(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_pbxhub(temporal_env, tmp_path) as hub:
        uis, _ = await hub.create_line("uis", {})
        api = await api_line(hub)
        # the database file is gone: what opens in its place has no tables
        hub.store.close()
        (tmp_path / "pbxhub.db").rename(tmp_path / "moved.db")

        hook = await hub.post_hook(uis, "notify", scenario("uis", "inbound_answered")[0][1])
        assert hook.status_code == 503, hook.text
        assert hook.json()["error"] == "store unavailable, retry later"
        call = await post(
            hub, api, {"action": "create_call", "direction": "incoming", "phone": CALLER}
        )
        assert call.status_code == 503, call.text


async def test_a_body_over_the_limit_is_a_413_for_webhooks_and_the_call_api_alike(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_pbxhub(temporal_env, tmp_path, max_body_bytes=1024) as hub:
        uis, _ = await hub.create_line("uis", {})
        api = await api_line(hub)
        body = b"a=" + b"x" * 2048

        hook = await hub.http.post(f"/hooks/uis/{uis['secret_key']}/notify", content=body)
        assert hook.status_code == 413, hook.text
        assert hook.json()["error"] == "body over 1024 bytes"
        call = await hub.http.post(
            f"/api/v2/telephony/calls/{api['secret_key']}", content=body, headers=FORM
        )
        assert call.status_code == 413, call.text
        assert call.json()["detail"] == [{"field": "body", "error": "over 1024 bytes"}]


def test_a_channel_key_shows_in_logs_by_its_first_four_characters_only() -> None:
    assert mask_key("k3y-secret-value") == "k3y-…"
    assert mask_key("abcd") == "…"
