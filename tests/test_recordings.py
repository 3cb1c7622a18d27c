"""Recording custody end to end: PBX webhooks over HTTP → the real Temporal server → a download
from a file host on 127.0.0.1 playing the PBX's → storage → the API streaming it with Range.

Links to anything but this machine are never fetched: where a test needs a "public" host, a
resolver and a transport it hands in answer for it, and no socket is opened."""

from __future__ import annotations

import asyncio
import hashlib
import json
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from conftest import Gate, Pbxhub, running_pbxhub, scenario
from file_host import Reply, file_host
from temporalio.testing import WorkflowEnvironment

from activities.recordings import RecordingActivities
from contracts.messages import CallRecord
from crm import Store, StoredCall
from providers.spec import ProviderSpec
from recordings.download import DownloadLimits
from recordings.storage import LocalFolder, RecordingStorage, S3Bucket, audio_location
from workflows.call import CallWorkflow

SESSION = 3410000101
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 40  # 10 250 bytes
PUBLIC = "93.184.216.34"


def wav(seconds: int, rate: int = 8000) -> bytes:
    """A 16-bit mono WAV of silence: its header says how long it is."""
    data = bytes(rate * 2 * seconds)
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    chunks = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    chunks += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(chunks)) + chunks


def keeping(
    tmp_path: Path, **options: Any
) -> Callable[[Store, dict[str, ProviderSpec]], RecordingActivities]:
    """The worker's recordings: the local folder (a channel allows this machine's file host by
    its exact host:port, `allowed_pbx_hosts`)."""

    def make(store: Store, specs: dict[str, ProviderSpec]) -> RecordingActivities:
        return RecordingActivities.local(store, specs, tmp_path / "recordings", **options)

    return make


@asynccontextmanager
async def custody(
    env: WorkflowEnvironment, tmp_path: Path, **options: Any
) -> AsyncIterator[Pbxhub]:
    """pbxhub keeping recordings in `recordings` (default: the local folder); `options` are
    the worker's RecordingActivities' (limits, resolve, transport)."""
    settings = {
        key: options.pop(key)
        for key in ("recording_fetch_attempts", "recordings", "recording_activities")
        if key in options
    }
    storage = settings.setdefault("recordings", RecordingStorage.local(tmp_path / "recordings"))
    settings.setdefault(
        "recording_activities",
        lambda store, specs: RecordingActivities(store, specs, storage=storage, **options),
    )
    async with running_pbxhub(env, tmp_path, **settings) as hub:
        yield hub


async def uis_line(hub: Pbxhub, **settings: Any) -> dict[str, Any]:
    """A UIS channel with Anna (extension 101, UIS user 28511), who takes the fixtures' calls."""
    channel = await hub.create_channel("uis", settings=settings)
    await hub.create_employee(
        "Anna Smirnova",
        links=[{"channel_id": channel["id"], "extension": "101", "pbx_user_id": "28511"}],
    )
    return channel


def uis_call(session: int, link: str) -> list[tuple[str, bytes]]:
    """The fixtures' answered inbound call as a new session, its recording at `link`."""
    bodies = []
    for name, body in scenario("uis", "inbound_answered"):
        data = json.loads(body)
        data["call_session_id"] = session
        if "file_link" in data:
            data["file_link"] = link
        bodies.append((name, json.dumps(data).encode()))
    return bodies


async def deliver(hub: Pbxhub, channel: dict[str, Any], bodies: list[tuple[str, bytes]]) -> None:
    for name, body in bodies:
        response = await hub.post_hook(channel, "notify", body)
        assert response.status_code == 200, f"{name}: {response.status_code} {response.text}"


async def the_call(hub: Pbxhub, channel: dict[str, Any], session: int | str) -> dict[str, Any]:
    stored = await asyncio.to_thread(hub.store.get_call_by_session, channel["id"], str(session))
    assert stored is not None
    call: dict[str, Any] = await hub.get(f"/api/v1/calls/{stored.id}")
    return call


async def outcomes(hub: Pbxhub) -> dict[tuple[str, str | None], int]:
    rows = await hub.get("/api/v1/recordings/outcomes")
    return {(row["status"], row["error_code"]): row["calls"] for row in rows}


