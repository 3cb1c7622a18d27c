"""When a webhook is accepted: its events durable in Temporal first, then its reply (DESIGN.md
principle 3); except a routing question, which the PBX holds a caller on and which is answered
within the routing deadline whatever Temporal does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from functools import partial

from api.context import ApiContext
from api.pbx_routing import reply_outcome
from crm import Channel
from providers.engine import Outcome, PreparedRequest
from workflows.starter import deliver_event

__all__ = ["accept_request", "deliver_events"]

log = logging.getLogger("pbxhub.ingress")

# Deliveries still running after their routing reply went out: kept referenced until done.
_LATE_DELIVERIES: set[asyncio.Task[None]] = set()


async def accept_request(
    context: ApiContext, channel: Channel, prepared: PreparedRequest, *, where: str
) -> Outcome:
    """The request's outcome once it is accepted.

    Raises what `deliver_events` raises (TemporalUnavailable, RPCError, TimeoutError: the PBX
    must retry) unless the request is a routing question, and MappingError when its reply cannot
    be rendered (a spec bug).
    """
    if not prepared.lookups_needed:
        await deliver_events(context, prepared)
        return await reply_outcome(context, channel, prepared, where=where)
    # A routing question (it needs lookups: UIS interactive, Binotel apiCallSettings, Zadarma
    # NOTIFY_START): the PBX holds the caller until it has an answer and does not retry one, so
    # the answer never waits for Temporal beyond the routing deadline. Its events (only some
    # routing questions have any) are delivered beside the lookups; when they are not durable by
    # the deadline, the answer goes out anyway and they are logged as not accepted: a call's
    # later notifications, which get 503 and are retried, carry what it needs (a finish
    # without a start is recorded), so a Temporal outage costs the live card its first ring,
    # not the call. Routing itself reads the store, not Temporal: the store's answer stands.
    started = time.monotonic()
    delivery = asyncio.ensure_future(deliver_events(context, prepared))
    try:
        outcome = await reply_outcome(context, channel, prepared, where=where)
        remaining = context.routing_timeout.total_seconds() - (time.monotonic() - started)
        await asyncio.wait({delivery}, timeout=max(remaining, 0))
    finally:
        _follow(delivery, where)
    return outcome


async def deliver_events(context: ApiContext, prepared: PreparedRequest) -> None:
    """Signal each event to its call's workflow; returns once Temporal has them all, raises
    TemporalUnavailable at once while Temporal is down (`api.temporal`)."""
    for event in prepared.events:
        signal = partial(
            deliver_event,
            event=event,
            task_queue=context.task_queue,
            call_settings=context.call_settings,
            rpc_timeout=context.temporal_rpc_timeout,
        )
        await context.temporal.call(signal)


def _follow(delivery: asyncio.Task[None], where: str) -> None:
    """Log the delivery's failure now, or when it ends after the routing answer went out."""
    if delivery.done():
        _report(delivery, where, late=False)
        return
    _LATE_DELIVERIES.add(delivery)
    delivery.add_done_callback(_LATE_DELIVERIES.discard)
    delivery.add_done_callback(lambda task: _report(task, where, late=True))


def _report(delivery: asyncio.Task[None], where: str, *, late: bool) -> None:
    if delivery.cancelled():
        return
    error = delivery.exception()
    if error is not None:
        log.error("event(s) from %s not accepted, routing answered without them: %s", where, error)
    elif late:
        log.warning("event(s) from %s durable only after the routing answer", where)
