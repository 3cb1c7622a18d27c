"""Recordings whose link only the PBX's API gives, end to end: Zadarma's NOTIFY_RECORD names the
recording (call_id_with_rec) but carries no link, so pbxhub asks GET /v1/pbx/record/request/ — a
simulator on 127.0.0.1 that checks the signature as Zadarma does — then downloads the file from a
file host on 127.0.0.1 (keep_file), keeps the link (keep_link), or asks again at every playback
(keep_authorized_link)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import test_binotel_calls as binotel
import test_zadarma_calls as zadarma
from conftest import Pbxhub, running_pbxhub, scenario
from file_host import FileHost, Reply, file_host
from pbx_api_simulators import BinotelApi, UisDataApi, ZadarmaApi, serving
from temporalio.testing import WorkflowEnvironment

from activities.recordings import RecordingActivities
from contracts.call_workflow import CallResult

SESSION = "in_3f9a1c7e52b84d0f9e6a2b1c4d8e7f01"
RECORDING = "1710231300.2345678"
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 40
NOT_FOUND = (200, {"status": "error", "message": "Record not found"})


@pytest.fixture
def api() -> Iterator[ZadarmaApi]:
    with serving(ZadarmaApi()) as simulator:
        assert isinstance(simulator, ZadarmaApi)
        yield simulator


@pytest.fixture
def files() -> Iterator[FileHost]:
    with file_host() as host:
        yield host


@asynccontextmanager
async def keeping_files(env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Pbxhub]:
    """pbxhub keeping recordings in a local folder (each channel allows the simulators on this
    machine by their exact host:port, `allowed_pbx_hosts`)."""

    def recordings(store: Any, specs: Any) -> RecordingActivities:
        return RecordingActivities.local(store, specs, tmp_path / "recordings")

    async with running_pbxhub(
        env, tmp_path, recording_activities=recordings, recording_fetch_attempts=4
    ) as hub:
        yield hub


def on_this_machine(*urls: str) -> list[str]:
    """The host:port of each simulator, as a channel's allowed_pbx_hosts lists them."""
    return [urlsplit(url).netloc for url in urls]


async def zadarma_line(
    hub: Pbxhub, api: ZadarmaApi, mode: str, *, files: FileHost | None = None, **secrets: str
) -> dict[str, Any]:
    """The Zadarma test line (Anna at 101, Boris at 102: the fixtures' transfer) keeping
    recordings by `mode`, its API at the simulator (and its files at `files`)."""
    channel, _, _ = await zadarma.zadarma_line_taking_fixture_times(
        hub,
        secrets={"api_key": api.key, "api_secret": api.secret, **secrets},
        api_url=api.url,
        recording_storage=mode,
        allowed_pbx_hosts=on_this_machine(api.url, *([files.url("/")] if files else [])),
    )
    return channel


async def answered_and_recorded(
    hub: Pbxhub, api: ZadarmaApi, channel: dict[str, Any]
) -> CallResult:
    """The fixtures' answered call (transferred 101 → 102, recorded), delivered whole."""
    # the fixtures' notifications are signed with the simulator's secret
    assert api.secret == zadarma.SECRET
    await hub.deliver(channel, scenario("zadarma", "inbound_answered"), sign=zadarma.signed)
    return await hub.call_result(channel, SESSION)


def asked(api: ZadarmaApi) -> list[dict[str, str]]:
    """The query of every recording request pbxhub sent (each one signed correctly, or the
    simulator would have answered 401)."""
    return [r.query for r in api.requests() if r.path == "/v1/pbx/record/request/"]


async def the_call(hub: Pbxhub, result: CallResult) -> dict[str, Any]:
    call: dict[str, Any] = await hub.get(f"/api/v1/calls/{result.call_id}")
    return call


