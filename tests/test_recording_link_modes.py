"""What a channel that keeps links does with them, through HTTP and the real Temporal server: a
link the PBX says works once is fetched at once and its file kept (a dead link is worth
nothing), and a player is sent only to the provider's or the channel's recording hosts. Also a
channel's own recording limits (size, attempts, back-off) over the installation's."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import test_recording_links as links
from conftest import Pbxhub, scenario
from file_host import FileHost, Reply, file_host
from pbx_api_simulators import ZadarmaApi, serving
from temporalio.testing import WorkflowEnvironment
from test_recordings import MP3, custody, deliver, outcomes, the_call, uis_call, uis_line, wav

from recordings.limits import MAX_FETCH_ATTEMPTS
from workflows.custody import FETCH_ATTEMPTS_CEILING

SESSION = 3410000401
TOKEN = "303cb962ac59075b964b07152d234b70"
UIS_LINK = "https://media.uiscom.ru/3410000401/1.mp3"


async def planfix_line(hub: Pbxhub, host: FileHost, mode: str) -> dict[str, Any]:
    channel = await hub.create_channel(
        "planfix_api",
        settings={
            "secrets": {"planfix_token": TOKEN},
            "recording_storage": mode,
            "allowed_pbx_hosts": [f"127.0.0.1:{host.port}"],
        },
    )
    await hub.create_employee("Anna", links=[{"channel_id": channel["id"], "extension": "101"}])
    return channel


async def call_with_a_one_time_link(hub: Pbxhub, channel: dict[str, Any], link: str) -> None:
    """The fixtures' call whose link comes later by `record`, with is_temp=1: link first."""
    bodies = dict(scenario("planfix_api", "inbound_record_later"))
    record = bodies.pop("04_record.txt").replace(
        quote("http://127.0.0.1:9/records/pf-1002.mp3", safe="").encode(),
        quote(link, safe="").encode(),
    )
    assert b"is_temp=1" in record
    for body in (bodies["01_incoming.txt"], record, bodies["02_accepted.txt"]):
        await post(hub, channel, body)
    await post(hub, channel, bodies["03_completed.txt"])


