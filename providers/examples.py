"""A spec's own examples, run through the engine with no server: each request fixture must map to
exactly the canonical events (and reply) it lists; a mismatch is shown as a unified diff."""

from __future__ import annotations

import difflib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

import yaml

from providers.canonical import FIELD_TYPES, event_to_json
from providers.engine import (
    ChannelContext,
    EndpointNotFound,
    IncomingRequest,
    MappingError,
    Outcome,
    RequestRejected,
    handle_request,
)
from providers.events import CallEvent
from providers.spec import ExampleSpec, ProviderSpec, display_path

__all__ = ["ExampleResult", "SpecRun", "build_request", "format_run", "run_examples"]

_DEFAULT_CHANNEL = {"channel_id": 1, "timezone": "Europe/Moscow", "country": "RU"}
_DEFAULTS: dict[str, Any] = event_to_json(
    CallEvent(kind="call_started", provider="", session_id="", idempotency_key="")
)


@dataclass(frozen=True)
class ExampleResult:
    name: str
    path: str
    passed: bool
    diff: str = ""
    error: str = ""


@dataclass(frozen=True)
class SpecRun:
    spec_id: str
    file: str
    results: tuple[ExampleResult, ...] = field(default_factory=tuple)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)


def build_request(example: ExampleSpec) -> IncomingRequest:
    """The IncomingRequest an example describes (JSON, form or raw body)."""
    raw = example.request
    headers = {str(k).lower(): str(v) for k, v in (raw.get("headers") or {}).items()}
    if "json" in raw:
        body = json.dumps(raw["json"], ensure_ascii=False).encode()
        headers.setdefault("content-type", "application/json")
    elif "form" in raw:
        body = urlencode({k: _form_value(v) for k, v in raw["form"].items()}).encode()
        headers.setdefault("content-type", "application/x-www-form-urlencoded")
    else:
        body = str(raw.get("body", "")).encode()
    return IncomingRequest(
        method=str(raw.get("method", "POST")),
        headers=headers,
        query={str(k): str(v) for k, v in (raw.get("query") or {}).items()},
        body=body,
        client_host=raw.get("client_host"),
    )


def _form_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _channel(example: ExampleSpec) -> ChannelContext:
    data = {**_DEFAULT_CHANNEL, **example.channel}
    return ChannelContext(
        channel_id=int(data["channel_id"]),
        timezone=str(data["timezone"]),
        country=str(data["country"]),
        settings=dict(data.get("settings") or {}),
        secrets={str(k): str(v) for k, v in (data.get("secrets") or {}).items()},
    )


def run_examples(spec: ProviderSpec) -> SpecRun:
    """Run every example of the spec; never raises for a failing example."""
    started = time.perf_counter()
    results = tuple(_run_one(spec, example) for example in spec.examples)
    return SpecRun(spec.id, display_path(spec.path), results, time.perf_counter() - started)


def _run_one(spec: ProviderSpec, example: ExampleSpec) -> ExampleResult:
    channel = _channel(example)
    expect = example.expect
    wanted_rejection = expect.get("rejected")
    try:
        outcome = handle_request(
            spec, example.endpoint, build_request(example), channel, lookups=example.lookups
        )
    except RequestRejected as exc:
        if wanted_rejection is None:
            rejected = {"status": exc.status, "field": exc.field, "message": exc.message}
            return _compare(
                example, _expected_outcome(spec, channel, expect), {"rejected": rejected}
            )
        return _compare(
            example, _rejection(wanted_rejection, None), _rejection(wanted_rejection, exc)
        )
    except (MappingError, EndpointNotFound) as exc:
        return ExampleResult(
            example.name, example.path, False, error=f"{type(exc).__name__}: {exc}"
        )
    if wanted_rejection is not None:
        accepted = {
            "accepted": outcome.event_name,
            "events": [event_to_json(e) for e in outcome.events],
        }
        return _compare(example, {"rejected": dict(wanted_rejection)}, accepted)
    return _compare(
        example, _expected_outcome(spec, channel, expect), _actual_outcome(outcome, expect)
    )


