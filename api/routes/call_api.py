"""The generic call API's route (`telephony_api` channels, seed 002):
`POST /api/v2/telephony/calls/{channel_key}`.

A PBX creates a call (and with it a ticket) and updates it; every request goes through the
call's workflow (update-with-start), which answers with the ids it wrote.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

from api.call_api_requests import (
    PATH,
    PROVIDER,
    ApiRequestError,
    TelephonyRequest,
    call_events,
    collect_params,
    json_params,
    new_session_id,
    parse_request,
    pbx_call_id_of,
    request_key,
)
from api.context import ApiContext
from api.deps import ContextDep
from api.errors import errors
from api.ingress import (
    BodyTooLarge,
    MalformedBody,
    StoreUnavailable,
    check_sources,
    mask_key,
    read_body,
    read_multipart,
    read_store,
)
from api.rest_models import TelephonyAnswerOut
from api.temporal import TemporalUnavailable
from contracts.api_requests import ApiCallAnswer, ApiCallRequest
from contracts.messages import KeptFile
from contracts.phones import read_phone
from crm import Channel, Store
from providers.bodies import BodyError, BodyLimits, read_form, read_json
from providers.rejections import RequestRejected
from recordings.storage import StorageUnavailable
from recordings.uploads import AudioRejected, keep_upload
from workflows.starter import send_api_request

log = logging.getLogger("pbxhub.telephony_api")
T = TypeVar("T")
router = APIRouter(tags=["telephony API"])

_JSON_TYPES = ("application/json", "text/json")
# How long a PBX waits for the workflow's answer before it is told to retry.
_ANSWER_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class _Target:
    """Which call a request is about and whom it names, resolved against the store."""

    session_id: str
    employee_id: int | None = None
    employee_pbx_id: str | None = None
    employee_ids: list[int] = field(default_factory=list)


@router.post(
    PATH,
    summary="Create or update a call (action=create_call|update_call)",
    responses={
        200: {"model": TelephonyAnswerOut, "description": "The call and its ticket"},
        **errors(400, 403, 404, 413, 415, 422, 503),
    },
)
async def telephony_call(channel_key: str, request: Request, context: ContextDep) -> JSONResponse:
    where = f"{PROVIDER}/{mask_key(channel_key)}"
    try:
        channel = await read_store(context.store.get_channel_by_key, channel_key)
        if channel is None or channel.provider != PROVIDER:
            raise ApiRequestError.one(404, "channel_key", "no telephony API channel with this key")
        _check_source(request, context, channel)
        async with _request_params(request, context) as params:
            call = parse_request(params)
            target = await read_store(_resolve, context.store, channel, call)
            audio = await _keep_audio(context, call)
            answer = await _through_workflow(context, channel, call, target, audio)
    except ApiRequestError as error:
        log.warning("rejected %s with %d: %s", where, error.status, error)
        return JSONResponse(error.content(), status_code=error.status)
    except (StoreUnavailable, _Unavailable) as error:
        log.error("%s not accepted: %s", where, error)
        return JSONResponse({"detail": "temporarily unavailable, retry later"}, status_code=503)
    log.info("%s %s: call %s, %s", where, call.action, answer.call_id, answer.call_status)
    return JSONResponse({"data": _answer_data(context, target, answer)})


class _Unavailable(Exception):
    """Temporal did not answer, or the recording cannot be kept: the PBX should retry."""


def _check_source(request: Request, context: ApiContext, channel: Channel) -> None:
    """The channel's `allowed_sources` setting holds here as for every provider's webhooks."""
    try:
        check_sources(request, context, channel)
    except RequestRejected as error:
        raise ApiRequestError.one(error.status, "source", error.message) from error


def _resolve(store: Store, channel: Channel, call: TelephonyRequest) -> _Target:
    """Find the call an update is about, and the employees a request names (seed rules)."""
    if call.action == "create_call":
        session_id = call.pbx_call_id or new_session_id()
    elif call.call_id is not None:
        stored = store.get_call(call.call_id)
        if stored is None or stored.channel_id != channel.id:
            raise ApiRequestError.one(404, "call_id", f"no call {call.call_id} in this channel")
        session_id = stored.session_id
    else:
        assert call.pbx_call_id is not None
        stored = store.get_call_by_session(channel.id, call.pbx_call_id)
        if stored is None:
            raise ApiRequestError.one(
                404, "pbx_call_id", f"no call {call.pbx_call_id!r} in this channel"
            )
        session_id = stored.session_id

    employee_ids: list[int] = []
    pbx_user_id = call.pbx_user_id
    if call.user_ids or call.user_id is not None:
        name = "user_ids[]" if call.user_ids else "user_id"
        employee_ids = call.user_ids or [call.user_id or 0]
        for employee_id in employee_ids:
            if store.get_employee(employee_id) is None:
                raise ApiRequestError.one(422, name, f"no employee with id {employee_id}")
    elif call.group_ids:
        try:
            employee_ids = [e.id for e in store.employees_in_groups(call.group_ids)]
        except ValueError as error:
            raise ApiRequestError.one(422, "group_ids[]", str(error)) from error
    else:
        # PBX user ids the channel does not know name nobody ("passed or found", says the seed).
        found: dict[int, str] = {}
        for pbx_id in call.pbx_user_ids or ([pbx_user_id] if pbx_user_id else []):
            employee = store.find_employee(channel.id, pbx_user_id=pbx_id)
            if employee is not None:
                found.setdefault(employee.id, pbx_id)
        employee_ids = list(found)
        if len(found) == 1:
            pbx_user_id = next(iter(found.values()))
    # Exactly one employee named: they own the call and are the ticket's assignee.
    single = employee_ids[0] if len(employee_ids) == 1 else None
    return _Target(session_id, single, pbx_user_id, employee_ids)


async def _keep_audio(context: ApiContext, call: TelephonyRequest) -> KeptFile | None:
    upload, storage = call.audio, context.recordings
    if upload is None:
        return None
    if storage is None:
        raise _Unavailable("no recording storage is configured")
    try:
        return await anyio.to_thread.run_sync(
            lambda: keep_upload(upload, storage, max_bytes=context.max_upload_bytes)
        )
    except AudioRejected as error:
        raise ApiRequestError.one(error.status, "audio_record", error.message) from error
    except (StorageUnavailable, OSError) as error:
        raise _Unavailable(f"cannot store the recording: {error}") from error


async def _through_workflow(
    context: ApiContext,
    channel: Channel,
    call: TelephonyRequest,
    target: _Target,
    audio: KeptFile | None,
) -> ApiCallAnswer:
    key = request_key(call, target.session_id, audio.sha256 if audio else None)
    events = call_events(
        call,
        key=key,
        channel_id=channel.id,
        session_id=target.session_id,
        contact_phone=read_phone(call.phone, channel.default_country),
        now=datetime.now(UTC),
        recording_url=_recording_url(context, audio.sha256) if audio else None,
    )
    department = channel.settings.get("default_department")
    request = ApiCallRequest(
        action=call.action,
        key=key,
        call_status=call.call_status,
        events=events,
        department=None if department in (None, "") else str(department),
        employee_id=target.employee_id,
        employee_pbx_id=target.employee_pbx_id,
        target_employee_ids=target.employee_ids,
        comment=call.comment,
        audio=audio,
    )
    send = partial(
        send_api_request,
        request=request,
        channel_id=channel.id,
        provider=PROVIDER,
        session_id=target.session_id,
        task_queue=context.task_queue,
        call_settings=context.call_settings,
        rpc_timeout=timedelta(seconds=_ANSWER_TIMEOUT_SECONDS),
    )
    try:
        with anyio.fail_after(_ANSWER_TIMEOUT_SECONDS):
            return await context.temporal.call(send)
    except WorkflowUpdateFailedError as error:
        raise ApiRequestError.one(422, "action", str(error.cause)) from error
    except (
        TemporalUnavailable,
        RPCError,
        TimeoutError,
        WorkflowUpdateRPCTimeoutOrCancelledError,
    ) as error:
        raise _Unavailable(f"Temporal unavailable: {error}") from error


def _answer_data(context: ApiContext, target: _Target, answer: ApiCallAnswer) -> dict[str, Any]:
    """The seed's answer, field for field."""
    sha256 = answer.recording_sha256
    return {
        "call_id": answer.call_id,
        "pbx_call_id": pbx_call_id_of(target.session_id),
        "user_id": answer.employee_id,
        "pbx_user_id": answer.employee_pbx_id,
        "call_status": answer.call_status,
        "audio_record": _recording_url(context, sha256) if sha256 else None,
        "ticket_id": answer.ticket_id,
    }


