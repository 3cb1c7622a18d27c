"""The provider engine: one PBX request in, canonical call events and the PBX's reply out.

Pure: no store, no web framework, no Temporal, no network. Everything is compiled at load
(providers.spec); here a request is only parsed, recognised, checked, validated and mapped."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from jsonschema.exceptions import ValidationError, best_match

from providers.auth import AuthFailure, check_auth
from providers.bodies import BodyError, UploadedFile, parse_body
from providers.canonical import CoercionError, coerce_field, event_to_json
from providers.events import CallEvent
from providers.spec import EmissionSpec, EndpointSpec, EventSpec, ProviderSpec, format_path
from providers.templating import EvaluationError, Expression, as_str, is_blank

__all__ = [
    "ChannelContext",
    "EndpointNotFound",
    "IncomingRequest",
    "MappingError",
    "Outcome",
    "Reply",
    "RequestRejected",
    "handle_request",
]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class IncomingRequest:
    """An HTTP request as the ingress received it. Header keys are lower-case."""

    method: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes
    client_host: str | None = None


@dataclass(frozen=True)
class ChannelContext:
    """The channel a request came in on: what templates may read as `channel`."""

    channel_id: int
    timezone: str = "Europe/Moscow"
    country: str = "RU"
    settings: Mapping[str, Any] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: str = ""
    content_type: str = "application/json"


@dataclass(frozen=True)
class Outcome:
    """What a request meant: the spec event it was recognised as, the canonical events it
    yields (possibly none), and the reply the PBX expects once they are durable."""

    event_name: str | None
    events: tuple[CallEvent, ...]
    reply: Reply


class EndpointNotFound(LookupError):
    """The spec has no endpoint of that name (the ingress answers 404)."""


class RequestRejected(Exception):
    """The request is refused: 401/403 auth, 405 method, 400/415 body, 422 schema or an
    unrecognised request. `field` is the JSON path of the offending body field, if one is."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(f"{status}: {message}" + (f" (field {field})" if field else ""))
        self.status = status
        self.field = field
        self.message = message

    def as_json(self) -> dict[str, Any]:
        """The error body the ingress can send as is."""
        return {"error": self.message, "field": self.field}


class MappingError(Exception):
    """The spec mapped a valid request to something that is not a valid event: a spec bug, not
    the PBX's fault. `path` names the place in the spec; the ingress should answer 500 so the
    PBX retries once the spec is fixed."""

    status = 500

    def __init__(self, spec_id: str, path: str, message: str) -> None:
        super().__init__(f"spec {spec_id}: {path}: {message}")
        self.spec_id = spec_id
        self.path = path
        self.message = message


def handle_request(
    spec: ProviderSpec,
    endpoint: str,
    request: IncomingRequest,
    channel: ChannelContext,
    *,
    lookups: Mapping[str, Any] | None = None,
) -> Outcome:
    """Turn one PBX request into canonical events and a reply, as the spec says.

    Raises EndpointNotFound, RequestRejected (the PBX's fault) or MappingError (the spec's).
    """
    ep = spec.endpoints.get(endpoint)
    if ep is None:
        raise EndpointNotFound(f"provider {spec.id} has no endpoint {endpoint!r}")
    method = request.method.upper()
    if method not in ep.methods:
        raise RequestRejected(
            405, f"method {method} not allowed; use {', '.join(sorted(ep.methods))}"
        )
    try:
        body = parse_body(
            ep.body,
            body=request.body,
            content_type=request.headers.get("content-type"),
            query=request.query,
        )
    except BodyError as exc:
        raise RequestRejected(exc.status, exc.message) from exc

    context: dict[str, Any] = {
        "body": body,
        "query": request.query,
        "headers": request.headers,
        "channel": channel,
        "provider": spec.id,
    }
    event = _recognise(spec, ep, context)
    _authenticate(spec, ep, event, context, request)
    if event is None:
        raise RequestRejected(
            422,
            f"request matches none of the events of {spec.id}/{ep.name}: "
            f"{', '.join(e.name for e in ep.events)}",
        )
    _validate(event, body)

    context["event"] = event.name
    session_id = ""
    if event.session_id is not None:
        session_id = _render(spec, event.session_id, context).strip()
        if event.emissions and not session_id:
            raise RequestRejected(422, "the request carries no call session id")
    context["session_id"] = session_id

    extra = _extra(body, event) if event.emissions else {}
    events = tuple(
        e
        for emission in event.emissions
        if (e := _emit(spec, event, emission, context, channel, session_id, extra)) is not None
    )
    body_text = ""
    if event.reply.body is not None:
        reply_context = {**context, "lookups": lookups if lookups is not None else _EMPTY}
        if "events" in event.reply.body.names:  # only built when the reply shows them
            reply_context["events"] = [event_to_json(e) for e in events]
        body_text = _render(spec, event.reply.body, reply_context)
    reply = Reply(status=event.reply.status, content_type=event.reply.content_type, body=body_text)
    return Outcome(event_name=event.name, events=events, reply=reply)


# ---------------------------------------------------------------------------------------------


