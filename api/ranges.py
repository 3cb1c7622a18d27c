"""HTTP byte ranges (RFC 9110 §14): which part of a file a `Range` header asks for.

One range is served as 206; several ranges, another unit or a header that does not parse are
ignored (the whole file, 200), as the RFC allows; a range that starts past the end is 416.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = ["ByteRange", "RangeNotSatisfiable", "requested_range"]

_ONE_RANGE: Final = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass(frozen=True)
class ByteRange:
    """Bytes `start` to `end`, both included, of a file of `size` bytes."""

    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    @property
    def content_range(self) -> str:
        return f"bytes {self.start}-{self.end}/{self.size}"


class RangeNotSatisfiable(Exception):
    """No byte of the file is in the range asked for (416, `Content-Range: bytes */size`)."""


def requested_range(
    header: str | None, size: int, *, if_range: str | None = None, etag: str | None = None
) -> ByteRange | None:
    """The part of a `size`-byte file a Range header asks for; None for the whole file.

    `If-Range` with a validator other than the file's ETag means the client's partial copy is
    of another file: it gets the whole one.
    """
    if not header:
        return None
    if if_range is not None and if_range.strip() != etag:
        return None
    match = _ONE_RANGE.match(header.strip().replace(" ", ""))
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        # a suffix: the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable
        return ByteRange(max(size - suffix, 0), size - 1, size)
    start = int(first)
    if last and int(last) < start:
        return None  # not a valid range: ignored
    if start >= size:
        raise RangeNotSatisfiable
    end = min(int(last), size - 1) if last else size - 1
    return ByteRange(start, end, size)
