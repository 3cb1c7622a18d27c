"""multipart/form-data bodies read in linear time: python-multipart's streaming parser (Starlette's
own), which bounds each part's headers, in place of the email parser, whose time grew faster than
the body (4 000 parts: 1.4 s; one header of 20 000 parameters: 4.5 s)."""

from __future__ import annotations

import binascii
import quopri
from dataclasses import dataclass, field
from typing import Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from providers.body_limits import BodyError, BodyLimits

__all__ = ["UploadedFile", "read_multipart"]


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart body. It never goes to `extra`."""

    filename: str
    content_type: str
    data: bytes = b""

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    chunks: list[bytes] = field(default_factory=list)


def read_multipart(
    body: bytes, content_type: str | None, limits: BodyLimits
) -> list[tuple[str, Any]]:
    """The (name, value) pairs of a multipart/form-data body in order: text for a field, an
    UploadedFile for a file. BodyError: 415 without a boundary, 400 when malformed, 413 for
    more parts than `limits.max_fields`."""
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise BodyError(415, "multipart body without a boundary in Content-Type")
    parts: list[_Part] = []
    header_name: list[bytes] = []
    header_value: list[bytes] = []

    def begin() -> None:
        if len(parts) >= limits.max_fields:
            raise limits.too_many_fields(len(parts) + 1)
        parts.append(_Part())

    def header_end() -> None:
        parts[-1].headers[b"".join(header_name).lower()] = b"".join(header_value)
        header_name.clear()
        header_value.clear()

    callbacks: Any = {
        "on_part_begin": begin,
        "on_header_field": lambda data, start, end: header_name.append(data[start:end]),
        "on_header_value": lambda data, start, end: header_value.append(data[start:end]),
        "on_header_end": header_end,
        "on_part_data": lambda data, start, end: parts[-1].chunks.append(data[start:end]),
    }
    parser = MultipartParser(boundary, callbacks)
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError as exc:
        raise BodyError(400, f"multipart body is malformed: {exc}") from exc
    return [pair for part in parts if (pair := _field(part)) is not None]


def _field(part: _Part) -> tuple[str, Any] | None:
    _, disposition = parse_options_header(part.headers.get(b"content-disposition"))
    name = disposition.get(b"name")
    if name is None:
        return None
    media, content = parse_options_header(part.headers.get(b"content-type"))
    data = _transfer_decoded(b"".join(part.chunks), part.headers)
    filename = disposition.get(b"filename")
    if filename is not None:
        kind = media.decode("latin-1") or "application/octet-stream"
        return _text(name), UploadedFile(_text(filename), kind, data)
    charset = content.get(b"charset", b"utf-8").decode("latin-1")
    try:
        return _text(name), data.decode(charset, errors="replace")
    except LookupError:  # a charset Python does not know
        return _text(name), data.decode("utf-8", errors="replace")


def _text(raw: bytes) -> str:
    # parse_options_header reads header bytes as latin-1; browsers and PBXs send names as UTF-8
    return raw.decode("utf-8", errors="replace")


def _transfer_decoded(data: bytes, headers: dict[bytes, bytes]) -> bytes:
    # RFC 7578 deprecates Content-Transfer-Encoding, yet older senders still use it
    encoding = headers.get(b"content-transfer-encoding", b"").strip().lower()
    try:
        if encoding == b"base64":
            return binascii.a2b_base64(data)
        if encoding == b"quoted-printable":
            return quopri.decodestring(data)
    except binascii.Error as exc:
        raise BodyError(400, f"a multipart part is not valid base64: {exc}") from exc
    return data
