"""Temporal as the API sees it: a client while Temporal answers, and at once `TemporalUnavailable`
while it does not, so a PBX gets its 503 in about a second, not after the client's own retries.

A circuit: the API starts (and answers 503) while Temporal is down; the first failure to connect,
or a call that hangs while Temporal's health check fails, opens it; while it is open, one
background task checks Temporal's health, with backoff, and closes it when Temporal answers again.
No request waits for a reconnection, nor triggers one.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

__all__ = ["TemporalGateway", "TemporalUnavailable"]

log = logging.getLogger("pbxhub.temporal")

T = TypeVar("T")


class TemporalUnavailable(RuntimeError):
    """Temporal could not be reached or did not acknowledge in time."""


class TemporalGateway:
    """`connect_timeout`: how long a first connection, or a health check, may take.
    `check_after`: how long a call may run before Temporal's health is checked beside it (a call
    to a Temporal that is gone would otherwise wait out the client's retries, up to ~10 s).
    `retry_interval` .. `max_retry_interval`: the background checks' backoff while it is down."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[Client]],
        *,
        connect_timeout: timedelta = timedelta(seconds=1),
        check_after: timedelta = timedelta(seconds=0.5),
        retry_interval: timedelta = timedelta(seconds=0.5),
        max_retry_interval: timedelta = timedelta(seconds=5),
    ) -> None:
        self._connect = connect
        self._connect_timeout = connect_timeout.total_seconds()
        self._check_after = check_after.total_seconds()
        self._retry_interval = retry_interval.total_seconds()
        self._max_retry_interval = max_retry_interval.total_seconds()
        self._client: Client | None = None
        self._lock = asyncio.Lock()
        # Open circuit: why Temporal is unavailable; None while it answers.
        self._down: str | None = None
        self._down_since = 0.0
        self._recovery: asyncio.Task[None] | None = None

    @classmethod
    def for_client(cls, client: Client, **options: timedelta) -> TemporalGateway:
        async def connect() -> Client:
            return client

        gateway = cls(connect, **options)
        gateway._client = client
        return gateway

    @classmethod
    def for_address(cls, address: str, *, namespace: str, **options: timedelta) -> TemporalGateway:
        async def connect() -> Client:
            return await Client.connect(address, namespace=namespace)

        return cls(connect, **options)

    @property
    def available(self) -> bool:
        """False while Temporal is known to be down (the circuit is open)."""
        return self._down is None

    async def client(self) -> Client:
        """The client; TemporalUnavailable at once while Temporal is known to be down, or when
        the first connection fails within `connect_timeout`."""
        self._raise_if_down()
        if self._client is not None:
            return self._client
        async with self._lock:
            self._raise_if_down()
            if self._client is None:
                try:
                    self._client = await self._connect_once()
                except Exception as error:  # any failure to connect means: not now
                    self._open(f"cannot connect to Temporal: {error}")
                    raise TemporalUnavailable(self._down) from error
            return self._client

    async def call(self, operation: Callable[[Client], Awaitable[T]]) -> T:
        """`operation` run with the client. When it is still running after `check_after`,
        Temporal's health is checked beside it: if Temporal does not answer, the operation is
        abandoned and TemporalUnavailable raised (whether Temporal got it is unknown: a retried
        request is absorbed by the idempotency keys). A Temporal that answers but is slow is
        waited for, up to the operation's own RPC timeout."""
        client = await self.client()
        running = asyncio.ensure_future(operation(client))
        try:
            done, _ = await asyncio.wait({running}, timeout=self._check_after)
            if not done:
                problem = await self._health_problem(client)
                if problem is not None:
                    self._open(problem)
                    raise TemporalUnavailable(problem)
            return await running
        except RPCError as error:
            if error.status == RPCStatusCode.UNAVAILABLE:
                self._open(f"Temporal did not answer: {error.message}")
                raise TemporalUnavailable(self._down) from error
            raise
        finally:
            running.cancel()  # a no-op once it is done

    async def health_problem(self) -> str | None:
        """None when Temporal answers its health check now; else why not (for /readyz)."""
        try:
            client = await self.client()
        except TemporalUnavailable as error:
            return str(error)
        problem = await self._health_problem(client)
        if problem is not None:
            self._open(problem)
        return problem

    async def aclose(self) -> None:
        """Stop checking in the background (the app is shutting down)."""
        if self._recovery is not None:
            self._recovery.cancel()
            await asyncio.gather(self._recovery, return_exceptions=True)
            self._recovery = None

    def _raise_if_down(self) -> None:
        if self._down is not None:
            self._ensure_recovery()
            since = time.monotonic() - self._down_since
            raise TemporalUnavailable(f"{self._down} ({since:.0f} s ago; retrying in background)")

    def _open(self, reason: str) -> None:
        if self._down is None:
            log.error("Temporal unavailable, answering 503 until it is back: %s", reason)
            self._down, self._down_since = reason, time.monotonic()
        self._ensure_recovery()

    def _ensure_recovery(self) -> None:
        # one background task per event loop (a test may run several loops one after another)
        loop = asyncio.get_running_loop()
        task = self._recovery
        if task is None or task.done() or task.get_loop() is not loop:
            self._recovery = loop.create_task(
                _keep_recovering(weakref.ref(self), self._retry_interval), name="temporal-recovery"
            )

    async def _recover(self) -> bool:
        """One background check: True when Temporal answers again (the circuit is closed)."""
        try:
            client = self._client or await self._connect_once()
        except Exception as error:  # still down
            log.debug("Temporal still unreachable: %s", error)
            return False
        self._client = client
        if await self._health_problem(client) is not None:
            return False
        downtime = time.monotonic() - self._down_since
        log.warning("Temporal is back after %.1f s (%s)", downtime, self._down)
        self._down = None
        return True

    async def _connect_once(self) -> Client:
        return await asyncio.wait_for(self._connect(), self._connect_timeout)

    async def _health_problem(self, client: Client) -> str | None:
        """None when Temporal answers its health check within `connect_timeout`; else why not."""
        try:
            healthy = await asyncio.wait_for(
                client.service_client.check_health(
                    timeout=timedelta(seconds=self._connect_timeout)
                ),
                self._connect_timeout * 2,
            )
        except Exception as error:  # unreachable, refused, timed out: all mean down
            return f"Temporal's health check failed: {type(error).__name__}: {error}"
        return None if healthy else "Temporal reports itself not serving"


async def _keep_recovering(gateway: weakref.ref[TemporalGateway], interval: float) -> None:
    # Holds the gateway only weakly between checks: a gateway nobody uses any more (an app
    # that is gone) is collected, and its checks end with it.
    while True:
        await asyncio.sleep(interval)
        current = gateway()
        if current is None or current.available or await current._recover():
            return
        interval = min(interval * 2, current._max_retry_interval)
        del current
