"""Uploaded call audio (the telephony API's `audio_record`): told to be audio by its first
bytes, received into the spool within a size limit, and kept in the configured storage, like a
downloaded recording. The client's file name and Content-Type are never trusted: the bytes say
what a file is, and its SHA-256 names it in storage.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Final

from contracts.messages import KeptFile
from recordings.audio import AUDIO_FORMATS, HEAD_BYTES, sniff_audio
from recordings.spool import TooLarge, receive
from recordings.storage import RecordingStorage

__all__ = ["AudioRejected", "AudioUpload", "keep_upload"]

_CHUNK: Final = 1024 * 1024


class AudioRejected(Exception):
    """The upload is not audio we take (415), or is empty or too large (422/413)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class AudioUpload:
    """A file part of the request, still in the web framework's spool."""

    file: BinaryIO
    filename: str | None


def keep_upload(upload: AudioUpload, storage: RecordingStorage, *, max_bytes: int) -> KeptFile:
    """Check an upload and keep it in the configured storage under its checksum; the same
    content uploaded twice is one file. AudioRejected for what is not taken,
    StorageUnavailable when the storage fails. Blocking: run it in a thread."""
    upload.file.seek(0)
    head = upload.file.read(HEAD_BYTES)
    if not head:
        raise AudioRejected(422, "the file is empty")
    kind = sniff_audio(head)
    if kind is None:
        raise AudioRejected(
            415, f"not an audio file of a supported type ({', '.join(AUDIO_FORMATS)})"
        )
    try:
        received = receive(
            _chunks(head, upload.file), storage.spool, max_bytes=max_bytes, prefix=".upload-"
        )
    except TooLarge:
        raise AudioRejected(413, f"the file is over {max_bytes} bytes") from None
    return storage.keep(received, kind)


def _chunks(head: bytes, rest: BinaryIO) -> Iterator[bytes]:
    yield head
    while chunk := rest.read(_CHUNK):
        yield chunk