def _recognise(
    spec: ProviderSpec, ep: EndpointSpec, context: Mapping[str, Any]
) -> EventSpec | None:
    body = context["body"]
    # An explicit value (an event-type code the PBX sends) is decisive, whatever the shape.
    for field_path, by_value in ep.explicit:
        value = as_str(_dig(body, field_path))
        if value is not None and value in by_value:
            return by_value[value]
    # Otherwise the first event whose shape matches: order in the spec matters. All matches
    # are evaluated in one pass; should one fail, they are tried in order, so a failing match
    # after the one that holds changes nothing.
    try:
        results = ep.matches.evaluate(context)
    except EvaluationError:
        results = None
    for event in ep.events:
        if event.match is None:
            continue
        if results is not None:
            if results.get(event.name):
                return event
        elif _truthy(spec, event.match, context):
            return event
    return None


def _authenticate(
    spec: ProviderSpec,
    ep: EndpointSpec,
    event: EventSpec | None,
    context: Mapping[str, Any],
    request: IncomingRequest,
) -> None:
    mechanisms = event.auth if event is not None else ep.auth
    if not mechanisms:
        return
    auth_context = {**context, "raw_body": request.body.decode("utf-8", errors="replace")}
    try:
        check_auth(mechanisms, auth_context, request.headers, request.client_host)
    except AuthFailure as exc:
        raise RequestRejected(exc.status, exc.message) from exc
    except EvaluationError as exc:
        raise MappingError(spec.id, exc.path, exc.message) from exc


def _validate(event: EventSpec, body: Mapping[str, Any]) -> None:
    error = best_match(event.validator.iter_errors(body))
    if error is None:
        return
    field_name = _error_field(error)
    where = f" ({event.schema_name})" if event.schema_name else ""
    raise RequestRejected(422, f"{field_name or 'body'}: {error.message}{where}", field=field_name)


def _error_field(error: ValidationError) -> str | None:
    parts: list[str | int] = list(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, Mapping):
        missing = [k for k in error.validator_value if k not in error.instance]
        if missing:
            parts.append(missing[0])
    return format_path(parts) or None


def _truthy(spec: ProviderSpec, expression: Expression, context: Mapping[str, Any]) -> bool:
    try:
        return bool(expression.evaluate(context))
    except EvaluationError as exc:
        raise MappingError(spec.id, exc.path, exc.message) from exc


def _render(spec: ProviderSpec, template: Any, context: Mapping[str, Any]) -> str:
    try:
        return str(template.render(context))
    except EvaluationError as exc:
        raise MappingError(spec.id, exc.path, exc.message) from exc


def _emit(
    spec: ProviderSpec,
    event: EventSpec,
    emission: EmissionSpec,
    context: dict[str, Any],
    channel: ChannelContext,
    session_id: str,
    extra: dict[str, str],
) -> CallEvent | None:
    if emission.when is not None and not _truthy(spec, emission.when, context):
        return None
    try:
        raw = emission.values.evaluate(context)
    except EvaluationError as exc:
        raise MappingError(spec.id, exc.path, exc.message) from exc
    values: dict[str, Any] = {}
    for name, expression in emission.fields:
        try:
            values[name] = coerce_field(name, raw[name])
        except CoercionError as exc:
            raise MappingError(spec.id, expression.path, str(exc)) from exc
    key_context = {**context, "kind": emission.kind, "mapped": values}
    key = _render(spec, emission.idempotency_key, key_context).strip()
    if not key:
        raise MappingError(spec.id, emission.idempotency_key.path, "idempotency key rendered empty")
    return CallEvent(
        kind=emission.kind,
        provider=spec.id,
        session_id=session_id,
        idempotency_key=key,
        channel_id=channel.channel_id,
        extra=dict(extra),
        **values,
    )


def _dig(body: Any, path: Iterable[str]) -> Any:
    node = body
    for part in path:
        if isinstance(node, Mapping):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _extra(body: Mapping[str, Any], event: EventSpec) -> dict[str, str]:
    """Every body parameter the mapping did not read, as strings (see the meta-schema)."""
    skip = event.extra_skip
    heads = event.extra_skip_heads
    result: dict[str, str] = {}

    def taken(path: tuple[str, ...]) -> bool:
        # a parameter is consumed when the mapping read it, something inside it, or its parent
        if len(path) == 1:
            return path[0] in heads
        return any(path[: len(s)] == s or s[: len(path)] == path for s in skip)

    def visit(prefix: tuple[str, ...], value: Any) -> None:
        if isinstance(value, Mapping) and event.extra_flatten and prefix:
            for key, inner in value.items():
                visit((*prefix, str(key)), inner)
            return
        if taken(prefix) or is_blank(value) or isinstance(value, UploadedFile):
            return
        if isinstance(value, Mapping | list):
            if not value:
                return
            text = json.dumps(value, ensure_ascii=False, default=str)
        else:
            text = as_str(value) or ""
        if text:
            result[".".join(prefix)] = text

    for key, value in body.items():
        visit((str(key),), value)
    return result
