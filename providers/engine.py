"""The provider engine: one PBX request in, canonical call events and the PBX's reply out.

Pure: no store, no web framework, no Temporal, no network. Everything is compiled at load
(providers.spec_compiler); here a request is only parsed, recognised, checked and validated, then
mapped to its events (providers.mapping); a refusal says whose fault it is (providers.rejections).
A reply that needs data from the CRM is rendered in two steps: `prepare_request` says what to
look up (providers.lookups), the caller reads it, `finish_request` renders the reply with it;
`fallback_outcome` is the reply for when the caller could not read it in time."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from jsonschema.exceptions import ValidationError, best_match

from contracts.events import CallEvent
from providers.auth import AuthFailure, SourceIpAllowlist, check_auth
from providers.bodies import BodyError, decode_json_fields, parse_body
from providers.canonical import event_to_json
from providers.mapping import map_request
from providers.rejections import (
    EndpointNotFound,
    Reply,
    RequestRejected,
    evaluate,
    holds,
    render,
    template_failure,
)
from providers.signatures import DEFAULT_MAX_AGE_SECONDS
from providers.spec import EndpointSpec, EventSpec, ProviderSpec, ReplySpec, format_path
from providers.template_filters import as_str
from providers.templating import EvaluationError

__all__ = [
    "CHANNEL_SOURCES_SETTING",
    "ChannelContext",
    "IncomingRequest",
    "Outcome",
    "PreparedRequest",
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
        body = render(spec, declared.body, context)
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
    session_id, events = map_request(spec, event, context, channel.channel_id)
    needed = {
        kind: MappingProxyType(
            {name: evaluate(spec, expression, context) for name, expression in arguments}
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
            body_text = render(prepared.spec, reply_spec.body, reply_context)
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
        elif holds(spec, event.match, context):
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
        raise template_failure(spec, exc, context) from exc


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
