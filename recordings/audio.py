"""Audio files told apart by their first bytes (the formats pbxhub keeps), and a WAV's length
read from its header. A client's file name or Content-Type is never trusted: the bytes say."""

from __future__ import annotations

import struct
from typing import Final

__all__ = ["AUDIO_FORMATS", "HEAD_BYTES", "sniff_audio", "wav_duration"]

# The audio formats pbxhub keeps, as (extension, content type).
AUDIO_FORMATS: Final = {
    "mp3": "audio/mpeg",
    "mp4": "audio/mp4",
    "wav": "audio/wav",
    "ogg": "audio/ogg",
}
# Enough for the audio signature and a WAV header.
HEAD_BYTES: Final = 4096


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
