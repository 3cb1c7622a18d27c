"""JSON text as PBXs send it, read within the body limits: a whole body, or a JSON string inside a
form field; and the one-pass repair of what hand-typed JSON body templates produce."""

from __future__ import annotations

import json
import re
from typing import Any

from providers.body_limits import BodyError, BodyLimits, check_tree

__all__ = ["decode_utf8", "read_json", "repair_json"]


def read_json(
    raw: str | bytes, limits: BodyLimits, *, lenient: bool = False, what: str = "body"
) -> Any:
    """The JSON value of `raw` (bytes: UTF-8, a BOM allowed), checked against `limits`.

    Raises BodyError: 400 when it is not JSON (`lenient` tries `repair_json` first), 413/422 when
    it is beyond the limits; `what` names the text in the message ("body", a field's name)."""
    text = decode_utf8(raw, what) if isinstance(raw, bytes) else raw
    if not text.strip():
        raise BodyError(400, f"{what} is empty; expected JSON")
    try:
        value = _loads(text, limits, what)
    except ValueError as exc:
        if not lenient:
            raise BodyError(400, f"{what} is not valid JSON: {exc}") from exc
        try:
            value = _loads(repair_json(text), limits, what)
        except ValueError:
            raise BodyError(400, f"{what} is not valid JSON: {exc}") from exc
    check_tree(value, limits, what)
    if _SURROGATE_ESCAPE.search(text):
        _refuse_lone_surrogates(value, what)
    return value


# `\ud800`…`\udfff` in JSON text: half of a UTF-16 pair. A whole pair decodes to one character;
# a half left alone is no character at all, and no store (nor UTF-8) can keep it.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _refuse_lone_surrogates(value: Any, what: str) -> None:
    """BodyError 400 naming the first key or string that holds a lone surrogate; one visit per
    value, run only when the text has a surrogate escape."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            for key, inner in node.items():
                if _SURROGATE.search(key):
                    _lone_surrogate(what, (*path, key))
                stack.append((inner, (*path, key)))
        elif isinstance(node, list):
            stack.extend((inner, (*path, i)) for i, inner in enumerate(node))
        elif isinstance(node, str) and _SURROGATE.search(node):
            _lone_surrogate(what, path)


def _lone_surrogate(what: str, path: tuple[str | int, ...]) -> None:
    field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".") or None
    raise BodyError(
        400,
        f"{field or what} holds half of a UTF-16 surrogate pair (\\ud800-\\udfff escaped alone): "
        "no character, it cannot be kept",
        field,
    )


def decode_utf8(raw: bytes, what: str = "body") -> str:
    """`raw` as UTF-8 text (a BOM dropped); BodyError 400 when it is not."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BodyError(400, f"{what} is not UTF-8: {exc}") from exc


def _loads(text: str, limits: BodyLimits, what: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError as exc:
        # the C decoder's own depth guard: far beyond `max_depth`, refused before it is built
        raise limits.too_deep(what) from exc


# Hand-typed JSON body templates (UIS/CallGear notifications) produce two known artefacts:
# a placeholder wrapped in quotes renders as `"x":""123""` (PROTOCOLS.md §1.1, callgear-webhook),
# and a string rendered bare renders as `"x":2024-03-12 10:15:07`. Both are repaired in one pass
# over the text that visits each character a bounded number of times: every pattern below is
# matched at a known position and none can backtrack beyond the run it matches.
_STRING_OR_COLON = re.compile(r'[":]')
# a string, or an unterminated one up to the end of its line
_STRING = re.compile(r'"(?:[^"\\\r\n]|\\.)*+"?')
_SPACE = re.compile(r"\s*+")
_DOUBLE_QUOTED = re.compile(r'""([^"\r\n]*+)""(?=\s*+[,}\]])')
_BARE_RUN = re.compile(r'[^,}\]\r\n"]*+')
_ENDS_VALUE = re.compile(r"\s*+[,}\]]")
_JSON_SCALAR = re.compile(r"-?(?:0|[1-9]\d*+)(?:\.\d++)?(?:[eE][+-]?\d++)?|true|false|null")


def repair_json(text: str) -> str:
    """`text` with `"x":""v""` made `"x":"v"` and a bare `"x":v w` made `"x":"v w"`; strings,
    numbers, true/false/null, objects and lists are left as they are. Linear in len(text)."""
    out: list[str] = []
    pos = 0
    while (found := _STRING_OR_COLON.search(text, pos)) is not None:
        at = found.start()
        out.append(text[pos:at])
        if text[at] == '"':
            string = _STRING.match(text, at)
            assert string is not None  # matches at least the quote
            out.append(string.group())
            pos = string.end()
            continue
        start = _SPACE.match(text, at + 1).end()  # type: ignore[union-attr]
        out.append(text[at:start])
        pos = start
        doubled = _DOUBLE_QUOTED.match(text, start)
        if doubled is not None:
            out.append(f'"{doubled.group(1)}"')
            pos = doubled.end()
            continue
        if text[start : start + 1] in ("[", "{", '"'):
            continue  # an object, a list or a string: read on as usual
        # The value runs to the next , } ] " or line end; a colon inside it cannot start a
        # value of its own (it would end at the same place), so the whole run is done here.
        end = _BARE_RUN.match(text, start).end()  # type: ignore[union-attr]
        value = text[start:end].rstrip()
        if value and not _JSON_SCALAR.fullmatch(value) and _ENDS_VALUE.match(text, end):
            out.append(json.dumps(value))
            out.append(text[start + len(value) : end])
        else:
            out.append(text[start:end])
        pos = end
    out.append(text[pos:])
    return "".join(out)
