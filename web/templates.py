"""The pages' templates: Jinja2 in a sandboxed, autoescaping environment, read from the package
(web/templates), and the headers every page is sent with."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

from fastapi.responses import HTMLResponse
from jinja2 import FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

STATIC_DIR: Final = Path(__file__).resolve().parent / "static"
_TEMPLATES_DIR: Final = Path(__file__).resolve().parent / "templates"

# Pages load only this site's own files; PBX links may play audio from elsewhere.
_PAGE_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; media-src 'self' https:; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


@pass_context
def _when(context: Context, value: datetime | None, zone: str | None = None) -> str:
    """An instant in `zone`, else in the page's `zone` (an IANA name the page has checked: the
    viewer's days), else in UTC; with its zone's abbreviation."""
    if value is None:
        return ""
    if zone is None:
        zone = context.get("zone")
    if zone is None or zone == "UTC":
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S %Z")


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return ""
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}:{rest:02d}"


_ENVIRONMENT: Final = SandboxedEnvironment(
    loader=FileSystemLoader(_TEMPLATES_DIR),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENVIRONMENT.filters["when"] = _when
_ENVIRONMENT.filters["duration"] = _duration


def page(name: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    """The template `name` rendered with `values`, with the pages' security headers."""
    html = _ENVIRONMENT.get_template(name).render(**values)
    return HTMLResponse(html, status_code=status_code, headers=_PAGE_HEADERS)
