"""The provider engine: one PBX request in, canonical call events and the PBX's reply out.

Pure: no store, no web framework, no Temporal, no network. Everything is compiled at load
(providers.spec); here a request is only parsed, recognised, checked, validated and mapped.
A reply that needs data from the CRM is rendered in two steps: `prepare_request` says what to
look up (providers.lookups), the caller reads it, `finish_request` renders the reply with it;
`fallback_outcome` is the reply for when the caller could not read it in time."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from jsonschema.exceptions import ValidationError, best_match

from providers.auth import AuthFailure, SourceIpAllowlist, check_auth
from providers.bodies import BodyError, UploadedFile, decode_json_fields, parse_body
from providers.canonical import (
    CoercionError,
    Unstorable,
    coerce_field,
    event_to_json,
    session_id_problem,
)
from providers.events import CallEvent
from providers.faults import (
    RequestFault,
    blank_field,
    evaluation_fault,
    request_fault,
    spec_place,
)
from providers.signatures import DEFAULT_MAX_AGE_SECONDS
from providers.spec import (
    EmissionSpec,
    EndpointSpec,
    EventSpec,
    ProviderSpec,
    ReplySpec,
    display_path,
    format_path,
)
from providers.spec_vars import evaluate_vars
from providers.templating import (
    EvaluationError,
    Expression,
    FilterValueError,
    TextTemplate,
    as_str,
    is_blank,
)

__all__ = [
    "CHANNEL_SOURCES_SETTING",
    "ChannelContext",
    "EndpointNotFound",
    "IncomingRequest",
    "MappingError",
    "Outcome",
    "PreparedRequest",
    "Reply",
    "RequestRejected",
    "check_channel_sources",
    "fallback_outcome",
    "finish_request",
    "handle_request",
    "prepare_request",
]

_EMPTY: Mapping[str, Any] = MappingProxyType({})

# A channel setting every provider honours: when it lists networks (CIDR, a list or comma text),
# requests from anywhere else are refused with 403 before anything else is looked at. It narrows
# whatever the spec's own `source_ip_allowlist` allows.
CHANNEL_SOURCES_SETTING = "allowed_sources"
_CHANNEL_SOURCES = SourceIpAllowlist(setting=CHANNEL_SOURCES_SETTING)


@dataclass(frozen=True)
class IncomingRequest:
    """An HTTP request as the ingress received it. Header keys are lower-case."""

    method: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes
    client_host: str | None = None
    # When the ingress received it (aware UTC): templates read it as `received_at`, for PBXs whose
    # notifications carry no time of their own. None where no one received it (spec examples).
    received_at: datetime | None = None


@dataclass(frozen=True)
class ChannelContext:
    """The channel a request came in on: what templates may read as `channel`."""

    channel_id: int
    timezone: str = "Europe/Moscow"
    country: str = "RU"
    settings: Mapping[str, Any] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)
    # The longest call pbxhub waits for (PBXHUB_MAX_CALL_SECONDS): how old a signed call start
    # may be before a signature's freshness check calls it a replay (providers.signatures).
    max_call_seconds: int = DEFAULT_MAX_AGE_SECONDS

    @classmethod
    def from_stored(
        cls,
        channel_id: int,
        *,
        timezone: str,
        country: str,
        settings: Mapping[str, Any],
        max_call_seconds: int = DEFAULT_MAX_AGE_SECONDS,
    ) -> ChannelContext:
        """A stored channel's context: its `settings.secrets` (name → value) become
        `channel.secrets` only, not part of `channel.settings`."""
        plain = dict(settings)
        secrets = plain.pop("secrets", None)
        return cls(
            channel_id=channel_id,
            timezone=timezone,
            country=country,
            settings=plain,
            secrets={str(k): str(v) for k, v in secrets.items()}
            if isinstance(secrets, Mapping)
            else {},
            max_call_seconds=max_call_seconds,
        )


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
    # the reply is the spec's fallback_reply: its lookups could not be answered
    fallback: bool = False


@dataclass(frozen=True)
class PreparedRequest:
    """A request parsed, recognised, authenticated, validated and mapped to its events: all but
    the reply, which may need answers from the CRM first (`lookups_needed`: kind → arguments,
    e.g. {"responsible": {"phone": "+79161234567"}}; empty when the reply needs none)."""

    spec: ProviderSpec
    endpoint: EndpointSpec
    event: EventSpec
    channel: ChannelContext
    session_id: str
    events: tuple[CallEvent, ...]
    lookups_needed: Mapping[str, Mapping[str, Any]]
    # what the reply templates read (body, query, headers, channel, provider, event, session_id)
    template_context: Mapping[str, Any] = field(repr=False)

    @property
    def event_name(self) -> str:
        return self.event.name


class EndpointNotFound(LookupError):
    """The spec has no endpoint of that name (the ingress answers 404)."""


class RequestRejected(Exception):
    """The request is refused: 401/403 auth, 405 method, 400/415 body, 422 schema or an
    unrecognised request. `field` is the JSON path of the offending body field, if one is."""

    def __init__(
        self, status: int, message: str, field: str | None = None, *, reply: Reply | None = None
    ) -> None:
        super().__init__(f"{status}: {message}" + (f" (field {field})" if field else ""))
        self.status = status
        self.field = field
        self.message = message
        # the endpoint's declared answer (its `rejections`), when its PBX expects its own words;
        # `message` still says why, for the log
        self.reply = reply

    def as_json(self) -> dict[str, Any]:
        """The error body the ingress can send as is."""
        return {"error": self.message, "field": self.field}


class MappingError(Exception):
    """The spec fails on a request that is not at fault (a spec bug: a template error, a value
    the spec should have converted). `path` names the place in the spec, `file`, `endpoint` and
    `event` the rest of it, for the log. The ingress answers 501, not 500: see api/routes/hooks.py.
    A failure the request causes (a missing field, an unreadable value) is a RequestRejected."""

    status = 501

    def __init__(
        self,
        spec_id: str,
        path: str,
        message: str,
        *,
        file: str = "",
        endpoint: str | None = None,
        event: str | None = None,
    ) -> None:
        super().__init__(f"spec {spec_id}: {path}: {message}")
        self.spec_id = spec_id
        self.path = path
        self.message = message
        self.file = file
        self.endpoint = endpoint
        self.event = event


def handle_request(
    spec: ProviderSpec,
    endpoint: str,
    request: IncomingRequest,
    channel: ChannelContext,
    *,
    lookups: Mapping[str, Any] | None = None,
) -> Outcome:
    """Turn one PBX request into canonical events and a reply, as the spec says: prepare_request
    then finish_request with the `lookups` the caller already has (none by default).

    Raises EndpointNotFound, RequestRejected (the PBX's fault) or MappingError (the spec's).
    """
    return finish_request(prepare_request(spec, endpoint, request, channel), lookups or _EMPTY)


def prepare_request(
    spec: ProviderSpec, endpoint: str, request: IncomingRequest, channel: ChannelContext
) -> PreparedRequest:
    """Everything but the reply: the channel's source allow-list, method, body, recognition,
    auth, schema, the canonical events, and the lookups (kind → arguments) the reply needs.

    Raises EndpointNotFound, RequestRejected (the PBX's fault) or MappingError (the spec's).
    """
    ep = spec.endpoints.get(endpoint)
    if ep is None:
        raise EndpointNotFound(f"provider {spec.id} has no endpoint {endpoint!r}")
    try:
        return _prepare(spec, ep, request, channel)
    except RequestRejected as rejected:
        declared = _declared_rejection(spec, ep, rejected)
        if declared is None:
            raise
        raise declared from rejected


# Which declared rejection (an endpoint's `rejections`) answers a refusal of each status.
_REJECTION_CAUSES: Mapping[int, str] = MappingProxyType(
    {401: "unauthorized", 403: "unauthorized", 400: "invalid", 415: "invalid", 422: "invalid"}
)


def _declared_rejection(
    spec: ProviderSpec, ep: EndpointSpec, rejected: RequestRejected
) -> RequestRejected | None:
    declared = ep.rejections.get(_REJECTION_CAUSES.get(rejected.status, ""))
    if declared is None:
        return None
    body = ""
    if declared.body is not None:
        context = {"status": rejected.status, "message": rejected.message, "field": rejected.field}
        body = _render(spec, declared.body, context)
    reply = Reply(status=declared.status, body=body, content_type=declared.content_type)
    return RequestRejected(declared.status, rejected.message, rejected.field, reply=reply)


def _prepare(
    spec: ProviderSpec, ep: EndpointSpec, request: IncomingRequest, channel: ChannelContext
) -> PreparedRequest:
    check_channel_sources(channel, request.client_host)
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
        raise RequestRejected(exc.status, exc.message, exc.field) from exc

    context: dict[str, Any] = {
        "body": body,
        "query": request.query,
        "headers": request.headers,
        "channel": channel,
        "provider": spec.id,
        "received_at": request.received_at,
    }
    if ep.body.json_fields:
        # signed over the fields as sent; a request that fails auth costs no JSON decoding
        _authenticate(spec, ep, None, context, request)
        body = context["body"] = _decode_json_fields(ep, body)
        event = _recognise(spec, ep, context)
    else:
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
    try:
        evaluate_vars(event.vars, context)
    except EvaluationError as exc:
        raise _failure(spec, exc, context) from exc
    session_id = ""
    if event.session_id is not None:
        session_id = _render(spec, event.session_id, context).strip()
        if event.emissions and not session_id:
            missing = blank_field(event.session_id.body_reads, body)
            raise RequestRejected(
                422,
                "the request carries no call session id"
                + (f": {missing} is missing" if missing else ""),
                field=missing,
            )
        _check_session_id(event, session_id)
    context["session_id"] = session_id

    extra = _extra(body, event) if event.emissions else {}
    events = tuple(
        e
        for emission in event.emissions
        for e in _emit(spec, event, emission, context, channel, session_id, extra)
    )
    _check_keys_differ(spec, event, events)
    needed = {
        kind: MappingProxyType(
            {name: _evaluate(spec, expression, context) for name, expression in arguments}
        )
        for kind, arguments in event.lookups
    }
    return PreparedRequest(
        spec=spec,
        endpoint=ep,
        event=event,
        channel=channel,
        session_id=session_id,
        events=events,
        lookups_needed=MappingProxyType(needed),
        template_context=MappingProxyType(context),
    )


def finish_request(prepared: PreparedRequest, lookups: Mapping[str, Any]) -> Outcome:
    """The outcome with the reply rendered from the answers to `prepared.lookups_needed`
    (templates read them as `lookups.<kind>`; a kind left out reads as undefined).

    Raises RequestRejected when the reply template fails on a value of the request (422 naming
    it), MappingError when it fails otherwise (a spec bug).
    """
    return _outcome(prepared, prepared.event.reply, lookups, fallback=False)


def fallback_outcome(prepared: PreparedRequest) -> Outcome:
    """The outcome when the lookups cannot be answered (store slow or down): the same events, and
    the event's `fallback_reply` ("continue by your own scenario"). An event that declares no
    lookups has no fallback: its ordinary reply is rendered, with no lookups.

    Raises MappingError when the fallback template fails (a spec bug).
    """
    reply = prepared.event.fallback_reply
    if reply is None:
        return _outcome(prepared, prepared.event.reply, _EMPTY, fallback=False)
    return _outcome(prepared, reply, None, fallback=True)


def _outcome(
    prepared: PreparedRequest,
    reply_spec: ReplySpec,
    lookups: Mapping[str, Any] | None,
    *,
    fallback: bool,
) -> Outcome:
    body_text = ""
    if reply_spec.body is not None:
        reply_context = dict(prepared.template_context)
        if lookups is not None:  # a fallback template cannot read lookups (checked at load)
            reply_context["lookups"] = lookups
        if "events" in reply_spec.body.names:  # only built when the reply shows them
            reply_context["events"] = [event_to_json(e) for e in prepared.events]
        try:
            body_text = _render(prepared.spec, reply_spec.body, reply_context)
        except RequestRejected as rejected:  # the events are accepted; the reply cannot be
            declared = _declared_rejection(prepared.spec, prepared.endpoint, rejected)
            raise (declared or rejected) from rejected
    reply = Reply(status=reply_spec.status, content_type=reply_spec.content_type, body=body_text)
    return Outcome(
        event_name=prepared.event.name, events=prepared.events, reply=reply, fallback=fallback
    )


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
        raise _failure(spec, exc, context) from exc


def _decode_json_fields(ep: EndpointSpec, body: dict[str, Any]) -> dict[str, Any]:
    try:
        return decode_json_fields(body, ep.body.json_fields)
    except BodyError as exc:
        raise RequestRejected(exc.status, exc.message, exc.field) from exc


def check_channel_sources(channel: ChannelContext, client_host: str | None) -> None:
    """The channel's `allowed_sources` against the sender; RequestRejected (403) when refused
    (the generic call API checks it too, for its own route)."""
    try:
        _CHANNEL_SOURCES.check(channel, client_host)
    except AuthFailure as exc:
        raise RequestRejected(exc.status, exc.message) from exc
    except ValueError as exc:  # the setting is not a list of networks: closed, not open
        raise RequestRejected(
            403, f"the channel's {CHANNEL_SOURCES_SETTING} setting is not a list of networks"
        ) from exc


def _check_session_id(event: EventSpec, session_id: str) -> None:
    # Too long for a workflow id (providers.canonical): the request's fault, named by its field.
    problem = session_id_problem(session_id)
    if problem is None:
        return
    field_name = _field_read(event.session_id) if event.session_id is not None else None
    raise RequestRejected(422, f"{field_name or 'session id'}: {problem}", field=field_name)


def _field_read(expression: Expression | TextTemplate) -> str | None:
    """The body field a template reads, when it reads just one: what a 422 names."""
    read = expression.body_reads
    return format_path(list(next(iter(read)))) if len(read) == 1 else None


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
        raise _failure(spec, exc, context) from exc


def _evaluate(spec: ProviderSpec, expression: Expression, context: Mapping[str, Any]) -> Any:
    try:
        return expression.evaluate(context)
    except EvaluationError as exc:
        raise _failure(spec, exc, context) from exc


def _render(spec: ProviderSpec, template: Any, context: Mapping[str, Any]) -> str:
    try:
        return str(template.render(context))
    except EvaluationError as exc:
        raise _failure(spec, exc, context) from exc


def _failure(
    spec: ProviderSpec, error: EvaluationError, context: Mapping[str, Any]
) -> RequestRejected | MappingError:
    """A template that failed on this request: 422 naming the field when the request carries
    the fault (providers.faults), else the spec's bug."""
    fault = evaluation_fault(error, context.get("body"))
    return _unreadable(fault) if fault is not None else _spec_bug(spec, error.path, error.message)


