"""Outbound actions: the requests pbxhub sends to a PBX (click-to-call, channel setup) as its spec
declares them under `actions`, and how the PBX's answer reads (ok, or an error a person can act
on).

Pure like the rest of `providers`: an action is rendered into an `OutboundRequest` and an HTTP
answer is read into an `ActionAnswer`; the sending itself is an activity's (activities/pbx.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

from providers.templating import (
    ACTION_NAMES,
    ANSWER_NAMES,
    EvaluationError,
    Expression,
    TemplateProblem,
    TextTemplate,
    compile_expression,
    compile_template,
)

__all__ = [
    "ACTION_ROLES",
    "ActionAnswer",
    "ActionError",
    "ActionSpec",
    "AnswerRule",
    "OutboundRequest",
    "compile_action",
    "read_answer",
    "render_action",
]

# The actions pbxhub knows how to use, and the arguments each one's templates read as `args`.
# A closed list (the meta-schema names them): add a role here when pbxhub gains a use for one.
ACTION_ROLES: Final[Mapping[str, str]] = {
    "click_to_call": (
        "an employee asks the PBX to call a number: the PBX rings the employee, then dials the "
        "number and connects them. args: employee {id, name, extension (their short number in "
        "this channel)}, phone (E.164)"
    ),
    "channel_setup": (
        "tells the PBX how to reach pbxhub, when the channel is created and whenever what this "
        "request would say changes (a key, the PBX's address). args: webhook_urls {endpoint "
        "name: URL of this channel}"
    ),
}

# How much of a PBX's answer is kept (shown to the user, stored as the channel's error).
ANSWER_TEXT_LIMIT: Final = 2000
_DEFAULT_TIMEOUT: Final = 10.0


class ActionError(Exception):
    """The action cannot be sent or read: `spec_bug` when the spec's templates fail, otherwise
    the channel lacks what the request needs (e.g. the PBX's address). `message` never carries
    a rendered secret."""

    def __init__(self, message: str, *, spec_bug: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.spec_bug = spec_bug


@dataclass(frozen=True)
class AnswerRule:
    """The first rule whose `when` holds (no `when`: always) says what an answer means."""

    path: str
    when: Expression | None
    ok: bool
    message: TextTemplate | None


@dataclass(frozen=True)
class ActionSpec:
    name: str
    path: str
    description: str
    method: str
    url: TextTemplate
    format: str
    fields: tuple[tuple[str, TextTemplate], ...]
    headers: tuple[tuple[str, TextTemplate], ...]
    timeout_seconds: float
    answers: tuple[AnswerRule, ...]


@dataclass(frozen=True)
class OutboundRequest:
    """One rendered request. Its body and query may carry keys: log `describe()`, never it."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    timeout_seconds: float = _DEFAULT_TIMEOUT

    def describe(self) -> str:
        """Method, scheme, host and path: what may be logged or shown."""
        parts = urlsplit(self.url)
        return f"{self.method} {parts.scheme}://{parts.hostname or ''}{parts.path}"


@dataclass(frozen=True)
class ActionAnswer:
    """What the PBX answered: ok, or the message for the person who asked."""

    ok: bool
    status: int
    message: str | None = None
    # the answer's body as text, cut at ANSWER_TEXT_LIMIT
    text: str = ""


def compile_action(
    name: str, document: Mapping[str, Any], path: str, problem: Callable[[str, str], None]
) -> ActionSpec | None:
    """Compile one `actions.<name>` entry (already valid against the meta-schema); every
    problem goes to `problem(path, message)`, and None is returned when there was any."""
    failed = False

    def tmpl(source: Any, where: str, names: frozenset[str]) -> TextTemplate | None:
        nonlocal failed
        try:
            return compile_template(str(source), where, names)
        except TemplateProblem as exc:
            problem(where, str(exc))
            failed = True
            return None

    def expr(source: Any, where: str) -> Expression | None:
        nonlocal failed
        try:
            return compile_expression(source, where, ANSWER_NAMES)
        except TemplateProblem as exc:
            problem(where, str(exc))
            failed = True
            return None

    request = document["request"]
    here = f"{path}.request"
    url = tmpl(request["url"], f"{here}.url", ACTION_NAMES)
    fields = tuple(
        (key, tmpl(value, f"{here}.fields.{key}", ACTION_NAMES))
        for key, value in (request.get("fields") or {}).items()
    )
    headers = tuple(
        (key, tmpl(value, f"{here}.headers.{key}", ACTION_NAMES))
        for key, value in (request.get("headers") or {}).items()
    )
    answers = []
    for i, rule in enumerate(document.get("answers", [])):
        where = f"{path}.answers[{i}]"
        answers.append(
            AnswerRule(
                path=where,
                when=expr(rule["when"], f"{where}.when") if "when" in rule else None,
                ok=bool(rule.get("ok", False)),
                message=tmpl(rule["message"], f"{where}.message", ANSWER_NAMES)
                if "message" in rule
                else None,
            )
        )
    if failed or url is None:
        return None
    return ActionSpec(
        name=name,
        path=path,
        description=str(document.get("description", "")),
        method=str(request["method"]).upper(),
        url=url,
        format=str(request["format"]),
        fields=tuple((k, v) for k, v in fields if v is not None),
        headers=tuple((k, v) for k, v in headers if v is not None),
        timeout_seconds=float(request.get("timeout_seconds", _DEFAULT_TIMEOUT)),
        answers=tuple(answers),
    )


def render_action(
    action: ActionSpec, *, channel: Any, provider: str, args: Mapping[str, Any]
) -> OutboundRequest:
    """The request the action sends for this channel and these arguments.

    Raises ActionError when the URL is not an http(s) address (the channel lacks its PBX's
    address) or a template fails (`spec_bug`).
    """
    context = {"channel": channel, "provider": provider, "args": args}
    url = _render(action.url, context).strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        shown = f"{parts.scheme}://{parts.hostname}" if parts.hostname else "nothing"
        raise ActionError(
            f"the PBX's address is not an http(s) URL ({shown}): set it in the channel's settings"
        )
    values = {name: _render(template, context) for name, template in action.fields}
    headers = {name: _render(template, context) for name, template in action.headers}
    if action.format == "json":
        body = json.dumps(values, ensure_ascii=False).encode()
        headers.setdefault("Content-Type", "application/json")
    else:
        body = urlencode(values).encode()
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    return OutboundRequest(
        method=action.method,
        url=url,
        headers=headers,
        body=body,
        timeout_seconds=action.timeout_seconds,
    )


def read_answer(
    action: ActionSpec,
    *,
    status: int,
    text: str,
    channel: Any,
    provider: str,
    args: Mapping[str, Any],
) -> ActionAnswer:
    """What the PBX's answer means, by the action's first matching rule; with none matching, a
    2xx is ok and anything else an error naming the status.

    Raises ActionError (`spec_bug`) when a rule's template fails.
    """
    shown = text[:ANSWER_TEXT_LIMIT]
    try:
        body = json.loads(text) if text.strip() else None
    except ValueError:
        body = None
    context = {
        "channel": channel,
        "provider": provider,
        "args": args,
        "status": status,
        "body": body,
        "text": shown,
    }
    for rule in action.answers:
        if rule.when is not None and not _holds(rule.when, context):
            continue
        message = None
        if rule.message is not None and not rule.ok:
            message = _render(rule.message, context).strip() or None
        return ActionAnswer(ok=rule.ok, status=status, message=message, text=shown)
    if 200 <= status < 300:
        return ActionAnswer(ok=True, status=status, text=shown)
    detail = f": {shown.strip()[:200]}" if shown.strip() else ""
    return ActionAnswer(
        ok=False, status=status, message=f"the PBX answered HTTP {status}{detail}", text=shown
    )


def _render(template: TextTemplate, context: Mapping[str, Any]) -> str:
    try:
        return template.render(context)
    except EvaluationError as exc:
        raise ActionError(f"{exc.path}: {exc.message}", spec_bug=True) from exc


def _holds(expression: Expression, context: Mapping[str, Any]) -> bool:
    try:
        return bool(expression.evaluate(context))
    except EvaluationError as exc:
        raise ActionError(f"{exc.path}: {exc.message}", spec_bug=True) from exc
