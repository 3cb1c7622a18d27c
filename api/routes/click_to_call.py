"""Click-to-call: an employee asks the channel's PBX to connect them with a number, through the
provider's `click_to_call` action (api.placing_calls); the answer says what the PBX said."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.bounds import StoredId
from api.deps import AdminDep, ContextDep
from api.errors import AUTHENTICATED, WITH_BODY, ErrorOut, errors
from api.placing_calls import place_call

router = APIRouter(tags=["click-to-call"], dependencies=[AdminDep], responses=AUTHENTICATED)


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
    placed = await place_call(
        context, channel_id=body.channel_id, employee_id=body.employee_id, phone=body.phone
    )
    if placed.ok:
        return ClickToCallOut(
            ok=True, phone=placed.phone, pbx_status=placed.pbx_status, pbx_answer=placed.pbx_answer
        )
    return JSONResponse(
        {
            "detail": placed.message,
            "ok": False,
            "phone": placed.phone,
            "pbx_status": placed.pbx_status,
            "pbx_answer": placed.pbx_answer,
        },
        status_code=502,
    )