def _unreadable(fault: RequestFault) -> RequestRejected:
    return RequestRejected(422, fault.message, fault.field)


def _spec_bug(spec: ProviderSpec, path: str, message: str) -> MappingError:
    """A MappingError placed in the spec: its file, endpoint and event."""
    endpoint, event = spec_place(spec, path)
    return MappingError(
        spec.id, path, message, file=display_path(spec.path), endpoint=endpoint, event=event
    )


def _emit(
    spec: ProviderSpec,
    event: EventSpec,
    emission: EmissionSpec,
    context: dict[str, Any],
    channel: ChannelContext,
    session_id: str,
    extra: dict[str, str],
) -> list[CallEvent]:
    if emission.for_each is None:
        one = _emit_one(spec, emission, context, channel, session_id, extra)
        return [one] if one is not None else []
    items = _evaluate(spec, emission.for_each, context)
    if is_blank(items):
        return []
    if isinstance(items, str | Mapping) or not isinstance(items, Iterable):
        message = f"for_each must give a list, got {items!r}"
        fault = request_fault(
            FilterValueError(message, items),
            emission.for_each.body_reads,
            context["body"],
            spec_path=emission.for_each.path,
        )
        if fault is not None:
            raise _unreadable(fault)
        raise _spec_bug(spec, emission.for_each.path, message)
    emitted = []
    for index, item in enumerate(items):
        each = {**context, "item": item, "index": index}
        one = _emit_one(spec, emission, each, channel, session_id, extra)
        if one is not None:
            emitted.append(one)
    return emitted


