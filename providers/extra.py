"""A call's `extra`: every parameter the PBX sent that the spec's mapping does not read, kept as
text (for custom analytics fields, call tracking), by the rules the meta-schema states."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from providers.bodies import UploadedFile
from providers.spec import EventSpec
from providers.template_filters import as_str, is_blank

__all__ = ["extra_parameters"]


def extra_parameters(body: Mapping[str, Any], event: EventSpec) -> dict[str, str]:
    """Every body parameter the mapping did not read, as strings (see the meta-schema)."""
    skip = event.extra_skip
    heads = event.extra_skip_heads
    result: dict[str, str] = {}

    def taken(path: tuple[str, ...]) -> bool:
        # a parameter is consumed when the mapping read it, something inside it, or its parent
        if len(path) == 1:
            return path[0] in heads
        return any(path[: len(s)] == s or s[: len(path)] == path for s in skip)

    def visit(prefix: tuple[str, ...], value: Any) -> None:
        if isinstance(value, Mapping) and event.extra_flatten and prefix:
            for key, inner in value.items():
                visit((*prefix, str(key)), inner)
            return
        if taken(prefix) or is_blank(value) or isinstance(value, UploadedFile):
            return
        if isinstance(value, Mapping | list):
            if not value:
                return
            text = json.dumps(value, ensure_ascii=False, default=str)
            if "\\u0000" in text:  # a NUL inside, escaped: encoded again without it
                text = json.dumps(_without_nul(value), ensure_ascii=False, default=str)
        else:
            text = _storable(as_str(value) or "")
        if text:
            result[_storable(".".join(prefix))] = text

    for key, value in body.items():
        visit((str(key),), value)
    for prefix in event.extra_strip_prefixes:
        # `data_utm_source` → `utm_source`, over a parameter sent under that name
        for name in [k for k in result if k.startswith(prefix) and len(k) > len(prefix)]:
            result[name[len(prefix) :]] = result.pop(name)
    return result


def _storable(text: str) -> str:
    """`text` without NUL characters: the store's text and JSON cannot hold them, and a PBX
    parameter nobody maps is not worth refusing the call for (a mapped one is: 422)."""
    return text.replace("\x00", "") if "\x00" in text else text


def _without_nul(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {_storable(str(k)): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return _storable(value) if isinstance(value, str) else value
