"""The pages every signed-in person has: the calls they may hear, with their recordings. Rights
are the API's own (`api.access`, the store's `heard_by`), read in a worker thread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Final

import anyio
from fastapi import Depends, Header, Query, Request, status
from fastapi.responses import RedirectResponse, Response

from api.access import call_for
from api.bounds import Offset, StoredId
from api.deps import ContextDep
from api.models import CallOut
from api.routes.calls import CallQuery, Names, call_out, read_names
from api.routes.recordings import RecordingKey, get_call_recording, get_recording
from web.page_route import page_router
from web.sessions import ViewerDep
from web.templates import page

router = page_router()

PAGE_SIZE: Final = 50


@dataclass(frozen=True)
class ShownCall:
    """A call as a page lists it: the API's view of it, and where its recording plays."""

    call: CallOut
    employee_name: str | None
    contact_name: str | None
    player_url: str | None


def shown_calls(calls: list[CallOut], names: Names) -> list[ShownCall]:
    return [
        ShownCall(
            call=call,
            employee_name=names.employees.get(call.employee_id) if call.employee_id else None,
            contact_name=names.contacts.get(call.contact_id) if call.contact_id else None,
            # the API's playback paths, served to a signed-in browser without `/api/v1`
            player_url=call.recording.url.removeprefix("/api/v1")
            if call.recording is not None and call.recording.url
            else None,
        )
        for call in calls
    ]


@router.get("/calls")
async def calls_page(
    context: ContextDep,
    viewer: ViewerDep,
    query: Annotated[CallQuery, Depends()],
    kind: Annotated[str | None, Query(pattern="^(call|missed)$")] = None,
    offset: Offset = 0,
) -> Response:
    store = context.store

    def read() -> tuple[list[ShownCall], int]:
        calls, total = store.page_calls(
            kind=kind,
            limit=PAGE_SIZE,
            offset=offset,
            heard_by=viewer.employee,
            **query.query,
        )
        names = read_names(store, calls)
        return shown_calls([call_out(call, names) for call in calls], names), total

    calls, total = await anyio.to_thread.run_sync(read)
    return page(
        "calls.html",
        viewer=viewer,
        calls=calls,
        total=total,
        offset=offset,
        page_size=PAGE_SIZE,
        kind=kind,
    )


@router.get("/recordings/{key}")
async def recording_audio(
    key: RecordingKey,
    request: Request,
    context: ContextDep,
    viewer: ViewerDep,
    range_header: Annotated[str | None, Header(alias="range")] = None,
    if_range: Annotated[str | None, Header()] = None,
) -> Response:
    """The API's playback (its rights, Range support) for a signed-in browser."""
    return await get_recording(key, request, context, viewer.caller, range_header, if_range)


@router.get("/calls/{call_id}/recording")
async def call_recording(call_id: StoredId, context: ContextDep, viewer: ViewerDep) -> Response:
    call = await anyio.to_thread.run_sync(call_for, viewer.caller, context.store, call_id)
    if call.recordings:
        return RedirectResponse(
            f"/recordings/{call.recordings[-1].id}", status_code=status.HTTP_307_TEMPORARY_REDIRECT
        )
    return await get_call_recording(call_id, context, viewer.caller)