def _check_keys_differ(spec: ProviderSpec, event: EventSpec, events: tuple[CallEvent, ...]) -> None:
    # Two events of one request with one key: the workflow would drop the second as a redelivery.
    seen: set[str] = set()
    for emitted in events:
        if emitted.idempotency_key in seen:
            raise _spec_bug(
                spec,
                event.path,
                f"two events of one request share the idempotency key {emitted.idempotency_key!r}",
            )
        seen.add(emitted.idempotency_key)


def _emit_one(
    spec: ProviderSpec,
    emission: EmissionSpec,
    context: Mapping[str, Any],
    channel: ChannelContext,
    session_id: str,
    extra: dict[str, str],
) -> CallEvent | None:
    if emission.when is not None and not _truthy(spec, emission.when, context):
        return None
    try:
        raw = emission.values.evaluate(context)
    except EvaluationError as exc:
        raise _failure(spec, exc, context) from exc
    values: dict[str, Any] = {}
    for name, expression in emission.fields:
        try:
            values[name] = coerce_field(name, raw[name])
        except Unstorable as exc:  # the PBX's number, not the spec, is at fault
            field_name = _field_read(expression)
            raise RequestRejected(422, f"{field_name or name}: {exc}", field=field_name) from exc
        except CoercionError as exc:
            reads, place = expression.body_reads, expression.path
            fault = request_fault(exc, reads, context["body"], spec_path=place, value=raw[name])
            if fault is not None:
                raise _unreadable(fault) from exc
            raise _spec_bug(spec, expression.path, str(exc)) from exc
    key_context = {**context, "kind": emission.kind, "mapped": values}
    key = _render(spec, emission.idempotency_key, key_context).strip()
    if not key:
        template = emission.idempotency_key
        missing = blank_field(template.body_reads, context["body"])
        if missing is not None:  # the request lacks what tells its events apart
            raise RequestRejected(
                422, f"{missing}: missing (read by {template.path})", field=missing
            )
        raise _spec_bug(spec, template.path, "idempotency key rendered empty")
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
    for prefix in event.extra_strip_prefixes:
        # `data_utm_source` → `utm_source`, over a parameter sent under that name
        for name in [k for k in result if k.startswith(prefix) and len(k) > len(prefix)]:
            result[name[len(prefix) :]] = result.pop(name)
    return result