def _rejection(wanted: Mapping[str, Any], actual: RequestRejected | None) -> dict[str, Any]:
    """The rejection as far as the example pins it down (status, field, part of the message)."""
    view: dict[str, Any] = {}
    for key in ("status", "field"):
        if key in wanted:
            view[key] = wanted[key] if actual is None else getattr(actual, key)
    contains = wanted.get("message_contains")
    if contains is not None:
        view["message"] = (
            f"...{contains}..." if actual is None or contains in actual.message else actual.message
        )
    return {"rejected": view}


def _expected_outcome(
    spec: ProviderSpec, channel: ChannelContext, expect: Mapping[str, Any]
) -> dict[str, Any]:
    events = []
    for wanted in expect.get("events", []):
        full = {**_DEFAULTS, "provider": spec.id, "channel_id": channel.channel_id}
        full.update({k: _normalise(k, v) for k, v in wanted.items()})
        events.append(full)
    result: dict[str, Any] = {"events": events}
    if "event" in expect:
        result["event"] = expect["event"]
    if "reply" in expect:
        result["reply"] = _reply_view(dict(expect["reply"]))
    return result


def _actual_outcome(outcome: Outcome, expect: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"events": [event_to_json(e) for e in outcome.events]}
    if "event" in expect:
        result["event"] = outcome.event_name
    if "reply" in expect:
        wanted = expect["reply"]
        actual = {
            "status": outcome.reply.status,
            "content_type": outcome.reply.content_type,
            "body": outcome.reply.body,
        }
        result["reply"] = _reply_view({k: actual[k] for k in wanted})
    return result


def _reply_view(reply: dict[str, Any]) -> dict[str, Any]:
    # JSON replies compare by value, so the spec's whitespace does not matter
    if isinstance(reply.get("body"), str):
        try:
            reply["body"] = json.loads(reply["body"])
        except ValueError:
            pass
    return reply


def _normalise(name: str, value: Any) -> Any:
    if FIELD_TYPES.get(name) == "datetime" and isinstance(value, str | datetime):
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        if moment.tzinfo is None:
            return f"{value} (no time zone: write the expected instant with an offset)"
        return moment.astimezone(UTC).isoformat()
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    return value


def _compare(example: ExampleSpec, expected: Any, actual: Any) -> ExampleResult:
    if expected == actual:
        return ExampleResult(example.name, example.path, True)
    return ExampleResult(example.name, example.path, False, diff=_diff(expected, actual))


def _dump(value: Any) -> list[str]:
    text = yaml.safe_dump(value, sort_keys=True, allow_unicode=True, default_flow_style=False)
    return text.splitlines(keepends=True)


def _diff(expected: Any, actual: Any) -> str:
    return "".join(difflib.unified_diff(_dump(expected), _dump(actual), "expected", "actual", n=3))


def format_run(runs: Sequence[SpecRun], *, verbose: bool = False) -> str:
    """A readable report: one line per spec, the failing examples with their diffs."""
    lines: list[str] = []
    for run in runs:
        failed = [r for r in run.results if not r.passed]
        mark = "ok  " if not failed else "FAIL"
        lines.append(
            f"{mark} {run.spec_id} ({run.file}): {len(run.results) - len(failed)}/"
            f"{len(run.results)} examples passed in {run.seconds * 1000:.0f} ms"
        )
        for result in run.results:
            if result.passed:
                if verbose:
                    lines.append(f"  ok   {result.name}")
                continue
            lines.append(f"  FAIL {result.name}  [{result.path}]")
            if result.error:
                lines.append(f"       {result.error}")
            for line in result.diff.splitlines():
                lines.append(f"       {line}")
    return "\n".join(lines)
