"""PBX webhooks: `/hooks/{provider}/{channel_key}/{endpoint}` — authenticate, map, signal, reply.

Knows no provider by name: the provider's spec says everything.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from temporalio.service import RPCError

from api.context import ApiContext
from api.deps import ContextDep
from api.proxies import client_address
from api.routing import reply_outcome
from api.temporal import TemporalUnavailable
from crm import Channel
from providers.engine import (
    ChannelContext,
    EndpointNotFound,
    IncomingRequest,
    MappingError,
    RequestRejected,
    prepare_request,
)
from providers.events import CallEvent
from workflows.starter import deliver_event

log = logging.getLogger("pbxhub.ingress")
router = APIRouter(tags=["webhooks"])

NOT_FOUND = {"error": "not found"}


class BodyTooLarge(Exception):
    pass


@router.api_route(
    "/hooks/{provider}/{channel_key}/{endpoint}",
    methods=["GET", "POST", "PUT"],
    summary="A PBX webhook",
)
async def receive_webhook(
    provider: str, channel_key: str, endpoint: str, request: Request, context: ContextDep
) -> Response:
    where = f"{provider}/{_mask(channel_key)}/{endpoint}"
    spec = context.specs.get(provider)
    if spec is None:
        return _reject(404, NOT_FOUND, where, "unknown provider")
    try:
        channel = await anyio.to_thread.run_sync(context.store.get_channel_by_key, channel_key)
    except Exception:
        log.exception("store unavailable for %s", where)
        return JSONResponse({"error": "store unavailable, retry later"}, status_code=503)
    # A key of another provider's channel is as unknown as no key at all.
    if channel is None or channel.provider != provider:
        return _reject(404, NOT_FOUND, where, "unknown channel key")
    try:
        body = await _read_body(request, context.max_body_bytes)
    except BodyTooLarge:
        return _reject(
            413, {"error": f"body over {context.max_body_bytes} bytes"}, where, "too large"
        )

    incoming = IncomingRequest(
        method=request.method,
        headers={k.lower(): v for k, v in request.headers.items()},
        query=dict(request.query_params),
        body=body,
        client_host=_client_host(request, context),
        received_at=datetime.now(UTC),
    )
    try:
        # parse, auth, validate and map on a worker thread: /healthz and other PBXs go on meanwhile
        prepared = await anyio.to_thread.run_sync(
            prepare_request,
            spec,
            endpoint,
            incoming,
            _channel_context(channel),
            limiter=context.webhook_workers,
        )
    except EndpointNotFound:
        return _reject(404, NOT_FOUND, where, "unknown endpoint")
    except RequestRejected as rejected:
        reason = f"{rejected.field}: {rejected.message}"
        if rejected.reply is not None:  # the endpoint's own wording (its spec's `rejections`)
            log.warning("rejected %s with %d: %s", where, rejected.status, reason)
            declared = rejected.reply
            return Response(declared.body, declared.status, media_type=declared.content_type)
        content = {"error": rejected.message, "field": rejected.field}
        return _reject(rejected.status, content, where, reason)
    except MappingError as error:
        return _spec_error(where, error)

    try:
        await _deliver(context, prepared.events)
    except (TemporalUnavailable, RPCError, TimeoutError) as error:
        # Not durable, so not accepted: the PBX must retry.
        log.error("event from %s not accepted, Temporal unavailable: %s", where, error)
        return JSONResponse({"error": "temporarily unavailable, retry later"}, status_code=503)
    try:
        # a reply that needs the CRM (routing) reads it under a deadline, else the fallback
        outcome = await reply_outcome(context, channel, prepared, where=where)
    except MappingError as error:
        return _spec_error(where, error)
    log.info("accepted %s from %s: %d event(s)", outcome.event_name, where, len(outcome.events))
    reply = outcome.reply
    return Response(reply.body, status_code=reply.status, media_type=reply.content_type)


async def _deliver(context: ApiContext, events: tuple[CallEvent, ...]) -> None:
    if not events:
        return
    client = await context.temporal.client()
    for event in events:
        await deliver_event(
            client,
            event,
            task_queue=context.task_queue,
            call_settings=context.call_settings,
            rpc_timeout=context.temporal_rpc_timeout,
        )


def _client_host(request: Request, context: ApiContext) -> str | None:
    """The sender's address: the TCP peer, or what our own proxy says in the trusted header."""
    peer = request.client.host if request.client else None
    header = context.trusted_proxy_header
    values = request.headers.getlist(header) if header else []
    return client_address(peer, values, context.trusted_proxies)


def _spec_error(where: str, error: MappingError) -> JSONResponse:
    # The spec is wrong, not the request: 500 makes the PBX retry once the spec is fixed.
    log.error("spec error for %s at %s: %s", where, error.path, error.message)
    return JSONResponse({"error": "provider spec error", "at": error.path}, status_code=500)


def _channel_context(channel: Channel) -> ChannelContext:
    # `settings.secrets` (name → value, e.g. the PBX's API secret its signatures are keyed with)
    # reaches the spec's templates as `channel.secrets` only, not inside `channel.settings`.
    return ChannelContext.from_stored(
        channel.id,
        timezone=channel.timezone,
        country=channel.default_country,
        settings=channel.settings,
    )


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _reject(status: int, content: Mapping[str, object], where: str, reason: str) -> JSONResponse:
    log.warning("rejected %s with %d: %s", where, status, reason)
    return JSONResponse(content, status_code=status)


def _mask(secret: str) -> str:
    # Channel keys are secrets: logs get enough to tell channels apart, not to call them.
    return secret[:4] + "…" if len(secret) > 4 else "…"