async def test_a_zadarma_recording_is_asked_for_until_saved_then_downloaded_and_kept(
    temporal_env: WorkflowEnvironment, tmp_path: Path, api: ZadarmaApi, files: FileHost
) -> None:
    link = files.serve("/v1/pbx/record/download/NjM0/1.mp3", Reply(200, MP3))
    api.queue(RECORDING, NOT_FOUND, NOT_FOUND, (200, {"status": "success", "link": link}))
    async with keeping_files(temporal_env, tmp_path) as hub:
        channel = await zadarma_line(hub, api, "keep_file", files=files)

        result = await answered_and_recorded(hub, api, channel)

        assert (result.outcome, result.recording_status) == ("call", "kept")
        # "not found" twice while Zadarma saves the file, then the link: three signed requests
        want = {"call_id": RECORDING, "format": "json", "lifetime": "1800"}
        assert asked(api) == [want, want, want]
        assert files.hits_of("/v1/pbx/record/download/NjM0/1.mp3") == 1
        [kept] = hub.store.list_recordings(result.call_id or 0)
        assert (kept.sha256, kept.size, kept.source_url) == (
            hashlib.sha256(MP3).hexdigest(),
            len(MP3),
            link,
        )
        call = await the_call(hub, result)
        assert call["recording"]["status"] == "kept"
        played = await hub.http.get(call["recording"]["url"], headers=hub.admin)
        assert (played.status_code, played.content) == (200, MP3)

        # Zadarma sends NOTIFY_RECORD again after the call closed: nothing is asked or fetched
        [notify_record] = scenario("zadarma", "inbound_answered")[-1:]
        await hub.deliver(channel, [notify_record], sign=zadarma.signed)
        again = await hub.call_result(channel, SESSION)
        assert (again.outcome, again.recording_status) == ("amended", "kept")
        assert len(asked(api)) == 3
        assert files.hits_of("/v1/pbx/record/download/NjM0/1.mp3") == 1
        assert hub.store.list_recordings(result.call_id or 0) == [kept]
        assert (await the_call(hub, result))["recording"]["status"] == "kept"


async def test_a_zadarma_recording_never_saved_is_recorded_as_failed_with_zadarmas_words(
    temporal_env: WorkflowEnvironment, tmp_path: Path, api: ZadarmaApi, files: FileHost
) -> None:
    async with keeping_files(temporal_env, tmp_path) as hub:
        channel = await zadarma_line(hub, api, "keep_file")

        result = await answered_and_recorded(hub, api, channel)

        assert (result.outcome, result.recording_status) == ("call", "failed")
        assert len(asked(api)) == 4  # recording_fetch_attempts
        call = await the_call(hub, result)
        assert call["recording"]["error_code"] == "not_ready"
        # pbxhub's words for employees: what Zadarma answered went to the log only
        assert call["recording"]["reason"] == (
            "the PBX has no recording yet (HTTP 200) (gave up after 4 attempts)"
        )
        assert files.hits == []


async def test_a_zadarma_line_without_its_api_key_asks_nothing_and_says_what_to_set(
    temporal_env: WorkflowEnvironment, tmp_path: Path, api: ZadarmaApi
) -> None:
    async with keeping_files(temporal_env, tmp_path) as hub:
        channel = await zadarma_line(hub, api, "keep_file", api_key="")

        result = await answered_and_recorded(hub, api, channel)

        assert (result.outcome, result.recording_status) == ("call", "failed")
        assert asked(api) == []
        call = await the_call(hub, result)
        assert call["recording"]["error_code"] == "pbx_refused"
        assert "secrets.api_key" in call["recording"]["reason"]


async def test_keep_link_keeps_the_link_zadarmas_api_gives_for_as_long_as_it_allows(
    temporal_env: WorkflowEnvironment, tmp_path: Path, api: ZadarmaApi, files: FileHost
) -> None:
    link = files.serve("/v1/pbx/record/download/long/1.mp3", Reply(200, MP3))
    api.queue(RECORDING, (200, {"status": "success", "link": link}))
    async with keeping_files(temporal_env, tmp_path) as hub:
        channel = await zadarma_line(hub, api, "keep_link", files=files)

        result = await answered_and_recorded(hub, api, channel)

        assert (result.outcome, result.recording_status) == ("call", "linked")
        # the longest lifetime Zadarma gives (60 days), downloaded by nobody
        assert asked(api) == [{"call_id": RECORDING, "format": "json", "lifetime": "5184000"}]
        assert files.hits == []
        call = await the_call(hub, result)
        assert call["recording_url"] == link
        assert hub.store.list_recordings(call["id"]) == []
        played = await hub.http.get(call["recording"]["url"], headers=hub.admin)
        assert (played.status_code, played.headers["location"]) == (307, link)


