"""The pages every signed-in person has: the calls they may hear (with their recordings), a
call's own page, a contact they see (the page PBXs link to: `{public_base_url}/contacts/{id}`)
and, for the admin, a contact's edit and a new contact. Rights are the API's own (`api.access`,
the store's `heard_by`), read in a worker thread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Final
from urllib.parse import urlencode

import anyio
from fastapi import Form, Header, HTTPException, Query, Request, status
from fastapi.responses import RedirectResponse, Response

from api.access import call_comments_for, call_for, contact_comments_for, contact_for
from api.bounds import Offset, StoredId
from api.call_filters import normalize_phone_filter
from api.deps import Caller, ContextDep
from api.rest_models import CallOut
from api.routes.calls import Names, call_out, read_names
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
from web.templates import page

router = page_router()

PAGE_SIZE: Final = 50
# What the contact form's textareas may hold (a person types them).
_MAX_FORM_TEXT: Final = 20_000


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
    kind: Annotated[str, Query(pattern="^(call|missed|)$")] = "",
    phone: Annotated[str, Query(max_length=64)] = "",
    offset: Offset = 0,
) -> Response:
    """The filter form sends its empty fields too: "" is no filter."""
    store = context.store
    # read as the API's `phone` filter is (any format, 422 naming what cannot be read)
    number = normalize_phone_filter(phone.strip() or None, "RU")

    def read() -> tuple[list[ShownCall], int]:
        where = CallFilter(kind=kind or None, phone=number, heard_by=viewer.employee)
        calls, total = store.page_calls(where, limit=PAGE_SIZE, offset=offset)
        names = read_names(store, calls)
        return shown_calls([call_out(call, names) for call in calls], names), total

    calls, total = await anyio.to_thread.run_sync(read)
    kept = {name: value for name, value in (("kind", kind), ("phone", phone)) if value}
    return page(
        "calls.html",
        viewer=viewer,
        calls=calls,
        total=total,
        kind=kind,
        phone=phone,
        newer=urlencode({**kept, "offset": max(offset - PAGE_SIZE, 0)}) if offset else None,
        older=urlencode({**kept, "offset": offset + PAGE_SIZE})
        if offset + PAGE_SIZE < total
        else None,
    )


@dataclass(frozen=True)
class ContactView:
    contact: Contact
    calls: list[ShownCall]
    comments: list[Comment]
    names: dict[int, str]
    employees: list[Employee]


def read_contact(caller: Caller, store: Store, contact_id: int) -> ContactView:
    contact = contact_for(caller, store, contact_id)
    where = CallFilter(contact_id=contact_id, heard_by=caller.employee)
    calls = store.list_calls(where, limit=PAGE_SIZE)
    call_names = read_names(store, calls)
    comments = contact_comments_for(caller, store, contact_id, include_hidden=True)
    people = [*contact.responsible_employee_ids]
    people += [c.author_employee_id for c in comments if c.author_employee_id is not None]
    return ContactView(
        contact=contact,
        calls=shown_calls([call_out(call, call_names) for call in calls], call_names),
        comments=comments,
        names=store.employee_names(people),
        # the admin's form lists everyone who may be made responsible
        employees=store.list_employees() if caller.is_admin else [],
    )


@router.get("/contacts/new")
async def new_contact_page(context: ContextDep, viewer: ViewerDep) -> Response:
    _require_admin(viewer)
    employees = await anyio.to_thread.run_sync(context.store.list_employees)
    return page("contact_new.html", viewer=viewer, employees=employees)


@router.get("/contacts/{contact_id}")
async def contact_page(contact_id: StoredId, context: ContextDep, viewer: ViewerDep) -> Response:
    view = await anyio.to_thread.run_sync(read_contact, viewer.caller, context.store, contact_id)
    return page("contact.html", viewer=viewer, view=view, fields_text=_fields_text(view.contact))


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


def read_call(caller: Caller, store: Store, call_id: int) -> CallView:
    call = call_for(caller, store, call_id)
    names = read_names(store, [call])
    comments = call_comments_for(caller, store, call_id)
    authors = [c.author_employee_id for c in comments if c.author_employee_id is not None]
    return CallView(
        shown=shown_calls([call_out(call, names)], names)[0],
        comments=comments,
        names=store.employee_names(authors),
        call_time=forms_for_call(store, call, back=f"/calls/{call.id}"),
        task=store.get_task(call.attachment.task_id)
        if call.attachment and call.attachment.task_id
        else None,
    )


@router.get("/calls/{call_id}")
async def call_page(call_id: StoredId, context: ContextDep, viewer: ViewerDep) -> Response:
    """A call the signed-in person may hear (as GET /api/v1/calls/{id}): its analytics, its
    legs (who it rang, who answered), its recording, where it hangs and its comments."""
    view = await anyio.to_thread.run_sync(read_call, viewer.caller, context.store, call_id)
    call = view.shown.call
    timeline = await read_timeline(context, call.channel_id, call.session_id)
    return page("call.html", viewer=viewer, view=view, call_time=view.call_time, timeline=timeline)


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
