"""Counters for Prometheus (text exposition format 0.0.4): calls recorded and calls skipped,
per channel and kind or reason, read from the store so every API replica tells the same.

A rise of `pbxhub_skipped_calls_total{reason="unknown_employee"}` is the alert that an
extension is missing or mistyped. The admin key is needed (Prometheus sends it as
`authorization: {credentials: <key>}`, a Bearer token).
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from api.deps import AdminDep, StoreDep
from api.errors import AUTHENTICATED
from crm import Store

router = APIRouter(tags=["ops"], dependencies=[AdminDep], responses=AUTHENTICATED)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _counter(
    name: str, help_text: str, label: str, counts: Iterable[tuple[int, str, str, int]]
) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
    for channel_id, provider, value, count in counts:
        labels = f'channel_id="{channel_id}",provider="{_label(provider)}"'
        labels += f',{label}="{_label(value)}"'
        lines.append(f"{name}{{{labels}}} {count}")
    return lines


def render_metrics(store: Store) -> str:
    lines = _counter(
        "pbxhub_calls_total",
        "Calls recorded, by channel and kind (call, missed).",
        "kind",
        store.call_counts(),
    )
    lines += _counter(
        "pbxhub_skipped_calls_total",
        "Calls not recorded on purpose, by channel and reason (see /api/v1/skipped-calls).",
        "reason",
        store.skipped_call_counts(),
    )
    return "\n".join(lines) + "\n"


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus counters")
def metrics(store: StoreDep) -> PlainTextResponse:
    text = render_metrics(store)
    return PlainTextResponse(text, media_type=CONTENT_TYPE)
