"""PBX webhooks: `/hooks/{provider}/{channel_key}/{endpoint path}` — authenticate, map, signal,
reply. Every refusal, down to a URL that is no webhook at all, is logged with its reason and
answered with the JSON error documented in docs/providers/README.md.

Knows no provider by name: the provider's spec says everything.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Final

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.convertors import Convertor, register_url_convertor
from temporalio.service import RPCError

from api.acceptance import accept_request
from api.deps import ContextDep
from api.ingress import (
    BodyTooLarge,
    StoreUnavailable,
    channel_context,
    client_host,
    mask_key,
    read_body,
    read_store,
)
from api.log_context import bind_call, call_scope
from api.log_text import printable
from api.metrics import UNKNOWN, webhook_outcome
from api.temporal import TemporalUnavailable
from providers.endpoint_paths import HOOKS_PREFIX
from providers.engine import IncomingRequest, prepare_request
from providers.rejections import EndpointNotFound, MappingError, RequestRejected
from workflows.starter import call_workflow_id

log = logging.getLogger("pbxhub.ingress")
router = APIRouter(tags=["webhooks"])


class _AnyPath(Convertor[str]):
    """Starlette's `path` convertor, line breaks included: its `.*` stops at one (`%0A` in the
    URL), so such a path would match no route and get a framework 404 that leaves no trace."""

    regex = "(?s:.*)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("any_path", _AnyPath())


class HookError(BaseModel):
    """What every refused webhook gets back (unless its endpoint declares `rejections`)."""

    error: str
    # the body field at fault, when one is
    field: str | None = None
    # 501 only: the place in the provider's spec that failed
    at: str | None = None


_ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": HookError, "description": text}
    for status, text in {
        400: "The body cannot be read as the endpoint's format.",
        401: "A token or signature is missing or wrong.",
        403: "The sender's address is not allowed.",
        404: "No such provider, endpoint path or channel key.",
        405: "The endpoint does not take this method.",
        413: "The body is over the size limit.",
        415: "The body's content type is not the endpoint's.",
        422: "The request is none of the endpoint's events, fails its schema, or carries a "
        "value its mapping cannot read; `field` names the body field.",
        501: "The provider's spec fails on this request (a spec bug, logged with its place in "
        "the spec); the PBX should retry once the spec is fixed.",
        503: "Temporal or the store is unavailable; retry later.",
    }.items()
}
# A body up to this size is prepared on the event loop: its work (tens of µs, linear in the body
# since the bounded readers) costs less than the hop to the webhook worker thread, and a PBX
# holding a caller on a routing question does not queue behind a large body being read there.
INLINE_BODY_BYTES: Final = 2048
_METHODS = ["GET", "POST", "PUT"]
# Every other method is answered by the endpoint (405 naming the methods it takes), not by the
# framework: a framework 405 or 404 would leave no trace of what a PBX tried.
_OTHER_METHODS = ["DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE"]


class _DeclaredRejection(Response):
    """A refusal in the endpoint's own words (its spec's `rejections`), whatever its status."""


async def receive_webhook(
    provider: str, channel_key: str, endpoint: str, request: Request, context: ContextDep
) -> Response:
    started = time.perf_counter()
    with call_scope():
        response = await _receive(provider, channel_key, endpoint, request, context)
    # labels only from the specs: a URL cannot add label values (Prometheus' memory)
    spec = context.specs.get(provider)
    ep = spec.endpoint_at(endpoint) if spec is not None else None
    status = response.status_code
    context.metrics.webhook_answered(
        spec.id if spec is not None else UNKNOWN,
        ep.name if ep is not None else UNKNOWN,
        webhook_outcome(status, refused=isinstance(response, _DeclaredRejection)),
        status,
        time.perf_counter() - started,
    )
    return response


async def _receive(
    provider: str, channel_key: str, endpoint: str, request: Request, context: ContextDep
) -> Response:
    where = f"{printable(provider)}/{mask_key(channel_key)}/{printable(endpoint)}"
    spec = context.specs.get(provider)
    if spec is None:
        return _not_found(where, "unknown provider")
    # The spec alone says which paths exist: checked before the key, so a wrong path says
    # nothing about whether the key is right.
    ep = spec.endpoint_at(endpoint)
    if ep is None:
        known = ", ".join(sorted(e.url_path for e in spec.endpoints.values()))
        return _not_found(where, f"no endpoint of {spec.id} at this path (its paths: {known})")
    try:
        channel = await read_store(context.store.get_channel_by_key, channel_key)
    except StoreUnavailable as error:
        log.error("%s for %s", error, where)
        content = {"error": "store unavailable, retry later", "field": None}
        return JSONResponse(content, status_code=503)
    # A key of another provider's channel is as unknown as no key at all.
    if channel is None or channel.provider != provider:
        return _not_found(where, "unknown channel key")
    bind_call(channel_id=channel.id)
    try:
        body = await read_body(request, context.max_body_bytes)
    except BodyTooLarge:
        content = {"error": f"body over {context.max_body_bytes} bytes", "field": None}
        return _reject(413, content, where, "too large")

    incoming = IncomingRequest(
        method=request.method,
        headers={k.lower(): v for k, v in request.headers.items()},
        query=dict(request.query_params),
        body=body,
        client_host=client_host(request, context),
        received_at=datetime.now(UTC),
    )
    arguments = (
        spec,
        ep.name,
        incoming,
        channel_context(channel, max_call_seconds=context.call_settings.max_call_seconds),
    )
    try:
        if len(body) <= INLINE_BODY_BYTES:
            prepared = prepare_request(*arguments)
        else:
            # parse, auth, validate and map on a worker thread: /healthz and other PBXs go on
            prepared = await anyio.to_thread.run_sync(
                prepare_request, *arguments, limiter=context.webhook_workers
            )
    except EndpointNotFound:
        return _not_found(where, "unknown endpoint")
    except RequestRejected as rejected:
        return _refused(where, rejected)
    except MappingError as error:
        return _spec_error(where, error)
    prefix = context.call_settings.workflow_id_prefix
    workflow_id = call_workflow_id(channel.id, prepared.session_id, prefix=prefix)
    bind_call(session_id=prepared.session_id, workflow_id=workflow_id)

    try:
        # events durable first; a routing reply reads the CRM under its deadline
        outcome = await accept_request(context, channel, prepared, where=where)
    except (TemporalUnavailable, RPCError, TimeoutError) as error:
        # Not durable, so not accepted: the PBX must retry.
        log.error("event from %s not accepted, Temporal unavailable: %s", where, error)
        content = {"error": "temporarily unavailable, retry later", "field": None}
        return JSONResponse(content, status_code=503)
    except RequestRejected as rejected:  # the reply reads a value it cannot; events are kept
        return _refused(where, rejected, delivered=len(prepared.events))
    except MappingError as error:
        return _spec_error(where, error, delivered=len(prepared.events))
    log.info(
        "accepted %s (session %s) from %s: %d event(s)",
        outcome.event_name,
        prepared.session_id,
        where,
        len(outcome.events),
    )
    reply = outcome.reply
    return Response(reply.body, status_code=reply.status, media_type=reply.content_type)


_WEBHOOK_PATH = HOOKS_PREFIX + "/{provider}/{channel_key}/{endpoint:any_path}"
# One route per method a spec may declare, each its own OpenAPI operation (an operation id is
# unique per method; one route for several would repeat it).
for _method in _METHODS:
    router.add_api_route(
        _WEBHOOK_PATH,
        receive_webhook,
        methods=[_method],
        operation_id=f"receive_webhook_{_method.lower()}",
        summary=f"A PBX webhook ({_method})",
        description="`endpoint` is the endpoint's path in the provider's spec (one or more "
        "segments, by default the endpoint's name).",
        responses=_ERRORS,
    )
# The same handler for the methods no endpoint takes: the engine answers 405 and logs it.
router.add_api_route(
    _WEBHOOK_PATH, receive_webhook, methods=_OTHER_METHODS, include_in_schema=False
)


@router.api_route(HOOKS_PREFIX, methods=_METHODS + _OTHER_METHODS, include_in_schema=False)
@router.api_route(
    HOOKS_PREFIX + "/{rest:any_path}", methods=_METHODS + _OTHER_METHODS, include_in_schema=False
)
async def not_a_webhook(request: Request) -> JSONResponse:
    """Anything under /hooks that is not /hooks/{provider}/{channel_key}/{endpoint path}: a
    PBX given a base URL without its endpoint, a typo. Logged, never a silent framework 404."""
    parts = request.url.path.split("/")[2:]  # "", "hooks", provider, key, ...
    if len(parts) > 1:
        parts[1] = mask_key(parts[1])
    where = "/".join(printable(part) for part in parts) or "(none)"
    return _not_found(where, "not a webhook URL: /hooks/{provider}/{channel_key}/{endpoint path}")


def _refused(where: str, rejected: RequestRejected, *, delivered: int = 0) -> Response:
    reason = f"{rejected.field}: {rejected.message}"
    if delivered:
        reason += f" ({delivered} event(s) were accepted before the reply failed)"
    if rejected.reply is not None:  # the endpoint's own wording (its spec's `rejections`)
        log.warning("rejected %s with %d: %s", where, rejected.status, printable(reason, 1000))
        declared = rejected.reply
        return _DeclaredRejection(declared.body, declared.status, media_type=declared.content_type)
    content = {"error": rejected.message, "field": rejected.field}
    return _reject(rejected.status, content, where, reason)


def _spec_error(where: str, error: MappingError, *, delivered: int = 0) -> JSONResponse:
    # The spec fails on a request that is not at fault: every retry fails alike until an
    # operator fixes the spec, and a PBX drops an event it got a 4xx for. A 5xx keeps the PBX
    # retrying so a fixed spec still gets the event; 501 ("cannot handle this request yet"), not
    # 500 (a crash) nor 503 (Temporal or the store down), so operators can tell the three apart.
    log.error(
        "spec error in %s at %s (endpoint %s, event %s) for %s: %s%s",
        error.file or error.spec_id,
        error.path,
        error.endpoint,
        error.event,
        where,
        printable(error.message, 1000),
        f"; {delivered} event(s) were accepted before the reply failed" if delivered else "",
    )
    content = {
        "error": "the provider spec cannot handle this request yet; retry later",
        "field": None,
        "at": error.path,
    }
    return JSONResponse(content, status_code=501)


def _not_found(where: str, reason: str) -> JSONResponse:
    return _reject(404, {"error": f"not found: {reason}", "field": None}, where, reason)


def _reject(status: int, content: Mapping[str, object], where: str, reason: str) -> JSONResponse:
    log.warning("rejected %s with %d: %s", where, status, printable(reason, 1000))
    return JSONResponse(content, status_code=status)
