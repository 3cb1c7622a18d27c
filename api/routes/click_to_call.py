"""Click-to-call: an employee asks the channel's PBX to connect them with a number, through the
provider's `click_to_call` action; the answer says what the PBX said."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.bounds import StoredId
from api.deps import AdminDep, ContextDep
from api.errors import AUTHENTICATED, WITH_BODY, ErrorOut, errors
from api.pbx_actions import ask_pbx
from contracts.messages import ActionEmployee, PbxActionInput
from contracts.phones import read_phone

router = APIRouter(tags=["click-to-call"], dependencies=[AdminDep], responses=AUTHENTICATED)

# The PBX rings the employee first; its answer comes before that call is picked up.
_ANSWER_TIMEOUT_SECONDS = 45.0


class ClickToCallIn(BaseModel):
    channel_id: StoredId
    employee_id: StoredId
    phone: str = Field(min_length=1, description="The number to call, as a person typed it")


class ClickToCallRefusedOut(ErrorOut):
    """The PBX refused the call or could not be reached: what it said."""

    ok: bool = False
    phone: str
    pbx_status: int | None
    pbx_answer: str


class ClickToCallOut(BaseModel):
    ok: bool
    # the number dialled (E.164), and what the PBX's answer came to in pbxhub's words ("the PBX
    # accepted: HTTP 200"): its own text goes to the log only
    phone: str
    pbx_status: int | None
    pbx_answer: str


@router.post(
    "/api/v1/click-to-call",
    response_model=ClickToCallOut,
    responses={
        **WITH_BODY,
        **errors(404, 503),
        502: {"model": ClickToCallRefusedOut, "description": "The PBX refused the call"},
    },
)
async def click_to_call(body: ClickToCallIn, context: ContextDep) -> ClickToCallOut | JSONResponse:
    """200 when the PBX took the request; 422 when the channel, the employee or the number
    cannot make one; 502 when the PBX refused it or could not be reached (with what it said)."""
    store = context.store
    channel = await anyio.to_thread.run_sync(store.get_channel, body.channel_id)
    if channel is None:
        raise HTTPException(404, detail="channel_id: no such channel")
    spec = context.specs.get(channel.provider)
    if spec is None or "click_to_call" not in spec.actions:
        raise HTTPException(
            422, detail=f"channel_id: provider {channel.provider} has no click-to-call"
        )
    employee = await anyio.to_thread.run_sync(store.get_employee, body.employee_id)
    if employee is None:
        raise HTTPException(404, detail="employee_id: no such employee")
    link = next((link for link in employee.links if link.channel_id == channel.id), None)
    if link is None or not (link.extension or link.pbx_user_id):
        raise HTTPException(
            422, detail=f"employee_id: {employee.name} has no short number in this channel"
        )
    phone = read_phone(body.phone, channel.default_country)
    if phone is None:
        raise HTTPException(422, detail=f"phone: {body.phone!r} is not a phone number")

    data = PbxActionInput(
        channel_id=channel.id,
        action="click_to_call",
        employee=ActionEmployee(employee.id, employee.name, link.extension, link.pbx_user_id),
        phone=phone,
    )
    result = await ask_pbx(context, data, timeout=_ANSWER_TIMEOUT_SECONDS)
    if result.ok:
        return ClickToCallOut(
            ok=True, phone=phone, pbx_status=result.status, pbx_answer=result.answer
        )
    if not result.sent:
        # the channel lacks what the request needs (the PBX's address): the admin's to fix
        raise HTTPException(422, detail=result.message or "the request cannot be made")
    return JSONResponse(
        {
            "detail": result.message or "the PBX refused the call",
            "ok": False,
            "phone": phone,
            "pbx_status": result.status,
            "pbx_answer": result.answer,
        },
        status_code=502,
    )
