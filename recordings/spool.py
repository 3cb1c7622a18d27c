"""Receiving a recording's bytes (a download, an upload) into a local spool file: counted
against a limit, hashed and its first bytes kept on the way, synced, and removed again when
anything goes wrong, so storage only ever sees whole files."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from recordings.audio import HEAD_BYTES

__all__ = ["Received", "TooLarge", "receive"]


class TooLarge(Exception):
    """More bytes came than the limit allows (the spool file is removed)."""


@dataclass(frozen=True)
class Received:
    """A file fully received into the spool folder (whoever keeps it moves or deletes it)."""

    path: Path
    size: int
    sha256: str
    # the first bytes: enough for the audio signature and a WAV header
    head: bytes


def receive(chunks: Iterable[bytes], spool: Path, *, max_bytes: int, prefix: str) -> Received:
    """Write `chunks` into a new file of `spool`. TooLarge past `max_bytes`; whatever the
    chunks raise goes through. Either way no file is left behind."""
    spool.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=spool, prefix=prefix, suffix=".part")
    path = Path(name)
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        with os.fdopen(descriptor, "wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"over the {max_bytes}-byte limit")
                if len(head) < HEAD_BYTES:
                    head += chunk[: HEAD_BYTES - len(head)]
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Received(path, size, digest.hexdigest(), head)
