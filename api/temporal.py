"""A lazily connected Temporal client: the API starts, and answers 503, while Temporal is down."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

from temporalio.client import Client


class TemporalUnavailable(RuntimeError):
    """Temporal could not be reached or did not acknowledge in time."""


class TemporalGateway:
    def __init__(
        self,
        connect: Callable[[], Awaitable[Client]],
        *,
        connect_timeout: timedelta = timedelta(seconds=5),
    ) -> None:
        self._connect = connect
        self._connect_timeout = connect_timeout
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def for_client(cls, client: Client) -> TemporalGateway:
        async def connect() -> Client:
            return client

        gateway = cls(connect)
        gateway._client = client
        return gateway

    @classmethod
    def for_address(cls, address: str, *, namespace: str) -> TemporalGateway:
        async def connect() -> Client:
            return await Client.connect(address, namespace=namespace)

        return cls(connect)

    async def client(self) -> Client:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                try:
                    self._client = await asyncio.wait_for(
                        self._connect(), self._connect_timeout.total_seconds()
                    )
                except Exception as error:  # any failure to connect means: not now
                    raise TemporalUnavailable(f"cannot connect to Temporal: {error}") from error
            return self._client
