"""What an employee does with a call while it lasts, through the call's workflow: a comment, the
call attached to one of its contact's tasks or to a new task, the caller's contact made or given
a name and fields. The call is addressed as its PBX names it (channel and session, as the card
shows it), so an action can come before the call's record exists: it lands on the call once the
workflow writes it (202, "pending"; a contact is made at once, the call linked to it when written);
after that it is applied at once (201).

Who may: `api.call_time_rights`. A repeated `key` changes nothing (the workflow's update id).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict
from datetime import timedelta
from functools import partial
from typing import Annotated

import anyio
from fastapi import APIRouter, HTTPException, Path, Response, status
from pydantic import BaseModel, Field, model_validator
from temporalio.client import (
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.bounds import StoredId, StoredText
from api.call_time_rights import CallParty, check_may_act, parties_of
from api.context import ApiContext
from api.deps import Caller, CallerDep, ContextDep
from api.errors import AUTHENTICATED, WITH_BODY, errors
from api.temporal import TemporalUnavailable
from contracts.call_time import CallTimeAction, CallTimeAnswer
from contracts.call_workflow import CallState
from crm import Channel, StoredCall
from workflows.starter import call_state, call_workflow_id, send_call_time_action

router = APIRouter(
    prefix="/api/v1/channels/{channel_id}/sessions/{session_id}",
    tags=["calls"],
    responses=AUTHENTICATED,
)
SessionId = Annotated[str, Path(min_length=1, max_length=255)]
Key = Annotated[
    str | None,
    Field(
        default=None,
        min_length=8,
        max_length=100,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="Makes the action idempotent: the same key twice is one action",
    ),
]
_TIMEOUT = timedelta(seconds=10)


class CommentIn(BaseModel):
    text: StoredText = Field(min_length=1, max_length=10_000, examples=["Wants a quote"])
    key: Key = None


class TaskIn(BaseModel):
    """Either `task_id` (one of the contact's tasks) or `title` (a new task from the call)."""

    task_id: StoredId | None = None
    title: Annotated[StoredText, Field(min_length=1, max_length=255)] | None = None
    description: Annotated[StoredText, Field(max_length=10_000)] | None = None
    key: Key = None

    @model_validator(mode="after")
    def _one_of(self) -> TaskIn:
        if (self.task_id is None) == (self.title is None):
            raise ValueError("give either task_id (attach) or title (a new task)")
        return self


class ContactIn(BaseModel):
    name: Annotated[StoredText, Field(max_length=255)] | None = None
    fields: dict[
        Annotated[StoredText, Field(min_length=1, max_length=100)],
        Annotated[StoredText, Field(max_length=2000)],
    ] = Field(default_factory=dict, max_length=100)
    key: Key = None


class CallTimeOut(BaseModel):
    pending: bool = Field(
        description="True: the call is not written yet; the action is kept by its workflow until "
        "it is (a contact is made at once, `contact_id` given, and the call written with it)"
    )
    call_id: int | None = None
    contact_id: int | None = None
    task_id: int | None = None
    comment_id: int | None = None


_ANSWERS = {**WITH_BODY, **errors(403, 404, 409)}


@router.post("/comments", response_model=CallTimeOut, status_code=201, responses=_ANSWERS)
async def comment_during_call(
    channel_id: StoredId,
    session_id: SessionId,
    body: CommentIn,
    context: ContextDep,
    caller: CallerDep,
    response: Response,
) -> CallTimeOut:
    """A comment on the call (and where it hangs), written once the call is."""
    action = partial(CallTimeAction, kind="comment", text=body.text)
    return _out(
        response, await act_during_call(context, caller, channel_id, session_id, body.key, action)
    )


@router.post("/tasks", response_model=CallTimeOut, status_code=201, responses=_ANSWERS)
async def task_during_call(
    channel_id: StoredId,
    session_id: SessionId,
    body: TaskIn,
    context: ContextDep,
    caller: CallerDep,
    response: Response,
) -> CallTimeOut:
    """The call attached to one of its contact's tasks, or to a new task made from it."""
    if body.task_id is not None:
        action = partial(CallTimeAction, kind="attach_task", task_id=body.task_id)
    else:
        action = partial(
            CallTimeAction, kind="create_task", title=body.title, text=body.description
        )
    return _out(
        response, await act_during_call(context, caller, channel_id, session_id, body.key, action)
    )


@router.post("/contact", response_model=CallTimeOut, status_code=201, responses=_ANSWERS)
async def contact_during_call(
    channel_id: StoredId,
    session_id: SessionId,
    body: ContactIn,
    context: ContextDep,
    caller: CallerDep,
    response: Response,
) -> CallTimeOut:
    """The caller's contact given this name and these fields (added to its own), or made for
    the caller's number, with the employee acting responsible for it."""
    action = partial(CallTimeAction, kind="contact", name=body.name, fields=dict(body.fields))
    return _out(
        response, await act_during_call(context, caller, channel_id, session_id, body.key, action)
    )


def _out(response: Response, answer: CallTimeAnswer) -> CallTimeOut:
    if answer.pending:
        response.status_code = status.HTTP_202_ACCEPTED
    return CallTimeOut.model_validate(asdict(answer))


async def act_during_call(
    context: ApiContext,
    caller: Caller,
    channel_id: int,
    session_id: str,
    key: str | None,
    make: Callable[..., CallTimeAction],
) -> CallTimeAnswer:
    """The action `make` builds, checked against the caller's rights and handed to the call's
    workflow (also for the pages); the HTTP error to answer otherwise."""
    channel, call = await anyio.to_thread.run_sync(_find, context, channel_id, session_id)
    parties: list[CallParty] = parties_of(call) if call is not None else []
    contact_phone = call.contact_phone if call is not None else None
    if call is None:
        state = await _live_state(context, channel_id, session_id)
        parties = [CallParty(state.employee_extension, state.employee_pbx_id)]
        parties += [CallParty(leg.employee_extension, leg.employee_pbx_id) for leg in state.legs]
        contact_phone = state.contact_phone
    if caller.employee is not None:
        await anyio.to_thread.run_sync(
            partial(
                check_may_act,
                caller.employee,
                context.store,
                channel_id=channel_id,
                call=call,
                parties=parties,
                contact_phone=contact_phone,
            )
        )
    action = make(
        key=key or f"call-time-{uuid.uuid4().hex}",
        employee_id=caller.employee.id if caller.employee else None,
        call_written=call is not None,
    )
    return await _send(context, channel, session_id, action, written=call is not None)


def _find(
    context: ApiContext, channel_id: int, session_id: str
) -> tuple[Channel, StoredCall | None]:
    channel = context.store.get_channel(channel_id)
    if channel is None:
        raise HTTPException(404, detail="no such channel")
    return channel, context.store.get_call_by_session(channel_id, session_id)


async def _live_state(context: ApiContext, channel_id: int, session_id: str) -> CallState:
    """The call as its running workflow sees it; 404 when no workflow follows this session."""
    workflow_id = call_workflow_id(
        channel_id, session_id, prefix=context.call_settings.workflow_id_prefix
    )

    try:
        return await context.temporal.call(lambda client: call_state(client, workflow_id))
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise HTTPException(404, detail="no call in progress with this session") from None
        raise _unavailable(error) from error
    except TemporalUnavailable as error:
        raise _unavailable(error) from error


async def _send(
    context: ApiContext, channel: Channel, session_id: str, action: CallTimeAction, *, written: bool
) -> CallTimeAnswer:
    send = partial(
        send_call_time_action,
        action=action,
        channel_id=channel.id,
        provider=channel.provider,
        session_id=session_id,
        written=written,
        task_queue=context.task_queue,
        call_settings=context.call_settings,
        rpc_timeout=_TIMEOUT,
    )
    try:
        with anyio.fail_after(_TIMEOUT.total_seconds()):
            return await context.temporal.call(send)
    except WorkflowUpdateFailedError as error:
        raise _refused(error) from None
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise HTTPException(404, detail="no call in progress with this session") from None
        raise _unavailable(error) from error
    except (TemporalUnavailable, TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError) as error:
        raise _unavailable(error) from error


def _refused(error: WorkflowUpdateFailedError) -> HTTPException:
    """What the workflow or the store refused, said to the employee (never a 500)."""
    cause = error.cause
    while isinstance(cause, ActivityError) and cause.cause is not None:
        cause = cause.cause  # an activity's failure: the store's own words
    if isinstance(cause, ApplicationError):
        code = 409 if cause.type == "CallNotRecorded" else 422
        return HTTPException(code, detail=cause.message)
    return HTTPException(422, detail=str(cause))


def _unavailable(error: Exception) -> HTTPException:
    return HTTPException(503, detail=f"Temporal unavailable: {error}")
