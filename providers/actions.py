"""Outbound actions: the requests pbxhub sends to a PBX (click-to-call, channel setup, a fresh
recording link) as its spec declares them under `actions`, and how the PBX's answer reads (ok,
with a link when the action asks for one; not ready yet; or an error a person can act on).

Pure like the rest of `providers`: an action is rendered into an `OutboundRequest`, a redirect
the action follows into the next one (`follow_redirect`), and an HTTP answer is read into an
`ActionAnswer`; the sending itself is an activity's (activities/pbx.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlencode, urljoin, urlsplit

from providers.body_limits import BodyError, BodyLimits
from providers.json_text import read_json
from providers.template_filters import is_blank
from providers.templating import (
    ACTION_NAMES,
    ANSWER_NAMES,
    EvaluationError,
    Expression,
    TemplateCollector,
    TextTemplate,
)

__all__ = [
    "ACTION_ROLES",
    "RECORDING_LINK",
    "ActionAnswer",
    "ActionError",
    "ActionSpec",
    "AnswerRule",
    "OutboundRequest",
    "compile_action",
    "follow_redirect",
    "read_answer",
    "render_action",
]

# The role pbxhub asks a fresh recording link with (playback, and files the webhooks give no link
# to).
RECORDING_LINK: Final = "recording_link"

# The actions pbxhub knows how to use, and the arguments each one's templates read as `args`.
# A closed list (the meta-schema names them): add a role here when pbxhub gains a use for one.
ACTION_ROLES: Final[Mapping[str, str]] = {
    "click_to_call": (
        "an employee asks the PBX to call a number: the PBX rings the employee, then dials the "
        "number and connects them. args: employee {id, name, extension (their short number in "
        "this channel), pbx_user_id (the PBX's own id of them in this channel)}, phone (E.164)"
    ),
    "channel_setup": (
        "tells the PBX how to reach pbxhub, when the channel is created and whenever what this "
        "request would say changes (a key, the PBX's address). args: webhook_urls {endpoint "
        "name: URL of this channel}"
    ),
    RECORDING_LINK: (
        "asks the PBX's API for a link to a call's recording that works now: at playback when "
        "the channel keeps links that need the PBX's authorisation, and to fetch the file when "
        "the PBX's webhooks carry no link. args: call {session_id, started_at (ISO 8601, UTC), "
        "recording_url (what the webhooks gave, may be empty), extra {the call's parameters}}, "
        "lifetime_seconds (how long the link should work). An ok answer rule's `link` gives "
        "the URL; a rule with `retry` means the PBX has no file yet"
    ),
}

# How much of a PBX's answer is kept (shown to the user, stored as the channel's error).
ANSWER_TEXT_LIMIT: Final = 2000
_DEFAULT_TIMEOUT: Final = 10.0
_FORM: Final = "application/x-www-form-urlencoded"
# How many redirects an action that follows them takes, unless its spec says (`max_redirects`).
DEFAULT_MAX_REDIRECTS: Final = 3
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
# A PBX's answer is read as JSON within the bounds of a request body: a deeper or wider one is
# the action's failure, not a crash of the activity (json.loads recurses).
_ANSWER_LIMITS: Final = BodyLimits()


class ActionError(Exception):
    """The action cannot be sent or read: `spec_bug` when the spec's templates fail, otherwise
    the channel lacks what the request needs (e.g. the PBX's address). `message` never carries
    a rendered secret."""

    def __init__(self, message: str, *, spec_bug: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.spec_bug = spec_bug
        # the PBX's status, when its answer is what cannot be followed (a redirect)
        self.status = status


@dataclass(frozen=True)
class AnswerRule:
    """The first rule whose `when` holds (no `when`: always) says what an answer means."""

    path: str
    when: Expression | None
    ok: bool
    message: TextTemplate | None
    # an ok answer's result (recording_link: the URL), read from the answer
    link: Expression | None = None
    # the PBX has nothing yet (a recording still being saved): ask again later
    retry: bool = False


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
    # named values rendered first, in order, and read by the rest as `vars.<name>`
    vars: tuple[tuple[str, TextTemplate], ...] = ()
    # the whole body as one template (a nested JSON-RPC request), instead of `fields`
    body: TextTemplate | None = None
    # what the channel must have for the request to be sent at all (its keys, its address)
    requires: tuple[Expression, ...] = ()
    # a 3xx with a Location is followed (at most max_redirects times) instead of being read
    follow_redirects: bool = False
    max_redirects: int = DEFAULT_MAX_REDIRECTS


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
    # what an ok answer gave (recording_link: the URL)
    link: str | None = None
    # the PBX has nothing yet: the same request may succeed later
    retry: bool = False


def compile_action(
    name: str, document: Mapping[str, Any], path: str, problem: Callable[[str, str], None]
) -> ActionSpec | None:
    """Compile one `actions.<name>` entry (already valid against the meta-schema); every
    problem goes to `problem(path, message)`, and None is returned when there was any."""
    c = TemplateCollector(problem)

    def tmpl(source: Any, where: str, names: frozenset[str]) -> TextTemplate | None:
        return c.tmpl(str(source), where, names)  # a YAML number in a field is its text

    def expr(source: Any, where: str) -> Expression | None:
        return c.expr(source, where, ANSWER_NAMES)

    request = document["request"]
    here = f"{path}.request"
    required = tuple(
        c.expr(source, f"{path}.requires[{i}]", ACTION_NAMES)
        for i, source in enumerate(document.get("requires") or [])
    )
    named = tuple(
        (key, tmpl(value, f"{path}.vars.{key}", ACTION_NAMES))
        for key, value in (document.get("vars") or {}).items()
    )
    url = tmpl(request["url"], f"{here}.url", ACTION_NAMES)
    body = tmpl(request["body"], f"{here}.body", ACTION_NAMES) if "body" in request else None
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
                link=expr(rule["link"], f"{where}.link") if "link" in rule else None,
                retry=bool(rule.get("retry", False)),
            )
        )
    if c.failed or url is None:
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
        vars=tuple((k, v) for k, v in named if v is not None),
        body=body,
        requires=tuple(e for e in required if e is not None),
        follow_redirects=bool(request.get("follow_redirects", False)),
        max_redirects=int(request.get("max_redirects", DEFAULT_MAX_REDIRECTS)),
    )


def render_action(
    action: ActionSpec, *, channel: Any, provider: str, args: Mapping[str, Any]
) -> OutboundRequest:
    """The request the action sends for this channel and these arguments.

    Raises ActionError when the URL is not an http(s) address (the channel lacks its PBX's
    address) or a template fails (`spec_bug`).
    """
    _check_requires(action, channel=channel, provider=provider, args=args)
    context = _context(action, channel=channel, provider=provider, args=args)
    url = _render(action.url, context).strip()
    parts = urlsplit(url)
    if _address_problem(url):
        shown = f"{parts.scheme}://{parts.hostname}" if parts.hostname else "nothing"
        raise ActionError(
            f"the PBX's address is not an http(s) URL ({shown}): set it in the channel's settings"
        )
    values = {name: _render(template, context) for name, template in action.fields}
    headers = {name: _render(template, context) for name, template in action.headers}
    if action.body is not None:
        body = _render(action.body, context).strip().encode()
        if action.format == "json":
            _check_json(action, body)
    elif action.format == "query":
        # the fields travel in the URL (a GET); nothing in the body
        body = b""
        if values:
            url = f"{url}{'&' if parts.query else '?'}{urlencode(values)}"
    elif action.format == "json":
        body = json.dumps(values, ensure_ascii=False).encode()
    else:
        body = urlencode(values).encode()
    if body:
        kind = "application/json" if action.format == "json" else _FORM
        headers.setdefault("Content-Type", kind)
    return OutboundRequest(
        method=action.method,
        url=url,
        headers=headers,
        body=body,
        timeout_seconds=action.timeout_seconds,
    )


def follow_redirect(
    action: ActionSpec,
    request: OutboundRequest,
    *,
    status: int,
    headers: Mapping[str, str],
    hops: int,
) -> OutboundRequest | None:
    """The request the answer redirects to, when the action follows redirects and this is one
    (a 3xx with a Location); None when the answer is to be read as it is. `hops`: redirects
    already followed. The new address is checked as the first one was; a redirect to another
    origin carries none of the action's headers (its keys and signatures are for the PBX), and
    301/302 after a POST, like 303, become a GET without a body (what browsers and httpx do).

    Raises ActionError (with the status) past `max_redirects` or to an address that is not
    http(s).
    """
    location = _header(headers, "location")
    if not action.follow_redirects or status not in _REDIRECTS or not location:
        return None
    target = urljoin(request.url, location)
    shown = OutboundRequest(request.method, target).describe()
    if hops >= action.max_redirects:
        raise ActionError(
            f"the PBX redirected more than {action.max_redirects} times (last to {shown})",
            status=status,
        )
    if _address_problem(target):
        scheme = urlsplit(target).scheme or "no scheme"
        raise ActionError(
            f"the PBX redirected to an address pbxhub does not follow ({scheme}: not http(s))",
            status=status,
        )
    method, body = request.method, request.body
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method, body = "GET", b""
    sent_headers = dict(request.headers) if _origin(target) == _origin(request.url) else {}
    if not body:
        sent_headers = {k: v for k, v in sent_headers.items() if k.lower() != "content-type"}
    return OutboundRequest(
        method=method,
        url=target,
        headers=sent_headers,
        body=body,
        timeout_seconds=request.timeout_seconds,
    )


def read_answer(
    action: ActionSpec,
    *,
    status: int,
    text: str,
    channel: Any,
    provider: str,
    args: Mapping[str, Any],
    headers: Mapping[str, str] | None = None,
    url: str = "",
) -> ActionAnswer:
    """What the PBX's answer means, by the action's first matching rule; with none matching, a
    2xx is ok and anything else an error naming the status. Rules read the answer's `headers`
    (lower-case names; `location` made absolute against `url`, the address asked). An answer
    whose JSON is beyond the body bounds (providers.body_limits) is an error saying so.

    Raises ActionError (`spec_bug`) when a rule's template fails.
    """
    shown = text[:ANSWER_TEXT_LIMIT]
    try:
        body = read_json(text, _ANSWER_LIMITS, what="the PBX's answer") if text.strip() else None
    except BodyError as refused:
        if refused.status == 400:  # not JSON: the rules read `text`, `body` is null
            body = None
        else:  # beyond the bounds: nothing in it is read, whatever the rules say
            unread = f"the PBX's answer could not be read: {refused.message}"
            return ActionAnswer(ok=False, status=status, message=unread, text=shown)
    received = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
    if received.get("location") and url:
        received["location"] = urljoin(url, received["location"].strip())
    context = {
        **_context(action, channel=channel, provider=provider, args=args),
        "status": status,
        "body": body,
        "text": shown,
        "headers": received,
    }
    for rule in action.answers:
        if rule.when is not None and not _holds(rule.when, context):
            continue
        message = None
        if rule.message is not None and not rule.ok:
            message = _render(rule.message, context).strip() or None
        link = None
        if rule.ok and rule.link is not None:
            link = _link(rule, context)
        return ActionAnswer(
            ok=rule.ok, status=status, message=message, text=shown, link=link, retry=rule.retry
        )
    if 200 <= status < 300:
        return ActionAnswer(ok=True, status=status, text=shown)
    detail = f": {shown.strip()[:200]}" if shown.strip() else ""
    return ActionAnswer(
        ok=False, status=status, message=f"the PBX answered HTTP {status}{detail}", text=shown
    )


def _context(action: ActionSpec, *, channel: Any, provider: str, args: Any) -> dict[str, Any]:
    """What the action's templates read; its `vars` rendered in order (each sees the earlier)."""
    named: dict[str, str] = {}
    context = {"channel": channel, "provider": provider, "args": args, "vars": named}
    for name, template in action.vars:
        named[name] = _render(template, context)
    return context


def _check_requires(action: ActionSpec, *, channel: Any, provider: str, args: Any) -> None:
    """ActionError naming what the channel lacks (a key, an address), before anything renders."""
    context = {"channel": channel, "provider": provider, "args": args, "vars": {}}
    for expression in action.requires:
        try:
            value = expression.evaluate(context)
        except EvaluationError as exc:
            raise ActionError(f"{exc.path}: {exc.message}", spec_bug=True) from exc
        if is_blank(value):
            source = expression.source.strip()
            if source.startswith("args.employee."):
                # what the employee lacks is set on the employee, not on the channel
                shown = source.removeprefix("args.employee.")
                raise ActionError(
                    f"the employee has no {shown} in this channel: set it on the employee"
                )
            shown = source.removeprefix("channel.")
            raise ActionError(f"the channel has no {shown}: set it in the channel's settings")


def _address_problem(url: str) -> bool:
    """True unless `url` is an http(s) address with a host: the one check every address an
    action sends to passes, the first and each redirect's."""
    parts = urlsplit(url)
    return parts.scheme not in ("http", "https") or not parts.hostname


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def _header(headers: Mapping[str, str], name: str) -> str:
    return next((str(v).strip() for k, v in headers.items() if str(k).lower() == name), "")


def _check_json(action: ActionSpec, body: bytes) -> None:
    try:
        json.loads(body)
    except ValueError as exc:
        where = action.body.path if action.body is not None else action.path
        raise ActionError(f"{where}: the body is not JSON: {exc}", spec_bug=True) from exc


def _link(rule: AnswerRule, context: Mapping[str, Any]) -> str:
    """The URL an ok rule reads from the answer: an http(s) address, or the answer is a spec
    bug or a PBX that changed its format (either way nobody is sent to a bad address)."""
    assert rule.link is not None
    try:
        value = rule.link.evaluate(context)
    except EvaluationError as exc:
        raise ActionError(f"{exc.path}: {exc.message}", spec_bug=True) from exc
    link = str(value).strip() if value is not None else ""
    parts = urlsplit(link)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ActionError(
            f"{rule.path}.link: the PBX's answer gave no http(s) link ({link[:80]!r})",
            spec_bug=True,
        )
    return link


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
