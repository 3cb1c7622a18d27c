"""Click-to-call from the pages: every phone number a page shows is a small form
(`templates/_phone.html`) posting here with the page's CSRF token; the signed-in employee's PBX
rings them, then the number (`api.placing_calls.place_call`, as the API's click-to-call). The
missed-calls report's "Call back" answers through `calling_page` too. A GET never places a call."""

from __future__ import annotations

import logging
from functools import partial
from typing import Annotated, Final

import anyio
from fastapi import Form, HTTPException, status
from fastapi.responses import Response

from api.access import contact_for, task_for
from api.bounds import StoredId
from api.context import ApiContext
from api.deps import Caller, ContextDep
from api.placing_calls import calling_channel, place_call
from api.sessions import CsrfCheckedDep, Viewer
from crm import Employee, Store
from web.page_route import page_router
from web.templates import page

router = page_router()
log = logging.getLogger(__name__)

_MAX_PHONE: Final = 64
_MAX_BACK: Final = 2_000
ADMIN_HAS_NO_PHONE: Final = (
    "The admin has no phone of their own to ring first: an employee signs in and calls "
    "from their pages, or calls back a missed call from the missed-calls report."
)
NO_CALLING_CHANNEL: Final = (
    "None of your lines can place a call: ask the admin to give you a short number on a "
    "line whose PBX can call."
)


def _back_link(back: str) -> str:
    """Only a path of this site leads back (never another site's address)."""
    return back if back.startswith("/") and not back.startswith("//") else "/calls"


async def calling_page(
    context: ApiContext,
    viewer: Viewer,
    *,
    channel_id: int,
    employee_id: int,
    phone: str,
    back: str,
    contact_id: int | None = None,
    task_id: int | None = None,
) -> Response:
    """Ask the PBX, then say what came of it: "ringing" or pbxhub's sentence of the refusal
    (502); the PBX's own answer is logged for the admin, never shown. A call the PBX took is
    noted with the contact or task it was placed from (the call it becomes hangs there); a
    refused one leaves nothing."""
    placed = await place_call(context, channel_id=channel_id, employee_id=employee_id, phone=phone)
    if not placed.ok:
        log.warning(
            "click-to-call refused: channel %s employee %s: %s",
            channel_id,
            employee_id,
            placed.pbx_answer,
        )
        return page(
            "calling.html",
            status.HTTP_502_BAD_GATEWAY,
            viewer=viewer,
            placed=placed,
            back=_back_link(back),
        )
    await anyio.to_thread.run_sync(
        partial(
            context.store.record_placed_call,
            channel_id=channel_id,
            employee_id=employee_id,
            phone=placed.phone,
            contact_id=contact_id,
            task_id=task_id,
        )
    )
    return page("calling.html", viewer=viewer, placed=placed, back=_back_link(back))


def _check_origin(
    store: Store, employee: Employee, *, contact_id: int | None, task_id: int | None
) -> None:
    """The contact or task a call is placed from must exist and be the employee's to see: the
    call it becomes hangs there, so a foreign id would put the employee's call (and its
    recording) on a task or contact they cannot open."""
    caller = Caller(employee)
    if task_id is not None:
        task_for(caller, store, task_id, field="task_id")
    if contact_id is not None:
        contact_for(caller, store, contact_id, field="contact_id")


@router.post("/click-to-call")
async def click_to_call_page(
    context: ContextDep,
    viewer: CsrfCheckedDep,
    phone: Annotated[str, Form(min_length=1, max_length=_MAX_PHONE)],
    back: Annotated[str, Form(max_length=_MAX_BACK)] = "/calls",
    contact_id: Annotated[StoredId | None, Form()] = None,
    task_id: Annotated[StoredId | None, Form()] = None,
) -> Response:
    """The signed-in employee's PBX rings them, then `phone`; the admin is told why not.
    `contact_id` / `task_id`: the contact or task the number was shown on."""
    employee = viewer.employee
    if employee is None:
        raise HTTPException(422, detail=ADMIN_HAS_NO_PHONE)
    await anyio.to_thread.run_sync(
        partial(_check_origin, context.store, employee, contact_id=contact_id, task_id=task_id)
    )
    channel_id = await anyio.to_thread.run_sync(
        calling_channel, context.store, context.specs, employee
    )
    if channel_id is None:
        raise HTTPException(422, detail=NO_CALLING_CHANNEL)
    return await calling_page(
        context,
        viewer,
        channel_id=channel_id,
        employee_id=employee.id,
        phone=phone,
        back=back,
        contact_id=contact_id,
        task_id=task_id,
    )
