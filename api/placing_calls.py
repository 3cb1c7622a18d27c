"""Placing a call for an employee (click-to-call), whoever asks: the API's POST
/api/v1/click-to-call and the pages' click on a number both come here. The channel's provider
spec says how (its `click_to_call` action); PbxActionWorkflow sends it to the channel's PBX
address only (vetted as recording links are) and the answer is told in pbxhub's words."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import anyio
from fastapi import HTTPException

from api.context import ApiContext
from api.pbx_actions import ask_pbx
from contracts.messages import ActionEmployee, PbxActionInput
from contracts.phones import read_phone
from crm import Employee, Store
from providers.spec import ProviderSpec

__all__ = ["CLICK_TO_CALL", "PlacedCall", "calling_channel", "place_call"]

CLICK_TO_CALL = "click_to_call"
# The PBX rings the employee first; its answer comes before that call is picked up.
_ANSWER_TIMEOUT_SECONDS = 45.0


@dataclass(frozen=True)
class PlacedCall:
    """What came of asking the PBX: `ok`, or `message` (what the employee reads: pbxhub's
    sentence from the spec, never the PBX's raw answer, which goes to the log)."""

    ok: bool
    # the number dialled (E.164)
    phone: str
    pbx_status: int | None
    # pbxhub's short account of the answer ("the PBX accepted: HTTP 200")
    pbx_answer: str
    message: str | None = None


async def place_call(
    context: ApiContext, *, channel_id: int, employee_id: int, phone: str
) -> PlacedCall:
    """Ask the channel's PBX to connect the employee with `phone`. 404 for an unknown channel
    or employee; 422 naming the field when the channel, the employee or the number cannot
    make a call, or the request cannot be sent (no PBX address, a refused address); 503 when
    Temporal cannot run it now. A PBX that answers, whatever it says, is a PlacedCall."""
    store = context.store
    channel = await anyio.to_thread.run_sync(store.get_channel, channel_id)
    if channel is None:
        raise HTTPException(404, detail="channel_id: no such channel")
    spec = context.specs.get(channel.provider)
    if spec is None or CLICK_TO_CALL not in spec.actions:
        raise HTTPException(
            422, detail=f"channel_id: provider {channel.provider} has no click-to-call"
        )
    employee = await anyio.to_thread.run_sync(store.get_employee, employee_id)
    if employee is None:
        raise HTTPException(404, detail="employee_id: no such employee")
    link = next((link for link in employee.links if link.channel_id == channel.id), None)
    if link is None or not (link.extension or link.pbx_user_id):
        raise HTTPException(
            422, detail=f"employee_id: {employee.name} has no short number in this channel"
        )
    number = read_phone(phone, channel.default_country)
    if number is None:
        raise HTTPException(422, detail=f"phone: {phone!r} is not a phone number")

    data = PbxActionInput(
        channel_id=channel.id,
        action=CLICK_TO_CALL,
        employee=ActionEmployee(employee.id, employee.name, link.extension, link.pbx_user_id),
        phone=number,
    )
    result = await ask_pbx(context, data, timeout=_ANSWER_TIMEOUT_SECONDS)
    if not result.ok and not result.sent:
        # the channel lacks what the request needs (the PBX's address): the admin's to fix
        raise HTTPException(422, detail=result.message or "the request cannot be made")
    return PlacedCall(
        ok=result.ok,
        phone=number,
        pbx_status=result.status,
        pbx_answer=result.answer,
        message=None if result.ok else result.message or "the PBX refused the call",
    )


def calling_channel(
    store: Store, specs: Mapping[str, ProviderSpec], employee: Employee
) -> int | None:
    """The channel a click on a number calls through for this employee: the first of their
    channels (by id) whose PBX can place calls and names them there."""
    for link in sorted(employee.links, key=lambda link: link.channel_id):
        if not (link.extension or link.pbx_user_id):
            continue
        channel = store.get_channel(link.channel_id)
        spec = specs.get(channel.provider) if channel is not None else None
        if spec is not None and CLICK_TO_CALL in spec.actions:
            return link.channel_id
    return None
