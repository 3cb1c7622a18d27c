"""Where recordings' audio lies: a local folder (the default) or an S3-compatible bucket.

Files are content-addressed (`<sha256[:2]>/<sha256>.<ext>`), so the same audio kept twice is
one file, and a file once written never changes. Both stores write atomically: a reader sees the
whole file or none. A recording row's `storage` names the store (`local`, `s3`) its `location`
is in.
"""

from __future__ import annotations

import ipaddress
import os
import re
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from crm.pbx_hosts import check_pbx_host_settings
from crm.recording_limits import check_recording_limit_settings

__all__ = [
    "AUDIO_FORMATS",
    "KEEP_AUTHORIZED_LINK",
    "KEEP_FILE",
    "KEEP_LINK",
    "KEEP_NOTHING",
    "MODE_STATUS",
    "RECORDING_HOSTS_SETTING",
    "RECORDING_MODES",
    "RECORDING_STATUSES",
    "RECORDING_STORAGE_SETTING",
    "LocalFolder",
    "RecordingFiles",
    "S3Bucket",
    "S3Settings",
    "audio_location",
    "check_recording_settings",
    "recording_hosts",
    "recording_mode",
    "sniff_audio",
    "wav_duration",
]

# The audio formats pbxhub keeps, as (extension, content type).
AUDIO_FORMATS: Final = {
    "mp3": "audio/mpeg",
    "mp4": "audio/mp4",
    "wav": "audio/wav",
    "ogg": "audio/ogg",
}
_CHUNK: Final = 256 * 1024

# What a channel keeps of its calls' recordings (channel.settings["recording_storage"]), as the
# reference CRM offers it: the file in pbxhub (default), nothing, the PBX's link, or a link the
# PBX must authorise afresh at playback time.
RECORDING_STORAGE_SETTING: Final = "recording_storage"
KEEP_FILE: Final = "keep_file"
KEEP_NOTHING: Final = "keep_nothing"
KEEP_LINK: Final = "keep_link"
KEEP_AUTHORIZED_LINK: Final = "keep_authorized_link"
RECORDING_MODES: Final = (KEEP_FILE, KEEP_NOTHING, KEEP_LINK, KEEP_AUTHORIZED_LINK)
# Hosts a channel adds to its provider's recording hosts (channel.settings["recording_hosts"]).
RECORDING_HOSTS_SETTING: Final = "recording_hosts"
_HOST: Final = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?\.?$")

# What became of a call's recording (calls.recording_status): the mode's own word when it keeps
# no file, else kept, or refused (the link guard said no) / failed (the PBX gave no file).
MODE_STATUS: Final = {
    KEEP_NOTHING: "not_kept",
    KEEP_LINK: "linked",
    KEEP_AUTHORIZED_LINK: "authorized_link",
}
RECORDING_STATUSES: Final = frozenset({"kept", "refused", "failed", *MODE_STATUS.values()})


def recording_mode(settings: Mapping[str, Any]) -> str:
    """The channel's recording mode; the default (and what an unknown value falls back to)
    is keeping the file."""
    mode = settings.get(RECORDING_STORAGE_SETTING)
    return mode if mode in RECORDING_MODES else KEEP_FILE


def check_recording_settings(settings: Mapping[str, Any]) -> None:
    """ValueError naming the setting when a channel's recording settings are not usable: the
    mode, the recording hosts, the PBX's private host:port allow-list and the limits."""
    check_pbx_host_settings(settings)
    check_recording_limit_settings(settings)
    mode = settings.get(RECORDING_STORAGE_SETTING)
    if mode is not None and mode not in RECORDING_MODES:
        raise ValueError(
            f"{RECORDING_STORAGE_SETTING} must be one of {', '.join(RECORDING_MODES)}, not {mode!r}"
        )
    hosts = settings.get(RECORDING_HOSTS_SETTING)
    if hosts is None:
        return
    if isinstance(hosts, str):
        hosts = hosts.split(",")
    if not isinstance(hosts, list) or not all(isinstance(host, str) for host in hosts):
        raise ValueError(f"{RECORDING_HOSTS_SETTING} must be a list of host names")
    for host in hosts:
        text = host.strip().lower()
        if text and not (_HOST.match(text) or _is_ip(text.strip("[]"))):
            raise ValueError(
                f"{RECORDING_HOSTS_SETTING}: {host!r} is not a host name, *.wildcard or IP address"
            )


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def recording_hosts(settings: Mapping[str, Any]) -> tuple[str, ...]:
    """The recording hosts the channel allows besides its provider's (a list or a
    comma-separated string)."""
    hosts = settings.get(RECORDING_HOSTS_SETTING) or ()
    if isinstance(hosts, str):
        hosts = hosts.split(",")
    return tuple(str(host).strip() for host in hosts if str(host).strip())