# -- keeping the file --------------------------------------------------------------------------


async def test_a_recording_not_ready_twice_is_fetched_on_the_third_try_and_kept(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    with file_host() as host:
        link = host.serve(
            "/records/1.mp3",
            Reply(503),
            Reply(404),
            Reply(200, MP3, {"Content-Type": "text/plain"}),
        )
        async with custody(temporal_env, tmp_path) as hub:
            channel = await uis_line(hub, allowed_pbx_hosts=[f"127.0.0.1:{host.port}"])

            await deliver(hub, channel, uis_call(SESSION, link))
            result = await hub.call_result(channel, SESSION)

            assert (result.outcome, result.recording_status) == ("call", "kept")
            assert host.hits_of("/records/1.mp3") == 3
            digest = hashlib.sha256(MP3).hexdigest()
            [kept] = hub.store.list_recordings(result.call_id or 0)
            # the bytes say what it is, whatever the file host's Content-Type claimed
            assert (kept.content_type, kept.size, kept.sha256) == ("audio/mpeg", len(MP3), digest)
            assert (kept.storage, kept.location) == ("local", audio_location(digest, "mp3"))
            assert kept.source_url == link
            assert kept.duration_seconds == 65  # an MP3's length is the PBX's figure
            assert (tmp_path / "recordings" / kept.location).read_bytes() == MP3
            assert list((tmp_path / "recordings" / ".incoming").iterdir()) == []

            call = await the_call(hub, channel, SESSION)
            assert call["recording_url"] == link
            assert call["recording"] == {
                "status": "kept",
                "url": f"/api/v1/recordings/{kept.id}",
                "reason": None,
                "error_code": None,
                "id": kept.id,
                "content_type": "audio/mpeg",
                "size": len(MP3),
                "sha256": digest,
                "duration_seconds": 65,
            }
            played = await hub.http.get(call["recording"]["url"], headers=hub.admin)
            assert (played.status_code, played.content) == (200, MP3)
            assert played.headers["content-type"] == "audio/mpeg"
            assert await outcomes(hub) == {("kept", None): 1}


async def test_a_one_time_link_is_fetched_at_once_before_the_call_is_even_over(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    audio = wav(3)
    with file_host() as host:
        link = host.serve("/once/pf-1002.wav", Reply(200, audio), Reply(410, b"used"))
        async with custody(temporal_env, tmp_path) as hub:
            channel = await hub.create_channel(
                "planfix_api",
                settings={
                    "secrets": {"planfix_token": "303cb962ac59075b964b07152d234b70"},
                    "allowed_pbx_hosts": [f"127.0.0.1:{host.port}"],
                },
            )
            await hub.create_employee(
                "Anna", links=[{"channel_id": channel["id"], "extension": "101"}]
            )
            bodies = dict(scenario("planfix_api", "inbound_record_later"))
            record = bodies.pop("04_record.txt").replace(
                quote("http://127.0.0.1:9/records/pf-1002.mp3", safe="").encode(),
                quote(link, safe="").encode(),
            )
            assert b"is_temp=1" in record

            async def post(body: bytes) -> None:
                response = await hub.post_hook(
                    channel, "api", body, content_type="application/x-www-form-urlencoded"
                )
                assert response.status_code == 200, response.text

            # the link comes while the call still rings: it is fetched then and there
            await post(bodies["01_incoming.txt"])
            await post(record)
            for _ in range(100):
                if host.hits_of("/once/pf-1002.wav"):
                    break
                await asyncio.sleep(0.1)
            assert host.hits_of("/once/pf-1002.wav") == 1
            assert hub.store.get_call_by_session(channel["id"], "pf-1002") is None
            # used once, it is gone
            async with httpx.AsyncClient() as client:
                assert (await client.get(link)).status_code == 410

            await post(bodies["02_accepted.txt"])
            await post(bodies["03_completed.txt"])
            result = await hub.call_result(channel, "pf-1002")

            assert (result.outcome, result.recording_status) == ("call", "kept")
            assert host.hits_of("/once/pf-1002.wav") == 2  # the workflow's one and ours
            [kept] = hub.store.list_recordings(result.call_id or 0)
            assert (kept.content_type, kept.size) == ("audio/wav", len(audio))
            assert kept.duration_seconds == 3  # read from the WAV header
            call = await the_call(hub, channel, "pf-1002")
            assert call["recording"]["status"] == "kept"
            played = await hub.http.get(call["recording"]["url"], headers=hub.admin)
            assert played.content == audio

            # the PBX posts the record again after the call closed: the used link is not
            # fetched again, and the file kept stays the call's
            await post(record)
            again = await hub.call_result(channel, "pf-1002")
            assert (again.outcome, again.recording_status) == ("amended", "kept")
            assert host.hits_of("/once/pf-1002.wav") == 2
            assert hub.store.list_recordings(result.call_id or 0) == [kept]
            assert (await the_call(hub, channel, "pf-1002"))["recording"]["status"] == "kept"


async def test_the_recording_webhook_repeated_after_the_call_closed_keeps_the_file_it_has(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    # the PBX retries its webhook (it timed out waiting for our answer) when the link is gone
    with file_host() as host:
        link = host.serve("/records/1.mp3", Reply(200, MP3), Reply(410, b"expired"))
        async with custody(temporal_env, tmp_path) as hub:
            channel = await uis_line(hub, allowed_pbx_hosts=[f"127.0.0.1:{host.port}"])
            bodies = uis_call(SESSION, link)
            await deliver(hub, channel, bodies)
            first = await hub.call_result(channel, SESSION)
            assert (first.outcome, first.recording_status) == ("call", "kept")

            await deliver(hub, channel, bodies[-1:])
            again = await hub.call_result(channel, SESSION)

            assert (again.outcome, again.call_id) == ("amended", first.call_id)
            assert again.recording_status == "kept"
            assert host.hits_of("/records/1.mp3") == 1  # not fetched again
            call = await the_call(hub, channel, SESSION)
            assert (call["recording"]["status"], call["recording"]["reason"]) == ("kept", None)
            assert len(hub.store.list_recordings(call["id"])) == 1
            assert await outcomes(hub) == {("kept", None): 1}


class OutcomeHeldStore(Store):
    """A real store whose write of a recording's outcome (the last thing a call's run does)
    waits while its gate is closed: a webhook can come while the run closes."""

    gate = Gate()

    def set_recording_outcome(self, call_id: int, **outcome: Any) -> StoredCall | None:
        self.gate.pass_through()
        return super().set_recording_outcome(call_id, **outcome)


async def test_a_second_recording_that_comes_while_the_first_is_kept_is_kept_too(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    gate = OutcomeHeldStore.gate
    gate.close()
    second_audio = wav(2)
    try:
        with file_host() as host:
            first = host.serve("/records/1.mp3", Reply(200, MP3))
            second = host.serve("/records/1-again.wav", Reply(200, second_audio))
            async with running_pbxhub(
                temporal_env,
                tmp_path,
                store_class=OutcomeHeldStore,
                recording_activities=keeping(tmp_path),
            ) as hub:
                channel = await uis_line(hub, allowed_pbx_hosts=[f"127.0.0.1:{host.port}"])
                bodies = uis_call(SESSION, first)
                await deliver(hub, channel, bodies)
                # the first file is kept; its outcome is being written when the PBX sends a
                # second link for the same call
                assert await gate.wait_reached()
                await deliver(hub, channel, uis_call(SESSION, second)[-1:])
                workflow = hub.workflow(channel, SESSION)
                for _ in range(100):
                    if (await workflow.query(CallWorkflow.state)).events == len(bodies) + 1:
                        break
                    await asyncio.sleep(0.1)
                else:
                    raise AssertionError("the second link did not reach the call's workflow")
                gate.open()

                result = await hub.call_result(channel, SESSION)

                assert (result.outcome, result.recording_status) == ("amended", "kept")
                assert host.hits_of("/records/1.mp3") == host.hits_of("/records/1-again.wav") == 1
                call = await the_call(hub, channel, SESSION)
                assert call["id"] == result.call_id
                assert call["recording_url"] == second
                kept = hub.store.list_recordings(call["id"])
                assert [(r.source_url, r.size) for r in kept] == [
                    (first, len(MP3)),
                    (second, len(second_audio)),
                ]
    finally:
        gate.open()


async def test_an_expired_link_and_a_link_never_ready_are_recorded_as_failed_and_counted(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    with file_host() as host:
        expired = host.serve("/old.mp3", Reply(410, b"expired"))
        never = host.serve("/never.mp3", Reply(404))
        async with custody(temporal_env, tmp_path, recording_fetch_attempts=2) as hub:
            channel = await uis_line(hub, allowed_pbx_hosts=[f"127.0.0.1:{host.port}"])

            await deliver(hub, channel, uis_call(1, expired) + uis_call(2, never))
            first, second = await asyncio.gather(
                hub.call_result(channel, 1), hub.call_result(channel, 2)
            )

            assert (first.outcome, first.recording_status) == ("call", "failed")
            assert "410" in (first.recording_error or "")
            assert host.hits_of("/old.mp3") == 1  # gone is gone: no retry
            assert second.recording_status == "failed"
            assert "gave up after 2 attempts" in (second.recording_error or "")
            assert host.hits_of("/never.mp3") == 2

            call = await the_call(hub, channel, 1)
            assert call["recording_url"] == expired
            assert call["recording"]["status"] == "failed"
            assert call["recording"]["error_code"] == "gone"
            assert "expired" in call["recording"]["reason"]
            assert call["recording"]["url"] is None
            assert (await the_call(hub, channel, 2))["recording"]["error_code"] == "not_ready"
            assert await outcomes(hub) == {("failed", "gone"): 1, ("failed", "not_ready"): 1}
            answer = await hub.http.get(f"/api/v1/calls/{call['id']}/recording", headers=hub.admin)
            assert answer.status_code == 404 and "expired" in answer.json()["detail"]
            assert hub.store.list_recordings(call["id"]) == []


async def test_an_oversized_file_is_refused_declared_or_not(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    big = b"ID3" + bytes(50_000)
    with file_host() as host:
        declared = host.serve("/big.mp3", Reply(200, big))
        streamed = host.serve("/stream.mp3", Reply(200, big, declare_length=False))
        limits = DownloadLimits(max_bytes=10_000)
        async with custody(temporal_env, tmp_path, limits=limits) as hub:
            channel = await uis_line(hub, allowed_pbx_hosts=[f"127.0.0.1:{host.port}"])

            await deliver(hub, channel, uis_call(1, declared) + uis_call(2, streamed))
            results = await asyncio.gather(hub.call_result(channel, 1), hub.call_result(channel, 2))

            for result in results:
                assert result.recording_status == "failed"
                assert "10000-byte limit" in (result.recording_error or "")
            assert await outcomes(hub) == {("failed", "too_large"): 2}
            assert host.hits_of("/big.mp3") == host.hits_of("/stream.mp3") == 1
            left = [p for p in (tmp_path / "recordings").rglob("*") if p.is_file()]
            assert left == []


# -- the guard, end to end ---------------------------------------------------------------------


async def test_loopback_links_in_every_spelling_are_refused_and_recorded_with_the_reason(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    with file_host() as host:
        host.serve("/r.mp3", Reply(200, MP3))
        port = host.port
        spellings = [
            f"http://127.0.0.1:{port}/r.mp3",
            f"http://localhost:{port}/r.mp3",
            f"http://2130706433:{port}/r.mp3",
            f"http://0x7f000001:{port}/r.mp3",
            f"http://127.1:{port}/r.mp3",
            f"http://[::1]:{port}/r.mp3",
        ]
        # the channel lists no host:port of this machine in allowed_pbx_hosts
        async with custody(temporal_env, tmp_path) as hub:
            # the channel allows every one of these hosts: the address is what is refused
            channel = await uis_line(
                hub, recording_hosts=["127.0.0.1", "localhost", "2130706433", "127.1", "::1"]
            )
            bodies = [body for i, url in enumerate(spellings) for body in uis_call(100 + i, url)]

            await deliver(hub, channel, bodies)
            results = await asyncio.gather(
                *(hub.call_result(channel, 100 + i) for i in range(len(spellings)))
            )

            for i, (url, result) in enumerate(zip(spellings, results, strict=True)):
                assert result.recording_status == "refused", url
                assert "loopback" in (result.recording_error or ""), (url, result.recording_error)
                call = await the_call(hub, channel, 100 + i)
                assert call["recording"]["error_code"] == "loopback"
                assert call["recording_url"] == url  # the PBX's link stays, for a person to see
            assert host.hits == []
            assert await outcomes(hub) == {("refused", "loopback"): len(spellings)}


async def test_a_redirect_to_loopback_is_refused_end_to_end(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    with file_host() as host:
        inside = host.serve("/r.mp3", Reply(200, MP3))
        asked: list[httpx.Request] = []

        def public_file_host(request: httpx.Request) -> httpx.Response:
            # stands in for the PBX's public host: no socket is opened
            asked.append(request)
            assert request.url.host == PUBLIC, f"a connection to {request.url} was attempted"
            return httpx.Response(302, headers={"Location": inside})

        recordings = keeping(
            tmp_path,
            resolve=lambda host_name, port: {"files.pbx.example": [PUBLIC]}[host_name],
            transport=httpx.MockTransport(public_file_host),
        )
        async with custody(temporal_env, tmp_path, recording_activities=recordings) as hub:
            channel = await uis_line(hub, recording_hosts=["files.pbx.example", "127.0.0.1"])

            await deliver(hub, channel, uis_call(SESSION, "https://files.pbx.example/r.mp3"))
            result = await hub.call_result(channel, SESSION)

            assert result.recording_status == "refused"
            assert "127.0.0.1 is a loopback address" in (result.recording_error or "")
            [request] = asked
            assert request.headers["host"] == "files.pbx.example"
            assert host.hits == []
            call = await the_call(hub, channel, SESSION)
            assert call["recording"]["error_code"] == "loopback"


async def test_a_host_outside_the_allow_list_is_refused(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    asked: list[str] = []

    def resolve(host_name: str, port: int) -> list[str]:
        asked.append(host_name)  # a name nobody allowed is not even looked up
        return [PUBLIC]

    def no_connection(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"a connection to {request.url} was attempted")

    recordings = keeping(tmp_path, resolve=resolve, transport=httpx.MockTransport(no_connection))
    async with custody(temporal_env, tmp_path, recording_activities=recordings) as hub:
        channel = await uis_line(hub)  # UIS's own hosts only

        await deliver(hub, channel, uis_call(SESSION, "https://files.elsewhere.example/r.mp3"))
        result = await hub.call_result(channel, SESSION)

        assert result.recording_status == "refused"
        assert "not an allowed recording host" in (result.recording_error or "")
        assert "media.uiscom.ru" in (result.recording_error or "")
        assert asked == []


# -- the other storage modes -------------------------------------------------------------------


async def test_each_storage_mode_keeps_what_it_says_and_downloads_nothing(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    modes = ["keep_link", "keep_nothing", "keep_authorized_link"]
    with file_host() as host:
        link = host.serve("/r.mp3", Reply(200, MP3))
        async with custody(temporal_env, tmp_path) as hub:
            channels = {
                mode: await hub.create_channel(
                    "uis",
                    settings={
                        "recording_storage": mode,
                        "allowed_pbx_hosts": [f"127.0.0.1:{host.port}"],
                    },
                )
                for mode in modes
            }
            await hub.create_employee(
                "Anna",
                links=[
                    {"channel_id": channel["id"], "extension": "101", "pbx_user_id": "28511"}
                    for channel in channels.values()
                ],
            )

            for channel in channels.values():
                await deliver(hub, channel, uis_call(SESSION, link))
            results = await asyncio.gather(
                *(hub.call_result(channel, SESSION) for channel in channels.values())
            )

            statuses = {
                mode: result.recording_status for mode, result in zip(modes, results, strict=True)
            }
            assert statuses == {
                "keep_link": "linked",
                "keep_nothing": "not_kept",
                "keep_authorized_link": "authorized_link",
            }
            assert host.hits == []
            calls = {mode: await the_call(hub, channels[mode], SESSION) for mode in modes}
            assert hub.store.list_recordings(calls["keep_link"]["id"]) == []

            linked = calls["keep_link"]
            assert linked["recording_url"] == link
            assert linked["recording"]["url"] == f"/api/v1/calls/{linked['id']}/recording"
            answer = await hub.http.get(linked["recording"]["url"], headers=hub.admin)
            assert (answer.status_code, answer.headers["location"]) == (307, link)

            nothing = calls["keep_nothing"]
            assert nothing["recording_url"] is None
            assert nothing["recording"] == {
                "status": "not_kept", "url": None, "reason": None, "error_code": None,
                "id": None, "content_type": None, "size": None, "sha256": None,
                "duration_seconds": None,
            }  # fmt: skip
            answer = await hub.http.get(
                f"/api/v1/calls/{nothing['id']}/recording", headers=hub.admin
            )
            assert answer.status_code == 404

            authorized = calls["keep_authorized_link"]
            assert authorized["recording_url"] == link
            # played, the link comes fresh from the UIS Data API: this line has no token for it
            answer = await hub.http.get(authorized["recording"]["url"], headers=hub.admin)
            assert answer.status_code == 409
            assert answer.json()["detail"] == (
                "the channel has no secrets.data_api_token: set it in the channel's settings"
            )


async def test_a_misspelt_storage_mode_or_host_is_refused_naming_it(pbxhub: Pbxhub) -> None:
    for settings, named in (
        ({"recording_storage": "keep_files"}, "recording_storage"),
        ({"recording_hosts": ["http://files.pbx.example/"]}, "recording_hosts"),
        ({"recording_hosts": "files.pbx.example"}, None),
    ):
        response = await pbxhub.http.post(
            "/api/v1/channels",
            json={"provider": "uis", "name": "line", "settings": settings},
            headers=pbxhub.admin,
        )
        if named is None:
            assert response.status_code == 201, response.text
        else:
            assert response.status_code == 422, response.text
            assert named in response.text
    channel = await pbxhub.create_channel("uis")
    url = f"/api/v1/channels/{channel['id']}"
    patched = await pbxhub.http.patch(
        url, json={"settings": {"recording_storage": "keep_files"}}, headers=pbxhub.admin
    )
    assert patched.status_code == 422 and "recording_storage" in patched.text
    patched = await pbxhub.http.patch(
        url, json={"settings": {"recording_storage": "keep_link"}}, headers=pbxhub.admin
    )
    assert patched.json()["settings"]["recording_storage"] == "keep_link"
    patched = await pbxhub.http.patch(
        url, json={"settings": {"recording_storage": None}}, headers=pbxhub.admin
    )
    assert "recording_storage" not in patched.json()["settings"]


# -- serving: Range --------------------------------------------------------------------------


async def kept_recording(
    hub: Pbxhub, tmp_path: Path, content: bytes, *, contact_id: int | None = None
) -> tuple[int, str]:
    """A call (of the contact, when given) with a recording in the local folder, straight
    through the store: (the recording's id, its checksum)."""
    channel = await hub.create_channel("uis")

    def keep() -> tuple[int, str]:
        call, _ = hub.store.save_call(
            CallRecord(
                channel_id=channel["id"],
                session_id="s1",
                provider="uis",
                kind="call",
                direction="in",
                contact_id=contact_id,
            )
        )
        digest = hashlib.sha256(content).hexdigest()
        location = audio_location(digest, "mp3")
        source = tmp_path / "upload.part"
        source.write_bytes(content)
        LocalFolder(tmp_path / "recordings").put(source, location, "audio/mpeg")
        recording, _ = hub.store.add_recording(
            call_id=call.id,
            storage="local",
            location=location,
            content_type="audio/mpeg",
            size=len(content),
            sha256=digest,
        )
        return recording.id, digest

    return await asyncio.to_thread(keep)


@pytest.mark.parametrize(
    ("asked", "status", "content_range", "part"),
    [
        (None, 200, None, slice(None)),
        ("bytes=0-99", 206, "bytes 0-99/10250", slice(0, 100)),
        ("bytes=10000-", 206, "bytes 10000-10249/10250", slice(10000, None)),
        ("bytes=-50", 206, "bytes 10200-10249/10250", slice(-50, None)),
        ("bytes=-99999", 206, "bytes 0-10249/10250", slice(None)),
        ("bytes=10200-99999", 206, "bytes 10200-10249/10250", slice(10200, None)),
        ("bytes=10249-10249", 206, "bytes 10249-10249/10250", slice(10249, 10250)),
        # several ranges, another unit, nonsense: the whole file, as the RFC allows
        ("bytes=0-1,5-6", 200, None, slice(None)),
        ("items=0-1", 200, None, slice(None)),
        ("bytes=9-3", 200, None, slice(None)),
    ],
)
async def test_range_requests(
    pbxhub: Pbxhub,
    tmp_path: Path,
    asked: str | None,
    status: int,
    content_range: str | None,
    part: slice,
) -> None:
    recording_id, digest = await kept_recording(pbxhub, tmp_path, MP3)
    headers = {**pbxhub.admin, **({"Range": asked} if asked else {})}

    for key in (str(recording_id), digest):  # by id, and by checksum (telephony API links)
        answer = await pbxhub.http.get(f"/api/v1/recordings/{key}", headers=headers)

        assert answer.status_code == status, answer.text
        assert answer.content == MP3[part]
        assert answer.headers["content-length"] == str(len(MP3[part]))
        assert answer.headers.get("content-range") == content_range
        assert answer.headers["accept-ranges"] == "bytes"
        assert answer.headers["content-type"] == "audio/mpeg"
        assert answer.headers["etag"] == f'"{digest}"'


@pytest.mark.parametrize("asked", ["bytes=10250-", "bytes=20000-30000", "bytes=-0"])
async def test_an_unsatisfiable_range_is_416(pbxhub: Pbxhub, tmp_path: Path, asked: str) -> None:
    recording_id, _ = await kept_recording(pbxhub, tmp_path, MP3)
    answer = await pbxhub.http.get(
        f"/api/v1/recordings/{recording_id}", headers={**pbxhub.admin, "Range": asked}
    )
    assert answer.status_code == 416
    assert answer.headers["content-range"] == "bytes */10250"
    assert answer.content == b""


async def test_if_range_for_another_file_gets_the_whole_one_and_head_only_headers(
    pbxhub: Pbxhub, tmp_path: Path
) -> None:
    recording_id, digest = await kept_recording(pbxhub, tmp_path, MP3)
    url = f"/api/v1/recordings/{recording_id}"
    stale = await pbxhub.http.get(
        url, headers={**pbxhub.admin, "Range": "bytes=0-9", "If-Range": '"other"'}
    )
    assert (stale.status_code, len(stale.content)) == (200, len(MP3))
    fresh = await pbxhub.http.get(
        url, headers={**pbxhub.admin, "Range": "bytes=0-9", "If-Range": f'"{digest}"'}
    )
    assert (fresh.status_code, fresh.content) == (206, MP3[:10])
    head = await pbxhub.http.head(url, headers={**pbxhub.admin, "Range": "bytes=0-9"})
    assert (head.status_code, head.headers["content-length"], head.content) == (206, "10", b"")


async def test_recordings_need_the_admin_key_and_a_known_id(pbxhub: Pbxhub, tmp_path: Path) -> None:
    recording_id, _ = await kept_recording(pbxhub, tmp_path, MP3)
    assert (await pbxhub.http.get(f"/api/v1/recordings/{recording_id}")).status_code == 401
    for key, status in (("999", 404), ("0" * 64, 404), ("no-such-thing", 422)):
        answer = await pbxhub.http.get(f"/api/v1/recordings/{key}", headers=pbxhub.admin)
        assert answer.status_code == status, key


# -- S3-compatible storage: moto's server on 127.0.0.1 -----------------------------------------


def test_s3_round_trip(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    source = tmp_path / "r.part"
    source.write_bytes(MP3)
    location = audio_location(hashlib.sha256(MP3).hexdigest(), "mp3")

    s3_bucket.put(source, location, "audio/mpeg")

    assert not source.exists()
    assert s3_bucket.exists(location) and not s3_bucket.exists("aa/none.mp3")
    assert b"".join(s3_bucket.read(location, 0, len(MP3) - 1)) == MP3
    assert b"".join(s3_bucket.read(location, 100, 199)) == MP3[100:200]
    head = s3_bucket._client.head_object(Bucket="pbxhub-recordings", Key=f"calls/{location}")
    assert (head["ContentType"], head["ContentLength"]) == ("audio/mpeg", len(MP3))


async def test_a_recording_kept_in_s3_is_served_with_ranges(
    temporal_env: WorkflowEnvironment, tmp_path: Path, s3_bucket: S3Bucket
) -> None:
    with file_host() as host:
        link = host.serve("/records/1.mp3", Reply(200, MP3))

        to_s3 = RecordingStorage.keeping_in(s3_bucket, LocalFolder(tmp_path / "recordings"))
        async with custody(temporal_env, tmp_path, recordings=to_s3) as hub:
            channel = await uis_line(hub, allowed_pbx_hosts=[f"127.0.0.1:{host.port}"])

            await deliver(hub, channel, uis_call(SESSION, link))
            result = await hub.call_result(channel, SESSION)

            assert result.recording_status == "kept"
            [kept] = hub.store.list_recordings(result.call_id or 0)
            assert kept.storage == "s3"
            assert s3_bucket.exists(kept.location)
            assert not (tmp_path / "recordings" / kept.location).exists()
            answer = await hub.http.get(
                f"/api/v1/recordings/{kept.id}", headers={**hub.admin, "Range": "bytes=-10"}
            )
            assert (answer.status_code, answer.content) == (206, MP3[-10:])
            assert (
                answer.headers["content-range"]
                == f"bytes {len(MP3) - 10}-{len(MP3) - 1}/{len(MP3)}"
            )


def test_the_store_keeps_recording_outcomes_and_counts_them(store: Store) -> None:
    channel = store.create_channel(provider="uis", name="line")
    calls = [
        store.save_call(
            CallRecord(
                channel_id=channel.id,
                session_id=f"s{i}",
                provider="uis",
                kind="call",
                direction="in",
                recording_url=f"https://media.uiscom.ru/{i}",
            )
        )[0]
        for i in range(4)
    ]
    digest = hashlib.sha256(MP3).hexdigest()
    kept, added = store.add_recording(
        call_id=calls[0].id,
        storage="s3",
        location=audio_location(digest, "mp3"),
        content_type="audio/mpeg",
        size=len(MP3),
        sha256=digest,
        source_url="https://media.uiscom.ru/0",
        duration_seconds=65,
    )
    assert added and kept.duration_seconds == 65
    assert store.get_recording(kept.id) == kept
    assert store.find_recording_by_source(calls[0].id, "https://media.uiscom.ru/0") == kept
    assert store.find_recording_by_source(calls[1].id, "https://media.uiscom.ru/0") is None

    store.set_recording_outcome(calls[0].id, status="kept")
    for call in calls[1:3]:
        store.set_recording_outcome(
            call.id, status="refused", error_code="loopback", error="127.0.0.1 is loopback"
        )
    cleared = store.set_recording_outcome(calls[3].id, status="not_kept", clear_link=True)
    with pytest.raises(ValueError):
        store.set_recording_outcome(calls[3].id, status="lost")

    assert cleared is not None and cleared.recording_url is None
    first = store.get_call(calls[0].id)
    assert first is not None and first.recordings == [kept]
    refused = store.get_call(calls[1].id)
    assert refused is not None
    assert (refused.recording_status, refused.recording_error_code) == ("refused", "loopback")
    assert store.count_recording_outcomes() == [
        ("refused", "loopback", 2),
        ("kept", None, 1),
        ("not_kept", None, 1),
    ]
    assert store.count_recording_outcomes(channel_id=channel.id + 1) == []
