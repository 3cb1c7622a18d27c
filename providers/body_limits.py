"""How big a parsed request body may be: the bounds every body reader enforces, so that no
request, whatever its shape, costs more than linear work or nests deeper than pbxhub reads.

The byte size is bounded before parsing (the ingress's `max_body_bytes`); these bound its shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "MAX_FIELDS",
    "MAX_KEY_LENGTH",
    "MAX_WIDTH",
    "BodyError",
    "BodyLimits",
    "check_tree",
]

# Values in one body, at all levels together (form pairs, JSON members and list items).
# PBX notifications carry tens; a list of call legs some hundreds.
MAX_FIELDS = 10_000
# Levels of objects and lists, the body itself being the first (`a[b][c]=1` is 3 levels).
MAX_DEPTH = 32
# Members of one object or items of one list.
MAX_WIDTH = 2_000
# Characters of one key: a JSON member name, or a whole form field name with its [brackets].
MAX_KEY_LENGTH = 256


class BodyError(Exception):
    """The body cannot be read: 400 (malformed), 413 (too many fields or too wide), 415 (a format
    the endpoint does not take) or 422 (nested too deep, a key too long, a JSON field broken).
    `field` names the offending parameter, when one is at fault."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


@dataclass(frozen=True)
class BodyLimits:
    """The bounds of one body's shape (see the module constants for what each counts)."""

    max_fields: int = MAX_FIELDS
    max_depth: int = MAX_DEPTH
    max_width: int = MAX_WIDTH
    max_key_length: int = MAX_KEY_LENGTH

    def too_many_fields(self, count: int, what: str = "body") -> BodyError:
        return BodyError(
            413, f"{what} has {count} fields or more; at most {self.max_fields} are read"
        )

    def too_deep(self, what: str = "body", field: str | None = None) -> BodyError:
        return BodyError(
            422, f"{what} nests deeper than {self.max_depth} levels of objects and lists", field
        )

    def key_too_long(self, key: str, what: str = "body") -> BodyError:
        return BodyError(
            422,
            f"{what} has a key of {len(key)} characters ({key[:40]!r}…); "
            f"at most {self.max_key_length} are read",
        )


def check_tree(root: Any, limits: BodyLimits, what: str = "body") -> None:
    """Raise BodyError unless `root` (parsed JSON or nested form data) is within `limits`.

    Iterative, one visit per value: it runs on bodies whose depth is still unchecked."""
    if not isinstance(root, dict | list):
        return
    fields = 0
    # each container with its level and its trail (parent's trail, key), named only on error
    stack: list[tuple[Any, int, _Trail]] = [(root, 1, None)]
    while stack:
        node, level, trail = stack.pop()
        if level > limits.max_depth:
            raise limits.too_deep(what, _field_name(trail))
        if len(node) > limits.max_width:
            where = _field_name(trail)
            raise BodyError(
                413,
                f"{where or what} has {len(node)} members; at most {limits.max_width} are read",
                where,
            )
        fields += len(node)
        if fields > limits.max_fields:
            raise limits.too_many_fields(fields, what)
        children = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in children:
            if isinstance(key, str) and len(key) > limits.max_key_length:
                raise limits.key_too_long(key, what)
            if isinstance(value, dict | list):
                stack.append((value, level + 1, (trail, key)))


_Trail = tuple[Any, str | int] | None


def _field_name(trail: _Trail) -> str | None:
    """The trail as a field is named in schema errors: a.b[0].c (None for the body itself)."""
    keys: list[str | int] = []
    while trail is not None:
        trail, key = trail
        keys.append(key)
    text = ""
    for key in reversed(keys):
        if isinstance(key, int):
            text += f"[{key}]"
        else:
            text += f".{key}" if text else key
    return text or None