async def post(hub: Pbxhub, channel: dict[str, Any], body: bytes) -> None:
    response = await hub.post_hook(
        channel, "api", body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200, response.text


# -- a link that works once ----------------------------------------------------------------------


async def test_a_keep_link_channel_keeps_the_file_of_a_one_time_link_fetched_at_once(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    audio = wav(2)
    with file_host() as host:
        link = host.serve("/once/pf-1002.wav", Reply(200, audio), Reply(410, b"used"))
        async with custody(temporal_env, tmp_path) as hub:
            channel = await planfix_line(hub, host, "keep_link")

            await call_with_a_one_time_link(hub, channel, link)
            result = await hub.call_result(channel, "pf-1002")

            # kept as a file: the link, used once, is dead for any player sent to it
            assert (result.outcome, result.recording_status) == ("call", "kept")
            assert host.hits_of("/once/pf-1002.wav") == 1
            [kept] = hub.store.list_recordings(result.call_id or 0)
            assert (kept.content_type, kept.size, kept.source_url) == (
                "audio/wav",
                len(audio),
                link,
            )
            call = await the_call(hub, channel, "pf-1002")
            assert call["recording"]["status"] == "kept"
            played = await hub.http.get(
                f"/api/v1/calls/{call['id']}/recording", headers=hub.admin, follow_redirects=True
            )
            assert (played.status_code, played.content) == (200, audio)


async def test_a_keep_nothing_channel_fetches_not_even_a_one_time_link(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    with file_host() as host:
        link = host.serve("/once/pf-1002.wav", Reply(200, wav(1)))
        async with custody(temporal_env, tmp_path) as hub:
            channel = await planfix_line(hub, host, "keep_nothing")

            await call_with_a_one_time_link(hub, channel, link)
            result = await hub.call_result(channel, "pf-1002")

            assert (result.outcome, result.recording_status) == ("call", "not_kept")
            assert host.hits == []


# -- keep_link: players are sent only to recording hosts -----------------------------------------


async def test_keep_link_sends_players_to_the_providers_recording_host(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with custody(temporal_env, tmp_path) as hub:
        channel = await uis_line(hub, recording_storage="keep_link")

        await deliver(hub, channel, uis_call(SESSION, UIS_LINK))
        result = await hub.call_result(channel, SESSION)

        assert result.recording_status == "linked"
        played = await hub.http.get(f"/api/v1/calls/{result.call_id}/recording", headers=hub.admin)
        assert (played.status_code, played.headers["location"]) == (307, UIS_LINK)


@pytest.mark.parametrize(
    ("link", "code", "words"),
    [
        ("https://evil.example/r.mp3", "host_not_allowed", "evil.example is not an allowed"),
        ("javascript:alert(1)", "scheme", "not 'javascript'"),
        ("http://10.0.0.5/r.mp3", "private_address", "10.0.0.5 is a private address"),
    ],
)
async def test_keep_link_refuses_a_webhooks_link_to_anywhere_else_and_says_why(
    temporal_env: WorkflowEnvironment, tmp_path: Path, link: str, code: str, words: str
) -> None:
    async with custody(temporal_env, tmp_path) as hub:
        channel = await uis_line(hub, recording_storage="keep_link")

        await deliver(hub, channel, uis_call(SESSION, link))
        result = await hub.call_result(channel, SESSION)

        assert result.recording_status == "refused"
        call = await the_call(hub, channel, SESSION)
        assert (call["recording"]["error_code"], call["recording_url"]) == (code, link)
        assert words in call["recording"]["reason"]
        played = await hub.http.get(f"/api/v1/calls/{result.call_id}/recording", headers=hub.admin)
        # no redirect anywhere: the reason instead
        assert played.status_code == 404
        assert "location" not in played.headers
        assert words in played.json()["detail"]
        assert await outcomes(hub) == {("refused", code): 1}


async def test_a_kept_link_whose_host_the_channel_no_longer_allows_is_not_played(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    link = "https://files.pbx.example/r/1.mp3"
    async with custody(temporal_env, tmp_path) as hub:
        channel = await uis_line(
            hub, recording_storage="keep_link", recording_hosts=["files.pbx.example"]
        )
        await deliver(hub, channel, uis_call(SESSION, link))
        result = await hub.call_result(channel, SESSION)
        assert result.recording_status == "linked"
        playback = f"/api/v1/calls/{result.call_id}/recording"
        assert (await hub.http.get(playback, headers=hub.admin)).headers["location"] == link

        changed = await hub.http.patch(
            f"/api/v1/channels/{channel['id']}",
            json={"settings": {"recording_hosts": None}},
            headers=hub.admin,
        )
        assert changed.status_code == 200, changed.text
        played = await hub.http.get(playback, headers=hub.admin)

        assert played.status_code == 409
        assert "location" not in played.headers
        assert "files.pbx.example is not an allowed recording host" in played.json()["detail"]


# -- a channel's own limits ----------------------------------------------------------------------


async def test_a_channels_own_size_limit_replaces_the_installations(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    with file_host() as host:
        link = host.serve("/big.mp3", Reply(200, MP3))  # 10 250 bytes
        async with custody(temporal_env, tmp_path) as hub:  # the default: 200 MiB
            channel = await uis_line(
                hub, allowed_pbx_hosts=[f"127.0.0.1:{host.port}"], recording_max_bytes=10_000
            )

            await deliver(hub, channel, uis_call(SESSION, link))
            result = await hub.call_result(channel, SESSION)

            assert result.recording_status == "failed"
            assert "over the 10000-byte limit" in (result.recording_error or "")


async def test_a_channels_own_attempts_and_back_off_replace_the_installations(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    with file_host() as host:
        never = host.serve("/never.mp3", Reply(404))
        # the installation: 4 attempts, 0.5 s apart (doubling)
        async with custody(temporal_env, tmp_path, recording_fetch_attempts=4) as hub:
            channel = await uis_line(
                hub,
                allowed_pbx_hosts=[f"127.0.0.1:{host.port}"],
                recording_fetch_attempts=3,
                recording_retry_seconds=1,
            )

            started = time.monotonic()
            await deliver(hub, channel, uis_call(SESSION, never))
            result = await hub.call_result(channel, SESSION)
            waited = time.monotonic() - started

            assert result.recording_status == "failed"
            assert "(gave up after 3 attempts)" in (result.recording_error or "")
            assert host.hits_of("/never.mp3") == 3
            # 1 s, then 2 s between the three tries (the installation's would be 0.5 s, 1 s)
            assert waited >= 3.0


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"recording_max_bytes": 0}, "recording_max_bytes must be 1 to"),
        ({"recording_max_bytes": "big"}, "recording_max_bytes must be a whole number"),
        ({"recording_fetch_attempts": 2.5}, "recording_fetch_attempts must be a whole number"),
        ({"recording_fetch_attempts": 51}, "recording_fetch_attempts must be 1 to 50"),
        ({"recording_retry_seconds": True}, "recording_retry_seconds must be a number"),
    ],
)
async def test_a_recording_limit_out_of_range_is_422_naming_it(
    pbxhub: Pbxhub, settings: dict[str, Any], words: str
) -> None:
    created = await pbxhub.http.post(
        "/api/v1/channels",
        json={"provider": "uis", "name": "office", "settings": settings},
        headers=pbxhub.admin,
    )
    assert created.status_code == 422
    assert words in created.text
    channel = await pbxhub.create_channel("uis")
    patched = await pbxhub.http.patch(
        f"/api/v1/channels/{channel['id']}", json={"settings": settings}, headers=pbxhub.admin
    )
    assert patched.status_code == 422
    assert words in patched.text


def test_the_workflow_bounds_attempts_where_a_channel_may_set_them() -> None:
    assert FETCH_ATTEMPTS_CEILING == MAX_FETCH_ATTEMPTS


async def test_a_fresh_link_off_the_pbxs_recording_hosts_is_not_played(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    with serving(ZadarmaApi()) as api:
        assert isinstance(api, ZadarmaApi)
        async with links.keeping_files(temporal_env, tmp_path) as hub:
            channel = await links.zadarma_line(hub, api, "keep_authorized_link")
            result = await links.answered_and_recorded(hub, api, channel)
            assert result.recording_status == "authorized_link"
            playback = f"/api/v1/calls/{result.call_id}/recording"

            api.queue(links.RECORDING, (200, {"status": "success", "link": UIS_LINK}))
            played = await hub.http.get(playback, headers=hub.admin)

            # Zadarma's recording hosts are *.zadarma.com: a link elsewhere sends nobody there
            assert played.status_code == 502
            assert "location" not in played.headers
            assert "media.uiscom.ru is not an allowed recording host" in played.json()["detail"]
