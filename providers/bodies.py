"""Request bodies as PBXs send them (JSON, form, multipart, query string) turned into one nested
dict the templates read; lenient on Content-Type and on the quirks of hand-typed JSON templates,
strict on shape: every body is read in linear time within `BodyLimits`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl

from providers.body_limits import BodyError, BodyLimits, check_tree
from providers.json_text import decode_utf8, read_json
from providers.multipart import UploadedFile, read_multipart

__all__ = [
    "BODY_FORMATS",
    "BodyError",
    "BodyFormat",
    "BodyLimits",
    "UploadedFile",
    "decode_json_fields",
    "parse_body",
    "read_form",
    "read_json",
]

BODY_FORMATS = ("json", "form", "multipart", "query")
NestedStyle = Literal["flat", "php"]
_DEFAULT_LIMITS = BodyLimits()


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
    # fields whose value is JSON text, decoded in place by `decode_json_fields` (after auth)
    json_fields: tuple[str, ...] = ()


def parse_body(
    fmt: BodyFormat,
    *,
    body: bytes,
    content_type: str | None,
    query: Mapping[str, str],
    limits: BodyLimits = _DEFAULT_LIMITS,
) -> dict[str, Any]:
    """The body as a dict; raises BodyError (400/415, or 413/422 beyond `limits`)."""
    chosen = _choose_format(fmt.formats, body, content_type)
    if chosen == "json":
        return _parse_json(body, lenient=fmt.lenient_json, limits=limits)
    if chosen == "query":
        pairs = list(query.items())
    elif chosen == "form":
        pairs = read_form(body, limits)
    else:
        pairs = read_multipart(body, content_type, limits)
    if len(pairs) > limits.max_fields:
        raise limits.too_many_fields(len(pairs))
    nested = _nest(pairs, fmt.nested, limits)
    check_tree(nested, limits)
    return nested


def decode_json_fields(
    body: Mapping[str, Any], names: tuple[str, ...], limits: BodyLimits = _DEFAULT_LIMITS
) -> dict[str, Any]:
    """`body` with each of the named fields (JSON text) replaced by its decoded value; a field
    that is absent stays absent (the schema says whether it is required).

    Raises BodyError naming the field: 422 when its text is not JSON (broken, cut short, not
    text at all) or nests too deep, 413 when the body with it decoded has too many fields."""
    decoded = dict(body)
    for name in names:
        if name not in decoded:
            continue
        text = decoded[name]
        if not isinstance(text, str):
            raise BodyError(422, f"{name}: expected JSON text, got {type(text).__name__}", name)
        try:
            decoded[name] = read_json(text, limits, what=name)
        except BodyError as exc:
            raise BodyError(422 if exc.status == 400 else exc.status, exc.message, name) from exc
    check_tree(decoded, limits)
    return decoded


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


def read_form(
    body: bytes, limits: BodyLimits = _DEFAULT_LIMITS, *, strict: bool = False
) -> list[tuple[str, str]]:
    """The name/value pairs of an x-www-form-urlencoded body, in order. BodyError: 400 when the
    body (or, with `strict`, a %-escaped value) is not UTF-8, 413 over `limits.max_fields`."""
    text = decode_utf8(body)
    try:
        return parse_qsl(
            text,
            keep_blank_values=True,
            errors="strict" if strict else "replace",
            max_num_fields=limits.max_fields,
        )
    except UnicodeDecodeError as exc:
        raise BodyError(400, "a form body must be URL-encoded UTF-8") from exc
    except ValueError as exc:  # over max_num_fields, counted before anything is split
        raise limits.too_many_fields(text.count("&") + 1) from exc


def _parse_json(body: bytes, *, lenient: bool, limits: BodyLimits) -> dict[str, Any]:
    decoded = read_json(body, limits, lenient=lenient)
    if not isinstance(decoded, dict):
        raise BodyError(400, f"JSON body must be an object, got {type(decoded).__name__}")
    return decoded


_PHP_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PHP_PART = re.compile(r"\[([^\[\]]*)\]")
# a key PHP reads as an integer index (and json_encode as a list position)
_INDEX = re.compile(r"0|[1-9][0-9]{0,17}")


def _nest(pairs: list[tuple[str, Any]], style: NestedStyle, limits: BodyLimits) -> dict[str, Any]:
    result: dict[str, Any] = {}
    # PHP `a[]`: each array's next free integer index (its largest one + 1), by the array's id;
    # the array is held too, so that its id is not reused while this body is read
    next_free: dict[int, tuple[dict[str, Any], int]] = {}
    for key, value in pairs:
        if len(key) > limits.max_key_length:
            raise limits.key_too_long(key)
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
        parts = [match.group(1), *_PHP_PART.findall(match.group(2))]
        if len(parts) > limits.max_depth:
            raise limits.too_deep(field=match.group(1))
        _put(result, parts, value, next_free)
    return _listify(result) if style == "php" else result


def _put(
    target: dict[str, Any],
    parts: list[str],
    value: Any,
    next_free: dict[int, tuple[dict[str, Any], int]],
) -> None:
    node = target
    for index, part in enumerate(parts):
        free = next_free.get(id(node), (node, 0))[1]
        if part == "":
            part = str(free)
        if _INDEX.fullmatch(part) and int(part) >= free:
            next_free[id(node)] = (node, int(part) + 1)
        if index == len(parts) - 1:
            node[part] = value
            return
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child


def _listify(node: Any) -> Any:
    """PHP arrays whose keys are exactly 0..n-1 become lists, as json_encode would make them.
    Recursive to the depth of the body, which `_nest` has bounded."""
    if not isinstance(node, dict):
        return node
    converted = {k: _listify(v) for k, v in node.items()}
    if converted and all(_INDEX.fullmatch(k) for k in converted):
        indexes = sorted(int(k) for k in converted)
        if indexes == list(range(len(indexes))):
            return [converted[str(i)] for i in indexes]
    return converted
