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
    fields = 0
    stack: list[tuple[Any, tuple[str, ...]]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            children = node.items()
        elif isinstance(node, list):
            children = enumerate(node)  # type: ignore[assignment]
        else:
            continue
        where = ".".join(path) or None
        if len(path) + 1 > limits.max_depth:
            raise limits.too_deep(what, where)
        if len(node) > limits.max_width:
            raise BodyError(
                413,
                f"{where or what} has {len(node)} members; at most {limits.max_width} are read",
                where,
            )
        fields += len(node)
        if fields > limits.max_fields:
            raise limits.too_many_fields(fields, what)
        for key, value in children:
            if isinstance(key, str) and len(key) > limits.max_key_length:
                raise limits.key_too_long(key, what)
            if isinstance(value, dict | list):
                stack.append((value, (*path, str(key))))