async def test_keep_authorized_link_asks_zadarma_for_a_fresh_link_at_every_playback(
    temporal_env: WorkflowEnvironment, tmp_path: Path, api: ZadarmaApi
) -> None:
    first = "https://api.zadarma.com/v1/pbx/record/download/first/1.mp3"
    second = "https://api.zadarma.com/v1/pbx/record/download/second/1.mp3"
    async with keeping_files(temporal_env, tmp_path) as hub:
        channel = await zadarma_line(hub, api, "keep_authorized_link")
        result = await answered_and_recorded(hub, api, channel)
        assert (result.outcome, result.recording_status) == ("call", "authorized_link")
        assert asked(api) == []  # nothing is asked until somebody listens
        playback = f"/api/v1/calls/{result.call_id}/recording"

        api.queue(
            RECORDING,
            (200, {"status": "success", "link": first}),
            (200, {"status": "success", "link": second}),
        )
        once = await hub.http.get(playback, headers=hub.admin)
        again = await hub.http.get(playback, headers=hub.admin)

        # the player goes to Zadarma itself: pbxhub fetches nothing
        assert (once.status_code, once.headers["location"]) == (307, first)
        assert (again.status_code, again.headers["location"]) == (307, second)
        assert once.headers["cache-control"] == "no-store"
        want = {"call_id": RECORDING, "format": "json", "lifetime": "10800"}
        assert asked(api) == [want, want]

        api.queue(RECORDING, NOT_FOUND)
        not_yet = await hub.http.get(playback, headers=hub.admin)
        assert not_yet.status_code == 503
        assert not_yet.headers["retry-after"] == "30"
        assert "Record not found" in not_yet.json()["detail"]


async def test_a_wrong_zadarma_secret_at_playback_is_a_502_saying_what_to_fix(
    temporal_env: WorkflowEnvironment, tmp_path: Path, api: ZadarmaApi
) -> None:
    async with keeping_files(temporal_env, tmp_path) as hub:
        channel = await zadarma_line(hub, api, "keep_authorized_link")
        result = await answered_and_recorded(hub, api, channel)
        await asyncio.to_thread(
            hub.store.update_channel,
            channel["id"],
            settings_patch={"secrets": {"api_key": api.key, "api_secret": "not-the-secret"}},
        )

        answer = await hub.http.get(f"/api/v1/calls/{result.call_id}/recording", headers=hub.admin)

        assert answer.status_code == 502
        detail = answer.json()["detail"]
        assert "Zadarma refused pbxhub's API key (HTTP 401: Not authorized)" in detail
        assert "api_key and api_secret" in detail


async def test_a_line_whose_pbx_gives_no_fresh_links_cannot_keep_links_needing_authorisation(
    pbxhub: Pbxhub,
) -> None:
    settings = {"recording_storage": "keep_authorized_link"}
    refused = await pbxhub.http.post(
        "/api/v1/channels",
        json={"provider": "planfix_api", "name": "PBX", "settings": settings},
        headers=pbxhub.admin,
    )
    assert refused.status_code == 422
    assert refused.json()["detail"].startswith("settings.recording_storage: planfix_api gives no")

    channel = await pbxhub.create_channel("planfix_api")
    patched = await pbxhub.http.patch(
        f"/api/v1/channels/{channel['id']}", json={"settings": settings}, headers=pbxhub.admin
    )
    assert patched.status_code == 422
    assert "recording_link" in patched.json()["detail"]
    unchanged = await pbxhub.get(f"/api/v1/channels/{channel['id']}")
    assert "recording_storage" not in unchanged["settings"]

    zadarma = await pbxhub.create_channel("zadarma", settings=settings)
    assert zadarma["settings"]["recording_storage"] == "keep_authorized_link"


# -- Binotel: the webhook's link is the cabinet's page; the file comes from stats/call-record ----

