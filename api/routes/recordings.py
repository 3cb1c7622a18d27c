"""Recordings kept by pbxhub: streamed by id (or by the SHA-256 of their content, the telephony
API's links) with HTTP Range support; a call's recording wherever its channel keeps it; and how
recordings fared, counted (admin only).

Playing takes the admin key or an employee's token: an employee hears a call's recording when
they see the contact or the task the call hangs on (and, hung as a hidden comment, when they
also hear recordings): `policies.access`. No such recording or call is 404; one that is not
theirs is 403 saying where it hangs (`api.access`); that its file is missing is told only after
that."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Final

import anyio
from fastapi import APIRouter, Header, HTTPException, Path, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel

from api.access import call_for, recording_for
from api.bounds import MAX_ID, StoredId
from api.context import ApiContext
from api.deps import AdminDep, Caller, CallerDep, ContextDep
from api.errors import AUTHENTICATED, errors
from api.pbx_actions import ask_pbx, gives_fresh_links
from api.ranges import ByteRange, RangeNotSatisfiable, requested_range
from contracts.messages import ActionCall, PbxActionInput
from crm import Recording, StoredCall
from providers.actions import RECORDING_LINK
from recordings.policy import recording_link_policy
from recordings.storage import RecordingFiles
from recordings.url_guard import LinkRefused, check_link

# Each route says who may ask: the admin only, or an employee too (CallerDep).
router = APIRouter(prefix="/api/v1/recordings", tags=["recordings"], responses=AUTHENTICATED)
# A call's recording, wherever its channel keeps it.
call_router = APIRouter(prefix="/api/v1/calls", tags=["recordings"], responses=AUTHENTICATED)

# A recording is named by its id or by the SHA-256 of its content (ASCII digits only: "²" is
# a digit to str.isdigit, not to int).
RecordingKey = Annotated[
    str,
    Path(
        pattern=f"^([0-9]{{1,{len(str(MAX_ID))}}}|[0-9a-fA-F]{{64}})$",
        description="The recording's id, or the SHA-256 of its content (64 hex digits)",
        examples=["1"],
    ),
]
# Any audio the PBX recorded, as it was kept (its content type is the file's).
_AUDIO: Final = {"audio/*": {"schema": {"type": "string", "format": "binary"}}}
# A link asked at playback: long enough to listen to a long call, paused.
_PLAYBACK_LINK_SECONDS: Final = 3 * 60 * 60
# The PBX's API answers in seconds; a person is waiting.
_ANSWER_TIMEOUT_SECONDS: Final = 30.0


class RecordingOutcomeOut(BaseModel):
    """How many calls' recordings ended one way: kept, linked, ... or refused/failed and why."""

    status: str
    error_code: str | None
    calls: int


@router.get(
    "/outcomes",
    response_model=list[RecordingOutcomeOut],
    summary="Calls by what became of their recording (refused and failed links counted)",
    dependencies=[AdminDep],
)
def recording_outcomes(
    context: ContextDep, channel_id: StoredId | None = None
) -> list[RecordingOutcomeOut]:
    rows = context.store.count_recording_outcomes(channel_id=channel_id)
    return [RecordingOutcomeOut(status=s, error_code=c, calls=n) for s, c, n in rows]


_PLAYBACK_ANSWERS: Final[dict[int | str, dict[str, Any]]] = {
    200: {"description": "The whole recording", "content": _AUDIO},
    206: {"description": "The part the Range header asked for", "content": _AUDIO},
    416: {"description": "The Range asked for is not in the file (Content-Range: bytes */size)"},
    **errors(404),
}


# GET and HEAD as two operations, each with its own operation id in the OpenAPI.
@router.head(
    "/{key}",
    summary="A recording's size and type, as its GET would send it",
    response_class=Response,
    responses=_PLAYBACK_ANSWERS,
)
@router.get(
    "/{key}",
    summary="A recording's audio, by id or by SHA-256, with HTTP Range support",
    response_class=Response,
    responses=_PLAYBACK_ANSWERS,
)
async def get_recording(
    key: RecordingKey,
    request: Request,
    context: ContextDep,
    caller: CallerDep,
    range_header: Annotated[str | None, Header(alias="range")] = None,
    if_range: Annotated[str | None, Header()] = None,
) -> Response:
    if len(key) <= len(str(MAX_ID)) and int(key) > MAX_ID:  # a PostgreSQL INTEGER or nothing
        raise HTTPException(422, detail=f"key: an id is at most {MAX_ID}")
    recording = await anyio.to_thread.run_sync(recording_for, caller, context.store, key)
    store = context.recording_store(recording.storage)
    if store is None or not await anyio.to_thread.run_sync(store.exists, recording.location):
        raise HTTPException(404, detail="the recording's file is not in storage")
    return _stream(store, recording, range_header, if_range, head=request.method == "HEAD")


