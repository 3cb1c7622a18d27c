"""Live call cards as server-sent events: `GET /api/v1/cards/stream` for the signed-in employee
(their pages' session cookie, or their API token), resumable with `Last-Event-ID`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Final

from fastapi import APIRouter, Header, HTTPException, Query, Request, Security, status
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.card_bus import CardBus, Subscription
from api.deps import ContextDep
from api.errors import AUTHENTICATED
from api.sessions import find_viewer
from crm import Employee

router = APIRouter(prefix="/api/v1/cards", tags=["cards"], responses=AUTHENTICATED)

_BEARER = HTTPBearer(auto_error=False, description="An employee's token")
# How soon a browser comes back after the stream breaks.
RETRY_MS: Final = 1000


def card_bus(request: Request) -> CardBus:
    bus: CardBus = request.app.state.card_bus
    return bus


def card_reader(
    request: Request,
    context: ContextDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)] = None,
) -> Employee:
    """The employee whose cards these are (sync: FastAPI runs it in a worker thread)."""
    if credentials is not None and credentials.credentials.strip():
        employee = context.store.employee_by_token(credentials.credentials.strip())
        if employee is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail="this bearer token is not an employee's valid token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return employee
    viewer = find_viewer(request, context)
    if viewer is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="sign in, or give an employee's token (Authorization: Bearer)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if viewer.employee is None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, detail="call cards are an employee's; the admin has none"
        )
    return viewer.employee


@router.get(
    "/stream",
    summary="The signed-in employee's live call cards (text/event-stream)",
    response_class=StreamingResponse,
)
async def card_stream(
    request: Request,
    context: ContextDep,
    employee: Annotated[Employee, Security(card_reader)],
    last_event_id: Annotated[
        int | None,
        Header(alias="Last-Event-ID", ge=0, description="Resume after this card update"),
    ] = None,
    after: Annotated[
        int | None, Query(ge=0, description="Resume after this card update (as Last-Event-ID)")
    ] = None,
) -> StreamingResponse:
    bus = card_bus(request)
    subscription = await bus.subscribe(employee.id)
    resume = last_event_id if last_event_id is not None else after
    try:
        backlog = await bus.backlog(employee.id, resume)
    except BaseException:
        bus.unsubscribe(subscription)
        raise
    events = _events(bus, subscription, backlog, context.card_keepalive_seconds)
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _events(
    bus: CardBus, subscription: Subscription, backlog: list, keepalive: float
) -> AsyncIterator[bytes]:
    """The stream: how soon to come back, what was missed, then each update as it comes, and a
    comment now and then so proxies keep the connection open."""
    try:
        yield f"retry: {RETRY_MS}\n\n".encode()
        sent = 0
        for card in backlog:
            sent = max(sent, card.id)
            yield card.frame
        while True:
            try:
                card = await asyncio.wait_for(subscription.queue.get(), keepalive)
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            if card is None:
                return  # fell behind: the browser resumes from its last id
            if card.id > sent:
                sent = card.id
                yield card.frame
    finally:
        bus.unsubscribe(subscription)
