"""Request bodies as PBXs send them (JSON, form, multipart, query string) turned into one nested
dict the templates read; lenient on Content-Type and on the quirks of hand-typed JSON templates."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email import policy
from email.message import Message
from email.parser import BytesParser
from typing import Any, Literal
from urllib.parse import parse_qsl

__all__ = ["BODY_FORMATS", "BodyError", "BodyFormat", "UploadedFile", "parse_body"]

BODY_FORMATS = ("json", "form", "multipart", "query")
NestedStyle = Literal["flat", "php"]


class BodyError(Exception):
    """The body cannot be read: 400 (malformed) or 415 (a format the endpoint does not take)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class BodyFormat:
    """How an endpoint's body is read.

    `formats`: the formats accepted; with several, the Content-Type picks one and a missing or
    wrong header is resolved by sniffing the body. `lenient_json` repairs the artefacts of JSON
    body templates typed by hand. `nested="php"` turns `a[b][0]=x` keys into nested objects.
    """

    formats: tuple[str, ...] = ("json",)
    lenient_json: bool = False
    nested: NestedStyle = "flat"


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart body. It never goes to `extra`."""

    filename: str
    content_type: str
    data: bytes = b""

    @property
    def size(self) -> int:
        return len(self.data)


def parse_body(
    fmt: BodyFormat, *, body: bytes, content_type: str | None, query: Mapping[str, str]
) -> dict[str, Any]:
    """The body as a dict; raises BodyError (400/415)."""
    chosen = _choose_format(fmt.formats, body, content_type)
    if chosen == "json":
        return _parse_json(body, lenient=fmt.lenient_json)
    if chosen == "query":
        pairs = list(query.items())
    elif chosen == "form":
        pairs = parse_qsl(_decode(body), keep_blank_values=True)
    else:
        pairs = _parse_multipart(body, content_type)
    return _nest(pairs, fmt.nested)


def _choose_format(formats: tuple[str, ...], body: bytes, content_type: str | None) -> str:
    if len(formats) == 1:
        return formats[0]
    media = (content_type or "").split(";")[0].strip().lower()
    by_header = {
        "application/json": "json",
        "text/json": "json",
        "application/x-www-form-urlencoded": "form",
        "multipart/form-data": "multipart",
    }.get(media)
    if media.endswith("+json"):
        by_header = "json"
    if by_header in formats:
        return by_header
    # Header missing or wrong: look at the body itself.
    head = body.lstrip()[:1]
    if head in (b"{", b"[") and "json" in formats:
        return "json"
    if not body.strip() and "query" in formats:
        return "query"
    if "form" in formats:
        return "form"
    if "multipart" in formats and body.startswith(b"--"):
        return "multipart"
    raise BodyError(
        415, f"unsupported media type {media or '(none)'}; expected {', '.join(formats)}"
    )


def _decode(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BodyError(400, f"body is not UTF-8: {exc}") from exc


# Hand-typed JSON body templates (UIS/CallGear notifications) produce two known artefacts:
# a placeholder wrapped in quotes renders as `"x":""123""` (PROTOCOLS.md §1.1, callgear-webhook),
# and a string rendered bare renders as `"x":2024-03-12 10:15:07`. Repairs are tried one after
# the other, and only when the body is not valid JSON as it is.
_DOUBLE_QUOTED = re.compile(r'(:\s*)""([^"\r\n]*)""(?=\s*[,}\]])')
_BARE_VALUE = re.compile(
    r'(:\s*)(?!["\[{]|-?\d+(?:\.\d+)?\s*[,}\]]|(?:true|false|null)\s*[,}\]])'
    r'([^,}\]\r\n"]*[^,}\]\r\n"\s])(?=\s*[,}\]])'
)


def _repair_json(text: str) -> list[str]:
    step1 = _DOUBLE_QUOTED.sub(r'\1"\2"', text)
    step2 = _BARE_VALUE.sub(lambda m: m.group(1) + json.dumps(m.group(2).strip()), step1)
    return [step1, step2]


def _parse_json(body: bytes, *, lenient: bool) -> dict[str, Any]:
    text = _decode(body)
    if not text.strip():
        raise BodyError(400, "body is empty; expected a JSON object")
    try:
        decoded = json.loads(text)
    except ValueError as exc:
        decoded = _NOT_JSON
        if lenient:
            for repaired in _repair_json(text):
                try:
                    decoded = json.loads(repaired)
                    break
                except ValueError:
                    continue
        if decoded is _NOT_JSON:
            raise BodyError(400, f"body is not valid JSON: {exc}") from exc
    if not isinstance(decoded, dict):
        raise BodyError(400, f"JSON body must be an object, got {type(decoded).__name__}")
    return decoded


_NOT_JSON: Any = object()


def _parse_multipart(body: bytes, content_type: str | None) -> list[tuple[str, Any]]:
    if not content_type or "boundary=" not in content_type:
        raise BodyError(415, "multipart body without a boundary in Content-Type")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise BodyError(400, "body is not multipart/form-data")
    pairs: list[tuple[str, Any]] = []
    parts = message.get_payload()
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, Message):
            continue
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            pairs.append((name, UploadedFile(filename, part.get_content_type(), data)))
        else:
            charset = part.get_content_charset() or "utf-8"
            pairs.append((name, data.decode(charset, errors="replace")))
    return pairs


_PHP_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def _nest(pairs: list[tuple[str, Any]], style: NestedStyle) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        match = _PHP_KEY.match(key) if style == "php" else None
        if match is None:
            # flat: `a[]` collects repeated values into a list; anything else: the last one wins
            if key.endswith("[]"):
                result.setdefault(key[:-2], [])
                if isinstance(result[key[:-2]], list):
                    result[key[:-2]].append(value)
                continue
            result[key] = value
            continue
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        _put(result, parts, value)
    return _listify(result) if style == "php" else result


def _put(target: dict[str, Any], parts: list[str], value: Any) -> None:
    node = target
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "":
            # PHP `a[]`: the next free integer index
            part = str(sum(1 for k in node if k.isdigit()))
        if last:
            node[part] = value
            return
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child


def _listify(node: Any) -> Any:
    """PHP arrays whose keys are exactly 0..n-1 become lists, as json_encode would make them."""
    if not isinstance(node, dict):
        return node
    converted = {k: _listify(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        indexes = sorted(int(k) for k in converted)
        if indexes == list(range(len(indexes))):
            return [converted[str(i)] for i in indexes]
    return converted
