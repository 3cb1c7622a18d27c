"""An admin's edit of a channel counts from the PBX's next routing question: the forwarding
setting, and the secret a PBX signs with (the channel is read on every webhook, never kept); and
a routing question does not wait behind a large body on the webhook worker."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import httpx
from conftest import Pbxhub, running_pbxhub
from temporalio.testing import WorkflowEnvironment


async def patch_settings(hub: Pbxhub, channel: dict[str, Any], settings: dict[str, Any]) -> None:
    response = await hub.http.patch(
        f"/api/v1/channels/{channel['id']}", json={"settings": settings}, headers=hub.admin
    )
    assert response.status_code == 200, response.text


async def test_turning_forwarding_on_routes_the_next_question(pbxhub: Pbxhub) -> None:
    channel = await pbxhub.create_channel("uis", settings={"uis_returned_code": 3})
    anna = await pbxhub.create_employee(
        "Anna",
        phones=["+79031234567"],
        links=[{"channel_id": channel["id"], "extension": "101"}],
    )
    contact, _ = pbxhub.store.find_or_create_contact(phone="+79161234567", name="Ivan")
    pbxhub.store.set_contact_responsibles(contact.id, [anna["id"]])
    url = f"/hooks/uis/{channel['secret_key']}/interactive"
    form = {"call_session_id": "3401000001", "numa": "79161234567"}
    assert (await pbxhub.http.post(url, data=form)).json() == {"returned_code": 3}

    await patch_settings(pbxhub, channel, {"forward_to_responsible": "on"})
    assert (await pbxhub.http.post(url, data=form)).json() == {"phones": ["79031234567"]}

    await patch_settings(pbxhub, channel, {"uis_route_to": "extension"})
    assert (await pbxhub.http.post(url, data=form)).json() == {"phones": ["101"]}

    await patch_settings(pbxhub, channel, {"forward_to_responsible": "off"})
    assert (await pbxhub.http.post(url, data=form)).json() == {"returned_code": 3}


def zadarma_start(secret: str, call_id: str) -> tuple[dict[str, str], dict[str, str]]:
    """A signed NOTIFY_START (PROTOCOLS.md §3.1): base64 of the hex HMAC-SHA1 of caller_id .
    called_did . call_start, keyed with the channel's API secret."""
    form = {
        "event": "NOTIFY_START",
        "call_start": datetime.now(ZoneInfo("Europe/Kyiv")).strftime("%Y-%m-%d %H:%M:%S"),
        "pbx_call_id": call_id,
        "caller_id": "380671234567",
        "called_did": "380441234567",
    }
    signed = form["caller_id"] + form["called_did"] + form["call_start"]
    digest = hmac.new(secret.encode(), signed.encode(), hashlib.sha1).hexdigest()
    return form, {"Signature": base64.b64encode(digest.encode()).decode()}


async def test_a_new_api_secret_is_the_one_checked_on_the_next_question(pbxhub: Pbxhub) -> None:
    channel = await pbxhub.create_channel(
        "zadarma",
        timezone="Europe/Kyiv",
        default_country="UA",
        settings={"secrets": {"api_secret": "old-secret"}},
    )
    url = f"/hooks/zadarma/{channel['secret_key']}/notify"

    async def notify(secret: str, call_id: str) -> httpx.Response:
        form, headers = zadarma_start(secret, call_id)
        return await pbxhub.http.post(url, data=form, headers=headers)

    assert (await notify("old-secret", "in_edit_1")).status_code == 200

    await patch_settings(pbxhub, channel, {"secrets": {"api_secret": "new-secret"}})
    refused = await notify("old-secret", "in_edit_2")
    assert refused.status_code == 401, refused.text
    assert (await notify("new-secret", "in_edit_3")).status_code == 200


async def test_a_routing_question_is_answered_while_a_large_body_holds_the_webhook_worker(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """A routing question (a few hundred bytes) is read on the event loop: it does not queue
    behind a large body on the one thread that reads webhooks, while the caller waits."""
    workers = anyio.CapacityLimiter(1)
    async with running_pbxhub(temporal_env, tmp_path, webhook_workers=workers) as hub:
        channel = await hub.create_channel("uis", settings={"uis_returned_code": 3})
        async with workers:  # the webhook worker is busy with someone's large body
            large = asyncio.create_task(
                hub.post_hook(channel, "notify", b'{"a": "' + b"x" * 16_000 + b'"}')
            )
            with anyio.fail_after(10):
                while workers.statistics().tasks_waiting == 0:
                    await asyncio.sleep(0.01)
            question = hub.http.post(
                f"/hooks/uis/{channel['secret_key']}/interactive",
                data={"call_session_id": "3401000001", "numa": "79161234567"},
            )
            with anyio.fail_after(5):  # its own task, as another PBX connection would be
                answer = await asyncio.create_task(question)
            assert answer.json() == {"returned_code": 3}
            assert not large.done()
        assert (await large).status_code == 422
