"""What both ingresses do alike before a request is theirs — PBX webhooks (`/hooks`) and the
generic call API: read the body within its limit, find the channel in the store, name the
sender's address, check the channel's allowed sources, and mask the channel key in logs.

Each ingress answers a refusal in its own documented shape; what they share is decided here once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, ParamSpec, TypeVar

import anyio
from fastapi import HTTPException, Request
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.datastructures import FormData
from starlette.types import Message

from api.context import ApiContext
from api.proxies import client_address
from crm import Channel
from providers.engine import ChannelContext, check_channel_sources
from providers.signatures import DEFAULT_MAX_AGE_SECONDS

__all__ = [
    "BodyTooLarge",
    "MalformedBody",
    "StoreUnavailable",
    "channel_context",
    "check_sources",
    "client_host",
    "mask_key",
    "read_body",
    "read_multipart",
    "read_store",
]

P = ParamSpec("P")
T = TypeVar("T")

# What a store that cannot be reached raises; anything else is a fault of ours, never "retry".
_STORE_DOWN: Final = (OperationalError, InterfaceError, PoolTimeout, ConnectionError)


class BodyTooLarge(Exception):
    """The body is over `limit` bytes (declared or sent): 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"over {limit} bytes")
        self.limit = limit


class MalformedBody(Exception):
    """A multipart body that cannot be read: 400."""


class StoreUnavailable(Exception):
    """The store did not answer: the sender should retry (503)."""


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused with BodyTooLarge as soon as it is known to exceed `limit`."""
    return await _limited(request, limit).body()


async def read_multipart(
    request: Request, limit: int, *, max_files: int, max_fields: int
) -> FormData:
    """A multipart body's fields and files within `limit` bytes (files spool to disk as Starlette
    does); close the result when done."""
    try:
        return await _limited(request, limit).form(max_files=max_files, max_fields=max_fields)
    except HTTPException as error:  # Starlette's word for a malformed multipart body
        raise MalformedBody(str(error.detail)) from error


def _limited(request: Request, limit: int) -> Request:
    """The request, reading whose body raises BodyTooLarge past `limit` bytes: at once when its
    Content-Length says so, else at the chunk that goes over."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        received += len(message.get("body", b""))
        if received > limit:
            raise BodyTooLarge(limit)
        return message

    return Request(request.scope, receive)


async def read_store(read: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`read` run in a worker thread; StoreUnavailable when the database is down or unreachable
    (any other error is a bug of ours and propagates as one)."""
    try:
        return await anyio.to_thread.run_sync(lambda: read(*args, **kwargs))
    except _STORE_DOWN as error:
        raise StoreUnavailable(f"store unavailable: {type(error).__name__}") from error


def client_host(request: Request, context: ApiContext) -> str | None:
    """The sender's address: the TCP peer, or what our own proxy says in the trusted header."""
    peer = request.client.host if request.client else None
    header = context.trusted_proxy_header
    values = request.headers.getlist(header) if header else []
    return client_address(peer, values, context.trusted_proxies)


def channel_context(
    channel: Channel, *, max_call_seconds: int = DEFAULT_MAX_AGE_SECONDS
) -> ChannelContext:
    """The channel as the provider engine sees it. `settings.secrets` (name → value, e.g. the
    PBX's API secret its signatures are keyed with) reach templates as `channel.secrets` only."""
    return ChannelContext.from_stored(
        channel.id,
        timezone=channel.timezone,
        country=channel.default_country,
        settings=channel.settings,
        max_call_seconds=max_call_seconds,
    )


def check_sources(request: Request, context: ApiContext, channel: Channel) -> None:
    """The channel's `allowed_sources` setting against the sender's address, as the provider
    engine checks it for webhooks; RequestRejected (403) when it is not allowed."""
    check_channel_sources(channel_context(channel), client_host(request, context))


def mask_key(key: str) -> str:
    """A channel key as logs show it: enough to tell channels apart, not to call them."""
    return key[:4] + "…" if len(key) > 4 else "…"
