"""The forms an employee uses during (or after) a call: a comment, a task (one of the contact's,
or a new one), the caller's contact (made or given a name and fields). Each posts here with the
page's CSRF token and goes through the call's workflow as the API's (`api.routes.call_time`),
then back to the page it came from. The forms are `templates/_call_time_forms.html`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Final

from fastapi import Form, status
from fastapi.responses import RedirectResponse, Response

from api.bounds import StoredId
from api.deps import ContextDep
from api.routes.call_time import (
    CommentIn,
    ContactIn,
    SessionId,
    TaskIn,
    act_during_call,
)
from api.sessions import CsrfCheckedDep
from contracts.call_time import CallTimeAction, CallTimeAnswer
from crm import Store, StoredCall, Task
from web.forms import read_fields, validated
from web.page_route import page_router

router = page_router()
_MAX_TEXT: Final = 10_000
Text = Annotated[str, Form(max_length=_MAX_TEXT)]
PATH: Final = "/calls/live/{channel_id}/{session_id}"


@dataclass(frozen=True)
class CallTimeForms:
    """What `_call_time_forms.html` needs: the call as its PBX names it, the contact's open
    tasks to attach it to, and the page to come back to."""

    channel_id: int
    session_id: str
    back: str
    tasks: list[Task] = field(default_factory=list)
    contact_name: str | None = None
    attached_task_id: int | None = None
    # one per page shown: a form sent twice is one action
    key: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def action(self) -> str:
        return PATH.format(channel_id=self.channel_id, session_id=self.session_id)


def forms_for_call(store: Store, call: StoredCall, back: str) -> CallTimeForms:
    """The forms for a written call (sync)."""
    tasks = store.list_tasks(status="open", contact_id=call.contact_id) if call.contact_id else []
    contact = store.get_contact(call.contact_id) if call.contact_id else None
    return CallTimeForms(
        channel_id=call.channel_id,
        session_id=call.session_id,
        back=back,
        tasks=tasks,
        contact_name=contact.name if contact else None,
        attached_task_id=call.attachment.task_id if call.attachment else None,
    )


@router.post(PATH + "/comment")
async def comment(
    channel_id: StoredId,
    session_id: SessionId,
    context: ContextDep,
    viewer: CsrfCheckedDep,
    text: Text,
    key: Text = "",
    back: Text = "",
) -> Response:
    body = validated(CommentIn, text=text.strip(), key=key or None)
    make = partial(CallTimeAction, kind="comment", text=body.text)
    answer = await act_during_call(context, viewer.caller, channel_id, session_id, body.key, make)
    return _back(back, answer, "comment")


@router.post(PATH + "/task")
async def task(
    channel_id: StoredId,
    session_id: SessionId,
    context: ContextDep,
    viewer: CsrfCheckedDep,
    task_id: Text = "",
    title: Text = "",
    description: Text = "",
    key: Text = "",
    back: Text = "",
) -> Response:
    body = validated(
        TaskIn,
        task_id=task_id or None,
        title=title.strip() or None,
        description=description.strip() or None,
        key=key or None,
    )
    if body.task_id is not None:
        make = partial(CallTimeAction, kind="attach_task", task_id=body.task_id)
    else:
        make = partial(CallTimeAction, kind="create_task", title=body.title, text=body.description)
    answer = await act_during_call(context, viewer.caller, channel_id, session_id, body.key, make)
    return _back(back, answer, "task")


@router.post(PATH + "/contact")
async def contact(
    channel_id: StoredId,
    session_id: SessionId,
    context: ContextDep,
    viewer: CsrfCheckedDep,
    name: Text = "",
    fields: Text = "",
    key: Text = "",
    back: Text = "",
) -> Response:
    body = validated(
        ContactIn, name=name.strip() or None, fields=read_fields(fields), key=key or None
    )
    make = partial(CallTimeAction, kind="contact", name=body.name, fields=dict(body.fields))
    answer = await act_during_call(context, viewer.caller, channel_id, session_id, body.key, make)
    return _back(back, answer, "contact")


def _back(back: str, answer: CallTimeAnswer, what: str) -> Response:
    """To the page the form was on (only a path of ours), saying whether it waits for the call."""
    page = back if back.startswith("/") and not back.startswith("//") else "/calls"
    done = "pending" if answer.pending else "saved"
    joiner = "&" if "?" in page else "?"
    return RedirectResponse(f"{page}{joiner}{what}={done}", status_code=status.HTTP_303_SEE_OTHER)
