"""Where recordings' audio lies: a local folder (the default) or an S3-compatible bucket, and
`RecordingStorage`, the configured one new files go to (downloads and uploads alike) with every
one old rows may name.

Files are content-addressed (`<sha256[:2]>/<sha256>.<ext>`), so the same audio kept twice is
one file, and a file once written never changes. Both stores write atomically: a reader sees the
whole file or none. A recording row's `storage` names the store (`local`, `s3`) its `location`
is in.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from contracts.messages import KeptFile
from recordings.audio import AUDIO_FORMATS, wav_duration
from recordings.spool import Received

__all__ = [
    "LocalFolder",
    "RecordingFiles",
    "RecordingStorage",
    "S3Bucket",
    "S3Settings",
    "StorageUnavailable",
    "audio_location",
]

_CHUNK: Final = 256 * 1024


class StorageUnavailable(Exception):
    """The configured storage did not take a file (a bucket down, a disk full): try later."""


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


@dataclass(frozen=True)
class RecordingStorage:
    """Where recordings are kept: new files go to `current` (the configured storage), first
    received into `spool`, a local folder; a row is read from the storage it names, among
    `stores` (an installation that moved to S3 still plays what it kept on disk)."""

    current: RecordingFiles
    spool: Path
    stores: Mapping[str, RecordingFiles]

    @classmethod
    def keeping_in(cls, current: RecordingFiles, local: LocalFolder) -> RecordingStorage:
        """New files in `current`; the local folder spools them and is read from too."""
        # the spool lies in the local folder: keeping a file there is a rename
        stores = {local.name: local, current.name: current}
        return cls(current=current, spool=local.spool(), stores=stores)

    @classmethod
    def local(cls, folder: Path) -> RecordingStorage:
        """Recordings kept in a folder of this machine."""
        local = LocalFolder(folder)
        return cls.keeping_in(local, local)

    def reader(self, name: str) -> RecordingFiles | None:
        """The storage a recording row names, or None when this installation has none such."""
        return self.stores.get(name)

    def keep(self, received: Received, kind: str) -> KeptFile:
        """Put a file received into the spool in the current storage under its checksum; the
        received file is consumed either way. StorageUnavailable when the storage fails."""
        content_type = AUDIO_FORMATS[kind]
        location = audio_location(received.sha256, kind)
        try:
            self.current.put(received.path, location, content_type)
        except Exception as error:
            raise StorageUnavailable(
                f"the recording could not be stored: {type(error).__name__}: {error}"
            ) from error
        finally:
            received.path.unlink(missing_ok=True)
        return KeptFile(
            storage=self.current.name,
            location=location,
            content_type=content_type,
            size=received.size,
            sha256=received.sha256,
            duration_seconds=wav_duration(received.head, received.size),
        )
