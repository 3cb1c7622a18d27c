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
from urllib.parse import parse_qsl, urlencode, urlsplit

import yaml

from contracts.events import CallEvent
from providers.actions import ActionError, read_answer, render_action
from providers.canonical import FIELD_TYPES, event_to_json
from providers.engine import (
    ChannelContext,
    IncomingRequest,
    Outcome,
    PreparedRequest,
    fallback_outcome,
    finish_request,
    prepare_request,
)
from providers.lookups import answer_from_mapping
from providers.rejections import EndpointNotFound, MappingError, RequestRejected
from providers.spec import ActionExampleSpec, ExampleSpec, ProviderSpec, display_path

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
        received_at=_received_at(raw.get("received_at")),
    )


def _received_at(value: Any) -> datetime | None:
    """An example's `received_at` (ISO 8601 with an offset) as the aware instant the ingress
    would stamp; absent → None, so an example never depends on the clock."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError(f"request.received_at {value!r} needs an offset (e.g. +00:00)")
    return moment.astimezone(UTC)


def _form_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _channel(example: ExampleSpec | ActionExampleSpec) -> ChannelContext:
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
    results = tuple(_run_one(spec, example) for example in spec.examples) + tuple(
        _run_action_example(spec, example) for example in spec.action_examples
    )
    return SpecRun(spec.id, display_path(spec.path), results, time.perf_counter() - started)


def _run_one(spec: ProviderSpec, example: ExampleSpec) -> ExampleResult:
    channel = _channel(example)
    expect = example.expect
    wanted_rejection = expect.get("rejected")
    try:
        # the answers as the ingress would hand them over: typed, so a template reading a field
        # the ingress never gives fails here rather than in production
        lookups = {kind: answer_from_mapping(kind, data) for kind, data in example.lookups.items()}
    except ValueError as exc:
        return ExampleResult(example.name, example.path, False, error=f"lookups: {exc}")
    try:
        prepared = prepare_request(spec, example.endpoint, build_request(example), channel)
        outcome = (
            fallback_outcome(prepared) if example.fallback else finish_request(prepared, lookups)
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
        example,
        _expected_outcome(spec, channel, expect),
        _actual_outcome(outcome, expect, prepared),
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
    if "body" in wanted:
        body = wanted["body"] if actual is None else _answer(actual)
        view["body"] = _reply_view({"body": body})["body"]
    return {"rejected": view}


def _answer(rejected: RequestRejected) -> str:
    """The body the ingress answers a refusal with: the endpoint's declared wording, else its
    own JSON error."""
    if rejected.reply is not None:
        return rejected.reply.body
    return json.dumps(rejected.as_json(), ensure_ascii=False)


def _run_action_example(spec: ProviderSpec, example: ActionExampleSpec) -> ExampleResult:
    """An outbound action rendered and its answers read, compared with what the example says."""
    action = spec.actions.get(example.action)
    if action is None:
        return ExampleResult(example.name, example.path, False, error="no such action")
    channel = _channel(example)
    args = dict(example.args)
    expected: dict[str, Any] = {}
    actual: dict[str, Any] = {}
    wanted = dict(example.expect)
    try:
        request = render_action(action, channel=channel, provider=spec.id, args=args)
    except ActionError as exc:
        contains = wanted.get("error_contains")
        if contains is not None and contains in exc.message and not exc.spec_bug:
            return ExampleResult(example.name, example.path, True)
        return ExampleResult(example.name, example.path, False, error=f"ActionError: {exc}")
    if "error_contains" in wanted:
        expected["error"] = f"...{wanted['error_contains']}..."
        actual["request"] = request.describe()
    for key in ("method", "url"):
        if key in wanted:
            expected[key] = wanted[key]
            actual[key] = getattr(request, key)
    if "headers" in wanted:
        expected["headers"] = dict(wanted["headers"])
        actual["headers"] = {k: request.headers.get(k) for k in wanted["headers"]}
    if "form" in wanted:
        expected["form"] = {str(k): str(v) for k, v in wanted["form"].items()}
        actual["form"] = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
    if "json" in wanted:
        expected["json"] = _plain(wanted["json"])
        actual["json"] = json.loads(request.body or b"null")
    if "query" in wanted:
        expected["query"] = {str(k): str(v) for k, v in wanted["query"].items()}
        actual["query"] = dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True))
    for i, answer in enumerate(example.answers):
        try:
            read = read_answer(
                action,
                status=int(answer["status"]),
                text=str(answer.get("text", "")),
                channel=channel,
                provider=spec.id,
                args=args,
            )
        except ActionError as exc:
            return ExampleResult(example.name, example.path, False, error=f"answers[{i}]: {exc}")
        want = dict(answer["expect"])
        shown = f"answers[{i}] (HTTP {answer['status']})"
        expected[shown] = want
        actual[shown] = {
            "ok": read.ok,
            **({"message": read.message} if "message" in want else {}),
            **({"link": read.link} if "link" in want else {}),
            **({"retry": read.retry} if "retry" in want else {}),
        }
    return _compare(example, expected, actual)


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
    if "lookups_needed" in expect:
        result["lookups_needed"] = _plain(expect["lookups_needed"])
    return result


def _actual_outcome(
    outcome: Outcome, expect: Mapping[str, Any], prepared: PreparedRequest
) -> dict[str, Any]:
    result: dict[str, Any] = {"events": [event_to_json(e) for e in outcome.events]}
    if "event" in expect:
        result["event"] = outcome.event_name
    if "lookups_needed" in expect:
        result["lookups_needed"] = _plain(prepared.lookups_needed)
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


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _normalise(name: str, value: Any) -> Any:
    if FIELD_TYPES.get(name) == "datetime" and isinstance(value, str | datetime):
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        if moment.tzinfo is None:
            return f"{value} (no time zone: write the expected instant with an offset)"
        return moment.astimezone(UTC).isoformat()
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    return value


def _compare(example: ExampleSpec | ActionExampleSpec, expected: Any, actual: Any) -> ExampleResult:
    if expected == actual:
        return ExampleResult(example.name, example.path, True)
    return ExampleResult(example.name, example.path, False, diff=_diff(expected, actual))


def _dump(value: Any) -> list[str]:
    text = yaml.dump(
        value, Dumper=_NoAliasDumper, sort_keys=True, allow_unicode=True, default_flow_style=False
    )
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


class _NoAliasDumper(yaml.SafeDumper):
    """Spells out repeated values: `&id001`/`*id001` anchors make a diff unreadable."""

    def ignore_aliases(self, data: Any) -> bool:
        return True
