"""The pages every signed-in person has: a call's own page (the list: web.call_pages), a
contact they see (the page PBXs link to: `{public_base_url}/contacts/{id}`) with its calls,
missed calls, tasks and comments, and, for the admin, a contact's edit and a new contact. Rights
are the API's own (`api.access`, the store's `heard_by`), read in a worker thread."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated, Final

import anyio
from fastapi import Form, Header, HTTPException, Request, status
from fastapi.responses import RedirectResponse, Response

from api.access import call_comments_for, call_for, contact_comments_for, contact_for
from api.bounds import StoredId
from api.call_days import asker_zone
from api.deps import Caller, ContextDep
from api.routes.contact_writes import (
    ContactCreate,
    ContactPatch,
    write_contact_change,
    write_new_contact,
)
from api.routes.recordings import RecordingKey, get_call_recording, get_recording
from api.sessions import CsrfCheckedDep, Viewer, ViewerDep
from crm import CallFilter, Comment, Contact, Employee, Store, Task
from web.call_time_pages import CallTimeForms, forms_for_call
from web.call_timeline import read_timeline
from web.forms import lines, read_fields, validated
from web.page_route import page_router
from web.shown_calls import ShownCall, read_shown_calls
from web.templates import page

router = page_router()

PAGE_SIZE: Final = 50
# What the contact form's textareas may hold (a person types them).
_MAX_FORM_TEXT: Final = 20_000


@dataclass(frozen=True)
class ContactView:
    contact: Contact
    calls: list[ShownCall]
    # every call of theirs the viewer may hear, and their missed calls (with call-backs)
    total_calls: int
    missed: list[ShownCall]
    total_missed: int
    tasks: list[Task]
    comments: list[Comment]
    names: dict[int, str]
    employees: list[Employee]
    # the viewer's time zone, for the times shown (as on the calls page)
    zone: str = "UTC"


def read_contact(caller: Caller, store: Store, contact_id: int) -> ContactView:
    contact = contact_for(caller, store, contact_id)
    where = CallFilter(contact_id=contact_id, heard_by=caller.employee)
    calls, total = store.page_calls(where, limit=PAGE_SIZE, offset=0)
    missed, total_missed = store.page_calls(
        replace(where, kind="missed"), limit=PAGE_SIZE, offset=0
    )
    tasks = store.list_tasks(contact_id=contact_id, limit=PAGE_SIZE)
    comments = contact_comments_for(caller, store, contact_id, include_hidden=True)
    people = [*contact.responsible_employee_ids]
    people += [c.author_employee_id for c in comments if c.author_employee_id is not None]
    people += [t.assignee_employee_id for t in tasks if t.assignee_employee_id is not None]
    return ContactView(
        contact=contact,
        calls=read_shown_calls(store, calls),
        total_calls=total,
        missed=read_shown_calls(store, missed),
        total_missed=total_missed,
        tasks=tasks,
        comments=comments,
        names=store.employee_names(people),
        # the admin's form lists everyone who may be made responsible
        employees=store.list_employees() if caller.is_admin else [],
        zone=asker_zone(caller.employee, store.list_channels(), None),
    )


@router.get("/contacts/new")
async def new_contact_page(context: ContextDep, viewer: ViewerDep) -> Response:
    _require_admin(viewer)
    employees = await anyio.to_thread.run_sync(context.store.list_employees)
    return page("contact_new.html", viewer=viewer, employees=employees)


@router.get("/contacts/{contact_id}")
async def contact_page(contact_id: StoredId, context: ContextDep, viewer: ViewerDep) -> Response:
    view = await anyio.to_thread.run_sync(read_contact, viewer.caller, context.store, contact_id)
    return page(
        "contact.html",
        viewer=viewer,
        view=view,
        zone=view.zone,
        fields_text=_fields_text(view.contact),
    )


FormText = Annotated[str, Form(max_length=_MAX_FORM_TEXT)]


@router.post("/contacts")
async def create_contact(
    context: ContextDep,
    viewer: CsrfCheckedDep,
    phones: FormText,
    name: FormText = "",
    fields: FormText = "",
    country: FormText = "RU",
    responsible: Annotated[list[int] | None, Form()] = None,
) -> Response:
    _require_admin(viewer)
    body = validated(
        ContactCreate,
        name=name.strip() or None,
        phones=lines(phones),
        country=country,
        fields=read_fields(fields),
        responsible_employee_ids=responsible or [],
    )
    contact = await anyio.to_thread.run_sync(write_new_contact, context.store, body)
    return RedirectResponse(f"/contacts/{contact.id}", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/contacts/{contact_id}")
async def change_contact(
    contact_id: StoredId,
    context: ContextDep,
    viewer: CsrfCheckedDep,
    phones: FormText,
    name: FormText = "",
    fields: FormText = "",
    country: FormText = "RU",
    responsible: Annotated[list[int] | None, Form()] = None,
) -> Response:
    _require_admin(viewer)
    body = validated(
        ContactPatch,
        name=name.strip(),
        phones=lines(phones),
        country=country,
        fields=read_fields(fields),
        responsible_employee_ids=responsible or [],
    )
    await anyio.to_thread.run_sync(write_contact_change, context.store, contact_id, body)
    return RedirectResponse(f"/contacts/{contact_id}", status_code=status.HTTP_303_SEE_OTHER)


@dataclass(frozen=True)
class CallView:
    shown: ShownCall
    comments: list[Comment]
    names: dict[int, str]
    call_time: CallTimeForms
    # the task the call hangs on, if it does
    task: Task | None = None
    # the viewer's time zone (the admin's: the call's line's), for the times shown
    zone: str = "UTC"


def read_call(caller: Caller, store: Store, call_id: int) -> CallView:
    call = call_for(caller, store, call_id)
    comments = call_comments_for(caller, store, call_id)
    channels = store.list_channels()
    line = next((channel for channel in channels if channel.id == call.channel_id), None)
    authors = [c.author_employee_id for c in comments if c.author_employee_id is not None]
    return CallView(
        shown=read_shown_calls(store, [call])[0],
        comments=comments,
        names=store.employee_names(authors),
        call_time=forms_for_call(store, call, back=f"/calls/{call.id}"),
        task=store.get_task(call.attachment.task_id)
        if call.attachment and call.attachment.task_id
        else None,
        zone=asker_zone(caller.employee, channels, line),
    )


@router.get("/calls/{call_id}")
async def call_page(call_id: StoredId, context: ContextDep, viewer: ViewerDep) -> Response:
    """A call the signed-in person may hear (as GET /api/v1/calls/{id}): its analytics, its
    legs (who it rang, who answered), its recording, where it hangs and its comments."""
    view = await anyio.to_thread.run_sync(read_call, viewer.caller, context.store, call_id)
    call = view.shown.call
    timeline = await read_timeline(context, call.channel_id, call.session_id)
    return page(
        "call.html",
        viewer=viewer,
        view=view,
        zone=view.zone,
        call_time=view.call_time,
        timeline=timeline,
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


def _require_admin(viewer: Viewer) -> None:
    # as the API: contacts are the admin's to make and change
    if not viewer.is_admin:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, detail="only an admin makes and changes contacts"
        )


def _fields_text(contact: Contact) -> str:
    return "\n".join(f"{name}: {value}" for name, value in contact.fields.items())
