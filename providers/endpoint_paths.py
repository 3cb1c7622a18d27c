"""Where an endpoint answers: the URL path (one or more segments) under
`/hooks/{provider}/{channel_key}/` that a spec's endpoint declares (`path:`, default its name), so a
PBX given one base URL may append its own sub-paths (`<base>/events/call`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["HOOKS_PREFIX", "endpoint_url_path", "path_problems", "webhook_base_url"]

HOOKS_PREFIX = "/hooks"

# A segment is what a PBX can append without quoting: letters, digits and -._~ (RFC 3986's
# unreserved characters), and never "." or ".." (which a client or proxy may collapse).
_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+")


def endpoint_url_path(name: str, document: Mapping[str, Any]) -> str:
    """The path an endpoint answers under: its `path`, else its name (the URLs of every spec
    written before paths existed stay as they were)."""
    path = document.get("path")
    return path if isinstance(path, str) else name


def path_problems(
    endpoints: Mapping[str, Mapping[str, Any]], problem: Callable[[str, str], None]
) -> None:
    """Report through `problem(spec_path, message)` every endpoint path that is not clean
    segments, and every path two endpoints claim."""
    claimed: dict[str, str] = {}
    for name, document in endpoints.items():
        url_path = endpoint_url_path(name, document)
        where = f"endpoints.{name}.path" if "path" in document else f"endpoints.{name}"
        message = _segment_problem(url_path)
        if message is not None:
            problem(where, message)
            continue
        if url_path in claimed:
            problem(
                where, f"path {url_path!r} is already the path of endpoint {claimed[url_path]!r}"
            )
            continue
        claimed[url_path] = name


def _segment_problem(url_path: str) -> str | None:
    if url_path.startswith("/"):
        return (
            f"path {url_path!r} must not start with '/': it is relative to the channel's base URL"
        )
    if url_path.endswith("/"):
        return f"path {url_path!r} must not end with '/'"
    for segment in url_path.split("/"):
        if not segment:
            return f"path {url_path!r} has an empty segment"
        if segment in (".", ".."):
            return f"path {url_path!r} has a {segment!r} segment"
        if not _SEGMENT.fullmatch(segment):
            return (
                f"path segment {segment!r} may hold only letters, digits and -._~ "
                "(what a PBX appends without quoting)"
            )
    return None


def webhook_base_url(public_base_url: str, provider: str, channel_key: str) -> str:
    """The one URL a PBX that appends its own sub-paths is given: every endpoint of the
    channel answers at `<base>/<endpoint path>`."""
    return f"{public_base_url.rstrip('/')}{HOOKS_PREFIX}/{provider}/{channel_key}"
