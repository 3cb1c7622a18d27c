"""Whose fault a template failure at run time is: the request's (a field the mapping needs is
missing, or carries a value unreadable as what the spec reads it as: 422 naming the field), or
the spec's (anything else: a spec bug, logged with its place in the spec). Decided from what
failed and the value it failed on, traced back to the body the PBX sent."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2.exceptions import UndefinedError

from providers.canonical import CoercionError
from providers.spec import ProviderSpec, format_path
from providers.template_filters import FilterValueError, is_blank
from providers.templating import EvaluationError

__all__ = ["RequestFault", "blank_field", "evaluation_fault", "request_fault", "spec_place"]

# How many body nodes a search for the failed value visits at most: linear in a bounded body,
# and cheap next to parsing it.
_SEARCH_LIMIT = 10_000
_MISSING: Any = object()


@dataclass(frozen=True)
class RequestFault:
    """The request is at fault: `field` (the body path, `a.b[0].c`) and why, with the place in
    the spec that read it."""

    field: str
    message: str


def evaluation_fault(error: EvaluationError, body: Any) -> RequestFault | None:
    """The body field to blame for a failed template, or None when the spec is at fault. Of
    several templates of one group that failed, one failing on a value of the request explains
    the others (a sum of a timestamp that is no number fails too)."""
    for failure in (error, *error.related):
        fault = request_fault(
            failure.cause,
            failure.body_reads,
            body if isinstance(body, Mapping) else {},
            spec_path=failure.path,
        )
        if fault is not None:
            return fault
    return None


def request_fault(
    cause: BaseException | None,
    reads: Iterable[tuple[str, ...]],
    body: Mapping[str, Any],
    *,
    spec_path: str,
    value: Any = _MISSING,
) -> RequestFault | None:
    """The body field to blame for `cause` (what a template or a field coercion raised), or None
    when the spec is at fault. `reads`: the body parameters the failing template (at
    `spec_path`) reads; `value`: the value that failed (a coercion's; a filter's FilterValueError
    carries its own)."""
    ordered = sorted(reads)
    if isinstance(cause, FilterValueError) and cause.has_value:
        value = cause.value
    elif isinstance(cause, CoercionError) and cause.spec_fault:
        return None
    elif isinstance(cause, UndefinedError) or (
        isinstance(cause, TypeError) and "NoneType" in str(cause)
    ):
        # an operation on a parameter the request does not carry, or carries as null
        field = blank_field(ordered, body)
        if field is None:
            return None
        return RequestFault(field, f"{field}: missing (read at {spec_path})")
    if value is _MISSING or is_blank(value):
        return None
    where = _find(value, ordered, body)
    if where is None:
        return None
    return RequestFault(where, f"{where}: {_bounded(str(cause))} (read at {spec_path})")


def _bounded(message: str) -> str:
    # the message quotes the PBX's value: a long one would flood the log and the answer
    return message if len(message) <= 300 else message[:300] + "…"


_PLACE = re.compile(r"endpoints\.([^.\[]+)(?:\.events\[(\d+)\])?")


def spec_place(spec: ProviderSpec, path: str) -> tuple[str | None, str | None]:
    """The endpoint and the event (by name) a spec path is in, for a log line a person reads."""
    place = _PLACE.match(path)
    if place is None:
        return None, None
    endpoint = spec.endpoints.get(place[1])
    index = int(place[2]) if place[2] is not None else None
    if endpoint is None or index is None or index >= len(endpoint.events):
        return place[1], None
    return place[1], endpoint.events[index].name


def blank_field(reads: Iterable[tuple[str, ...]], body: Mapping[str, Any]) -> str | None:
    """The first of `reads` the body leaves blank (missing, null, ""), if one is."""
    for path in sorted(reads):
        node = _dig(body, path)
        if node is _MISSING or is_blank(node):
            return format_path(path)
    return None


def _find(value: Any, reads: list[tuple[str, ...]], body: Mapping[str, Any]) -> str | None:
    # the template's own reads first (the precise answer), then anywhere in the body: a value
    # reached through a var or a for_each item is still the PBX's. The very object the filter
    # was handed before an equal one elsewhere (two fields may carry the same text).
    for identical in (True, False):
        for path in reads:
            node = _dig(body, path)
            if node is _MISSING:
                continue
            inner = _search(value, node, identical=identical)
            if inner is not None:
                return format_path((*path, *inner))
            if not identical and isinstance(value, str) and isinstance(node, str) and value in node:
                return format_path(path)  # a piece of a list sent as text ("1,x,3" | as_list)
        inner = _search(value, body, identical=identical)
        if inner:
            return format_path(inner)
    return None


def _search(value: Any, root: Any, *, identical: bool) -> tuple[str | int, ...] | None:
    """The path below `root` of the node that is `value` (or, not `identical`, a scalar equal
    to it), breadth first."""
    queue: deque[tuple[tuple[str | int, ...], Any]] = deque([((), root)])
    visited = 0
    while queue and visited < _SEARCH_LIMIT:
        path, node = queue.popleft()
        visited += 1
        if node is value or (not identical and _equal(node, value)):
            return path
        if isinstance(node, Mapping):
            queue.extend(((*path, str(k)), v) for k, v in node.items())
        elif isinstance(node, list):
            queue.extend(((*path, i), v) for i, v in enumerate(node))
    return None


def _equal(node: Any, value: Any) -> bool:
    # scalars of one type only: comparing containers would be quadratic in the body
    return (
        type(node) is type(value) and not isinstance(node, Mapping | list) and bool(node == value)
    )


def _dig(body: Any, path: tuple[str, ...]) -> Any:
    node = body
    for part in path:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node
