"""Audio uploaded through the generic telephony API is kept where the installation keeps
recordings (PBXHUB_RECORDING_STORAGE), like a downloaded one: in the local folder, or here in
an S3-compatible server on 127.0.0.1 (moto's), wired from the settings as `pbxhub run` wires
it."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
from conftest import Pbxhub, running_pbxhub
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment
from test_recordings import outcomes
from test_telephony_api import MP3, api_line, create_call, post

from contracts.api_requests import ApiCallRequest
from pbxhub.settings import Settings
from pbxhub.wiring import recording_storage
from recordings.storage import LocalFolder, RecordingStorage, S3Bucket


def s3_settings(data_dir: Path, bucket: S3Bucket) -> Settings:
    """The installation's settings for keeping recordings in `bucket`'s server."""
    s3 = bucket.settings
    return Settings(
        data_dir=data_dir,
        recording_storage="s3",
        recording_s3_bucket=s3.bucket,
        recording_s3_prefix=s3.prefix,
        recording_s3_endpoint_url=s3.endpoint_url or "",
        recording_s3_region=s3.region or "",
        recording_s3_access_key_id=s3.access_key_id or "",
        recording_s3_secret_access_key=s3.secret_access_key or "",
    )


async def answered_with_audio(
    hub: Pbxhub, channel: dict[str, Any], pbx_call_id: str
) -> httpx.Response:
    """The PBX's update_call ending the call answered, its recording attached."""
    return await post(
        hub,
        channel,
        {"action": "update_call", "pbx_call_id": pbx_call_id, "call_status": "answered"},
        audio=("call.mp3", MP3, "audio/mpeg"),
    )


def files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


async def test_with_s3_storage_an_uploaded_recording_goes_to_the_bucket(
    temporal_env: WorkflowEnvironment, tmp_path: Path, s3_bucket: S3Bucket
) -> None:
    settings = s3_settings(tmp_path / "data", s3_bucket)
    async with running_pbxhub(
        temporal_env, tmp_path, recordings=recording_storage(settings)
    ) as hub:
        channel = await api_line(hub)
        created = await create_call(hub, channel, pbx_call_id="s3-1")

        response = await answered_with_audio(hub, channel, "s3-1")

        assert response.status_code == 200, response.text
        [kept] = hub.store.list_recordings(created["call_id"])
        digest = hashlib.sha256(MP3).hexdigest()
        assert (kept.storage, kept.location) == ("s3", f"{digest[:2]}/{digest}.mp3")
        assert s3_bucket.exists(kept.location)
        # nothing of it stays on this machine: not kept, not left in the spool
        assert files_under(tmp_path / "data") == []
        played = await hub.http.get(
            response.json()["data"]["audio_record"], headers={**hub.admin, "Range": "bytes=0-9"}
        )
        assert (played.status_code, played.content) == (206, MP3[:10])


async def test_a_bucket_that_does_not_take_the_upload_gets_503_and_nothing_is_kept(
    temporal_env: WorkflowEnvironment, tmp_path: Path, s3_bucket: S3Bucket
) -> None:
    missing = S3Bucket(replace(s3_bucket.settings, bucket="no-such-bucket"))
    local = LocalFolder(tmp_path / "recordings")
    storage = RecordingStorage.keeping_in(missing, local)
    async with running_pbxhub(temporal_env, tmp_path, recordings=storage) as hub:
        channel = await api_line(hub)
        created = await create_call(hub, channel, pbx_call_id="s3-2")

        response = await answered_with_audio(hub, channel, "s3-2")

        # the PBX is told to try again later: the storage, not its request, failed
        assert response.status_code == 503, response.text
        assert hub.store.list_recordings(created["call_id"]) == []
        assert files_under(local.root) == []


async def test_audio_uploaded_through_the_telephony_api_is_not_fetched_again(
    pbxhub: Pbxhub,
) -> None:
    channel = await api_line(pbxhub)
    created = await create_call(pbxhub, channel, pbx_call_id="up-1")
    response = await answered_with_audio(pbxhub, channel, "up-1")
    assert response.status_code == 200, response.text

    result = await pbxhub.call_result(channel, "up-1")

    # its link is pbxhub's own: already in custody, neither downloaded nor refused
    assert result.recording_status is None
    assert await outcomes(pbxhub) == {}
    call = await pbxhub.get(f"/api/v1/calls/{created['call_id']}")
    assert call["recording"]["status"] == "kept"
    played = await pbxhub.http.get(call["recording"]["url"], headers=pbxhub.admin)
    assert played.content == MP3


def test_an_upload_written_before_storage_was_configurable_reads_as_a_local_file() -> None:
    """A workflow history from before holds the upload without its storage: it was local."""
    before = {
        "action": "update_call",
        "key": "api-1",
        "call_status": "answered",
        "events": [],
        "audio": {"location": "ab/ab.mp3", "content_type": "audio/mpeg", "size": 3, "sha256": "ab"},
    }
    converter = DataConverter.default.payload_converter

    [request] = converter.from_payloads(converter.to_payloads([before]), [ApiCallRequest])

    assert isinstance(request, ApiCallRequest) and request.audio is not None
    assert (request.audio.storage, request.audio.location) == ("local", "ab/ab.mp3")