def _recording_url(context: ApiContext, sha256: str) -> str:
    return f"{context.public_base_url}/api/v1/recordings/{sha256}"


# -- reading the body -----------------------------------------------------------------------


@asynccontextmanager
async def _request_params(request: Request, context: ApiContext) -> AsyncIterator[dict[str, Any]]:
    """The parameters of a form, multipart or JSON body (and the query string), by name;
    uploaded files stay open until the request is done."""
    query = list(request.query_params.multi_items())
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "multipart/form-data":
        limit = context.max_upload_bytes + context.max_body_bytes
        form = await _read(read_multipart(request, limit, max_files=4, max_fields=500))
        try:
            yield collect_params(query + list(form.multi_items()))
        finally:
            await form.close()
        return
    body = await _read(read_body(request, context.max_body_bytes))
    # the webhooks' bounded readers: linear, and a body too deep or too wide is refused
    try:
        if media in _JSON_TYPES or (not media and body.lstrip().startswith(b"{")):
            params = json_params(read_json(body, BodyLimits()))
            for name, values in collect_params(query).items():
                params.setdefault(name, values)
        else:
            params = collect_params(query + read_form(body, strict=True))
    except BodyError as error:
        raise ApiRequestError.one(error.status, error.field or "body", error.message) from error
    yield params


async def _read(reading: Awaitable[T]) -> T:
    """The ingress's body reading, its refusals in this API's words."""
    try:
        return await reading
    except BodyTooLarge as error:
        raise ApiRequestError.one(413, "body", str(error)) from error
    except MalformedBody as error:
        raise ApiRequestError.one(400, "body", str(error)) from error