def sniff_audio(head: bytes) -> str | None:
    """The format ("mp3", "mp4", "wav", "ogg") the first bytes of a file show, or None."""
    if head.startswith(b"ID3"):
        return "mp3"
    # An MPEG audio frame: 11 sync bits, a known version, layer I-III (ADTS AAC has layer 0).
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        if head[1] & 0x18 != 0x08 and head[1] & 0x06 != 0:
            return "mp3"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "mp4"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"OggS"):
        return "ogg"
    return None


def wav_duration(head: bytes, total_size: int | None = None) -> int | None:
    """A WAV file's length in whole seconds from its header (its `fmt ` byte rate and `data`
    size, no more than the file holds), when the first bytes hold both; None otherwise. The one
    format whose duration is known without decoding: for the others the PBX's figure is kept."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    offset, byte_rate = 12, 0
    while offset + 8 <= len(head):
        chunk_id, size = head[offset : offset + 4], struct.unpack_from("<I", head, offset + 4)[0]
        if chunk_id == b"fmt " and offset + 16 <= len(head):
            byte_rate = struct.unpack_from("<I", head, offset + 16)[0]
        elif chunk_id == b"data":
            if total_size is not None:
                size = min(size, max(total_size - offset - 8, 0))
            return round(size / byte_rate) if byte_rate else None
        offset += 8 + size + (size & 1)
    return None


def audio_location(sha256: str, extension: str) -> str:
    return f"{sha256[:2]}/{sha256}.{extension}"


class RecordingFiles(Protocol):
    """One place recordings lie; `name` is what recording rows call it."""

    name: str

    def put(self, source: Path, location: str, content_type: str) -> None:
        """Keep the file at `source` (which is consumed) under `location`, atomically."""

    def read(self, location: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes `start` to `end` (inclusive) of a kept file."""

    def exists(self, location: str) -> bool: ...


class LocalFolder:
    """Recordings under one folder on this machine (`Settings.data_dir / "recordings"`)."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, location: str) -> Path:
        """The file's path; ValueError for a location that would lead out of the folder."""
        root = self.root.resolve()
        path = (root / location).resolve()
        if not path.is_relative_to(root) or path == root:
            raise ValueError(f"location {location!r} is outside the recordings folder")
        return path

    def spool(self) -> Path:
        """A folder for files being downloaded, on the same file system (so `put` is a rename)."""
        folder = self.root / ".incoming"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def put(self, source: Path, location: str, content_type: str) -> None:
        target = self.path(location)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Same content, same name: an existing file is already this one.
        os.replace(source, target)

    def read(self, location: str, start: int, end: int) -> Iterator[bytes]:
        with self.path(location).open("rb") as file:
            file.seek(start)
            left = end - start + 1
            while left > 0:
                chunk = file.read(min(_CHUNK, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk

    def exists(self, location: str) -> bool:
        try:
            return self.path(location).is_file()
        except ValueError:
            return False


@dataclass(frozen=True)
class S3Settings:
    """An S3-compatible bucket. Keys left empty come from boto3's own chain (environment,
    config files, instance roles)."""

    bucket: str
    prefix: str = "recordings/"
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None


class S3Bucket:
    """Recordings in an S3-compatible bucket (AWS S3, MinIO, Ceph, ...), through boto3.

    A single PUT is atomic in S3: an object is visible whole or not at all.
    """

    name = "s3"

    def __init__(self, settings: S3Settings, *, client: Any = None) -> None:
        self.settings = settings
        self._client = client if client is not None else _s3_client(settings)

    def _key(self, location: str) -> str:
        return f"{self.settings.prefix}{location}"

    def put(self, source: Path, location: str, content_type: str) -> None:
        try:
            self._client.upload_file(
                str(source),
                self.settings.bucket,
                self._key(location),
                ExtraArgs={"ContentType": content_type},
            )
        finally:
            source.unlink(missing_ok=True)

    def read(self, location: str, start: int, end: int) -> Iterator[bytes]:
        answer = self._client.get_object(
            Bucket=self.settings.bucket, Key=self._key(location), Range=f"bytes={start}-{end}"
        )
        body = answer["Body"]
        try:
            yield from body.iter_chunks(_CHUNK)
        finally:
            body.close()

    def exists(self, location: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._client.head_object(Bucket=self.settings.bucket, Key=self._key(location))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True


def _s3_client(settings: S3Settings) -> Any:
    import boto3  # only deployments that keep recordings in S3 need it loaded

    options: Mapping[str, Any] = {
        key: value
        for key, value in (
            ("endpoint_url", settings.endpoint_url),
            ("region_name", settings.region),
            ("aws_access_key_id", settings.access_key_id),
            ("aws_secret_access_key", settings.secret_access_key),
        )
        if value
    }
    return boto3.client("s3", **options)
