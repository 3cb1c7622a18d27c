"""Uploaded call audio: tell its format from its first bytes, keep it under the recordings folder.

The client's file name and Content-Type are never trusted: the bytes say what a file is, and
its SHA-256 names it on disk.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from contracts.messages import StoredAudio

# What the telephony API takes (the seed: mp3/mp4/wav/ogg) and how a file's first bytes tell
# them apart: the same formats recordings downloaded from PBXs are kept in.
from crm.recording_files import AUDIO_FORMATS, sniff_audio

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


def keep_audio(upload: AudioUpload, folder: Path, *, max_bytes: int) -> StoredAudio:
    """Check and store an upload as `<folder>/<sha256[:2]>/<sha256>.<ext>`; the same content
    uploaded twice is one file. Blocking: run it in a thread."""
    upload.file.seek(0)
    head = upload.file.read(16)
    if not head:
        raise AudioRejected(422, "the file is empty")
    kind = sniff_audio(head)
    if kind is None:
        raise AudioRejected(
            415, f"not an audio file of a supported type ({', '.join(AUDIO_FORMATS)})"
        )
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".upload-", suffix=".part")
    try:
        with os.fdopen(descriptor, "wb") as out:
            chunk = head
            while chunk:
                size += len(chunk)
                if size > max_bytes:
                    raise AudioRejected(413, f"the file is over {max_bytes} bytes")
                digest.update(chunk)
                out.write(chunk)
                chunk = upload.file.read(_CHUNK)
            out.flush()
            os.fsync(out.fileno())
        sha256 = digest.hexdigest()
        location = f"{sha256[:2]}/{sha256}.{kind}"
        target = folder / location
        target.parent.mkdir(exist_ok=True)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return StoredAudio(
        location=location, content_type=AUDIO_FORMATS[kind], size=size, sha256=sha256
    )