BINOTEL_CALL = "4510000101"


async def test_a_binotel_recording_is_fetched_through_stats_call_record_not_the_cabinet_page(
    temporal_env: WorkflowEnvironment, tmp_path: Path, files: FileHost
) -> None:
    link = files.serve("/cdn0993/records/4510000101.mp3", Reply(200, MP3))
    with serving(BinotelApi()) as api:
        api.queue(
            BINOTEL_CALL,
            BinotelApi.error(201, "Call record not found"),
            (200, {"status": "success", "url": link}),
        )
        async with keeping_files(temporal_env, tmp_path) as hub:
            channel, _, _ = await binotel.binotel_line(
                hub,
                secrets={"api_key": api.key, "api_secret": api.secret},
                api_url=api.url,
                allowed_pbx_hosts=on_this_machine(api.url, files.url("/")),
            )

            await hub.deliver(
                channel, scenario("binotel", "inbound_answered"), endpoint=binotel.endpoint_of
            )
            result = await hub.call_result(channel, BINOTEL_CALL)

            assert (result.outcome, result.recording_status) == ("call", "kept")
            bodies = [json.loads(r.body) for r in api.requests()]
            want = {"key": api.key, "secret": api.secret, "generalCallID": BINOTEL_CALL}
            assert bodies == [want, want]  # still uploading once, then the link
            [kept] = hub.store.list_recordings(result.call_id or 0)
            assert kept.sha256 == hashlib.sha256(MP3).hexdigest()
            call = await the_call(hub, result)
            # the call keeps the cabinet's page as its link; the file came from the API
            assert call["recording_url"] == "http://127.0.0.1:9/binotel/records/4510000101"
            assert files.hits_of("/cdn0993/records/4510000101.mp3") == 1

            # the completed call posted again after the call closed: Binotel is not asked again
            [completed] = scenario("binotel", "inbound_answered")[-1:]
            await hub.deliver(channel, [completed], endpoint=binotel.endpoint_of)
            again = await hub.call_result(channel, BINOTEL_CALL)
            assert (again.outcome, again.recording_status) == ("amended", "kept")
            assert len(api.requests()) == 2
            assert files.hits_of("/cdn0993/records/4510000101.mp3") == 1
            assert hub.store.list_recordings(result.call_id or 0) == [kept]


# -- UIS: a fresh link from the Data API at every playback ---------------------------------------

UIS_SESSION = "3410000101"


async def test_a_uis_line_keeping_authorized_links_plays_through_the_data_api(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    with serving(UisDataApi()) as api:
        async with keeping_files(temporal_env, tmp_path) as hub:
            channel, _ = await hub.create_line(
                "uis",
                {"Anna Smirnova": {"extension": "101", "pbx_user_id": "28511"}},
                settings={
                    "recording_storage": "keep_authorized_link",
                    "secrets": {"data_api_token": api.access_token},
                    "data_api_url": api.url,
                    "allowed_pbx_hosts": on_this_machine(api.url),
                    "media_url": "https://media.uiscom.ru",
                },
            )
            await hub.deliver(channel, scenario("uis", "inbound_answered"))
            result = await hub.call_result(channel, UIS_SESSION)
            assert (result.outcome, result.recording_status) == ("call", "authorized_link")
            assert api.requests() == []
            playback = f"/api/v1/calls/{result.call_id}/recording"

            api.queue(UIS_SESSION, UisDataApi.session(UIS_SESSION, "rec-1", "rec-2"))
            played = await hub.http.get(playback, headers=hub.admin)

            assert played.status_code == 307
            assert played.headers["location"] == f"https://media.uiscom.ru/{UIS_SESSION}/rec-2"
            [asked_once] = [json.loads(r.body) for r in api.requests()]
            assert asked_once["method"] == "get.calls_report"
            assert asked_once["params"]["filter"] == {
                "field": "id",
                "operator": "=",
                "value": int(UIS_SESSION),
            }

            api.queue(UIS_SESSION, (200, {"result": {"data": [], "metadata": {}}}))
            not_yet = await hub.http.get(playback, headers=hub.admin)
            assert not_yet.status_code == 503