@call_router.get(
    "/{call_id}/recording",
    summary="A call's recording: the kept file, or the PBX's link",
    response_class=Response,
    responses={
        307: {"description": "To the kept file, or to a link of the PBX's (Location)"},
        **errors(404, 409, 502, 503),
    },
)
async def get_call_recording(call_id: StoredId, context: ContextDep, caller: CallerDep) -> Response:
    call = await anyio.to_thread.run_sync(call_for, caller, context.store, call_id)
    if call.recordings:
        return RedirectResponse(f"/api/v1/recordings/{call.recordings[-1].id}", status_code=307)
    if call.recording_status == "linked" and call.recording_url:
        return await _pbx_link(context, call, call.recording_url)
    if call.recording_status == "authorized_link":
        return await _fresh_link(context, call, caller)
    reason = call.recording_error or {
        None: "the call has no recording" if not call.recording_url else "not kept yet",
        "not_kept": "the channel keeps no recordings",
    }.get(call.recording_status, f"the recording was {call.recording_status}")
    raise HTTPException(404, detail=reason)


async def _pbx_link(context: ApiContext, call: StoredCall, link: str) -> Response:
    """keep_link: the player is sent to the PBX's link (pbxhub itself sends nothing there), only
    when it is on the provider's or the channel's recording hosts: a link a webhook supplied
    must not send people anywhere else."""
    channel = await anyio.to_thread.run_sync(context.store.get_channel, call.channel_id)
    if channel is None:
        raise HTTPException(404, detail="the call's channel no longer exists")
    spec = context.specs.get(channel.provider)
    try:
        check_link(link, recording_link_policy(channel.settings, spec))
    except LinkRefused as refused:
        raise HTTPException(
            409, detail=f"the recording's link is not one players are sent to: {refused.reason}"
        ) from None
    return RedirectResponse(link, status_code=307)


async def _fresh_link(context: ApiContext, call: StoredCall, caller: Caller) -> Response:
    """keep_authorized_link: the PBX's API is asked for a link that works now (its spec's
    recording_link action), and the player is sent there; pbxhub never fetches it itself."""
    channel = await anyio.to_thread.run_sync(context.store.get_channel, call.channel_id)
    if channel is None:
        raise HTTPException(404, detail="the call's channel no longer exists")
    spec = context.specs.get(channel.provider)
    if not gives_fresh_links(spec):
        raise HTTPException(
            409,
            detail=(
                f"this channel keeps links that need the PBX's authorisation, but the "
                f"{channel.provider} spec has no recording_link action to ask for one: choose "
                "another recordings mode for the channel"
            ),
        )
    data = PbxActionInput(
        channel_id=channel.id,
        action=RECORDING_LINK,
        call=ActionCall(
            session_id=call.session_id,
            started_at=call.started_at,
            recording_url=call.recording_url,
            extra=dict(call.extra),
        ),
        lifetime_seconds=_PLAYBACK_LINK_SECONDS,
    )
    result = await ask_pbx(context, data, timeout=_ANSWER_TIMEOUT_SECONDS)
    if result.ok and result.link:
        try:
            # the PBX's API, like its webhooks, sends players only to its recording hosts
            check_link(result.link, recording_link_policy(channel.settings, spec))
        except LinkRefused as refused:
            raise HTTPException(
                502, detail=f"the PBX gave a link players are not sent to: {refused.reason}"
            ) from None
        # a fresh link each time: nobody may cache it
        return RedirectResponse(result.link, status_code=307, headers={"Cache-Control": "no-store"})
    if not result.sent:
        # the channel lacks what the request needs (the PBX's address, its keys)
        raise HTTPException(409, detail=result.message or "the PBX cannot be asked")
    # the spec's message may quote the PBX's answer: the admin reads it, employees pbxhub's words
    said = (result.message if caller.is_admin else None) or result.answer
    if result.retry:
        raise HTTPException(
            503, detail=f"the PBX has no recording yet: {said}", headers={"Retry-After": "30"}
        )
    raise HTTPException(502, detail=f"the PBX gave no recording link: {said}")


def _stream(
    store: RecordingFiles,
    recording: Recording,
    range_header: str | None,
    if_range: str | None,
    *,
    head: bool = False,
) -> Response:
    etag = f'"{recording.sha256}"'
    extension = recording.location.rsplit(".", 1)[-1] if "." in recording.location else "bin"
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag,
        # the content never changes: it is named by its checksum
        "Cache-Control": "private, max-age=86400, immutable",
        "Content-Disposition": f'inline; filename="{recording.sha256}.{extension}"',
    }
    try:
        part = requested_range(range_header, recording.size, if_range=if_range, etag=etag)
    except RangeNotSatisfiable:
        return Response(
            status_code=416, headers={**headers, "Content-Range": f"bytes */{recording.size}"}
        )
    whole = part is None
    if part is None:
        part = ByteRange(0, recording.size - 1, recording.size)
    else:
        headers["Content-Range"] = part.content_range
    headers["Content-Length"] = str(part.length)
    if head:
        return Response(
            status_code=200 if whole else 206, media_type=recording.content_type, headers=headers
        )
    return StreamingResponse(
        _chunks(store, recording.location, part),
        status_code=200 if whole else 206,
        media_type=recording.content_type,
        headers=headers,
    )


def _chunks(store: RecordingFiles, location: str, part: ByteRange) -> Iterator[bytes]:
    if part.length <= 0:
        return iter(())
    return store.read(location, part.start, part.end)
