"""What a caller may reach: the admin everything, an employee what their rights grant
(`policies.access`). Each guard reads what it needs from the store (run it in a worker thread) and
returns what was asked for, or raises the HTTP error to answer.

403 or 404: an id that names nothing is 404 for everyone, as there is nothing to protect; a
call, recording, contact or task that exists but is not the employee's is 403, with a reason
that names the ids it hangs on and why the employee is not among those who see it, never what
they hold. Ids are sequential, so telling "there is no such one" from "not yours" gives away
nothing that could not be guessed, and the reason tells the employee whom to ask. Anything more
about a thing (its recording's file missing from storage, a call without a recording) is told
only once the rights check has passed.
"""

from __future__ import annotations

import re
from typing import Final

from fastapi import HTTPException, status

from api.deps import Caller
from crm import Comment, Contact, Employee, Recording, Store, StoredCall, Task
from policies.access import Verdict, contact_verdict, hearing_verdict, task_verdict

_SHA256: Final = re.compile(r"^[0-9a-fA-F]{64}$")


def call_for(caller: Caller, store: Store, call_id: int) -> StoredCall:
    """The call, if the caller may hear it (its recording, its comments)."""
    call = store.get_call(call_id)
    if call is None:
        raise HTTPException(404, detail="no such call")
    if caller.employee is not None:
        _require(_hearing(caller.employee, store, call_id))
    return call


def recording_for(caller: Caller, store: Store, key: str) -> Recording:
    """A recording by id or by the SHA-256 of its content, if the caller may hear it. One file
    may be several calls' recording: by checksum, it plays when any of those calls may."""
    if key.isdigit() and len(key) < 19:
        recording = store.get_recording(int(key))
        if recording is None:
            raise HTTPException(404, detail="no such recording")
        if caller.employee is not None:
            verdict = _hearing(caller.employee, store, recording.call_id)
            _require(verdict, prefix=f"recording {key}: ")
        return recording
    if not _SHA256.match(key):
        raise HTTPException(422, detail="a recording is named by its id or its SHA-256")
    recordings = store.recordings_with_content(key)
    if not recordings:
        raise HTTPException(404, detail="no such recording")
    if caller.employee is None:
        return recordings[0]
    reasons = []
    for recording in recordings:
        verdict = _hearing(caller.employee, store, recording.call_id)
        if verdict.allowed:
            return recording
        reasons.append(verdict.reason)
    raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"recording {key}: {'. '.join(reasons)}")


def contact_for(
    caller: Caller, store: Store, contact_id: int, *, field: str | None = None
) -> Contact:
    """The contact, if the caller sees it (the admin, or an employee responsible for it).
    `field`: the id came in that field of a form or body, not the path, so a contact that does
    not exist is the field's 422 and every answer names the field."""
    contact = store.get_contact(contact_id)
    if contact is None:
        raise _missing("contact", field)
    if caller.employee is not None:
        _require(contact_verdict(caller.employee, contact), prefix=_named(field))
    return contact


def task_for(caller: Caller, store: Store, task_id: int, *, field: str | None = None) -> Task:
    """The task, if the caller sees it (the admin, or an employee it is assigned to or
    responsible for its contact); `field` as for `contact_for`."""
    task = store.get_task(task_id)
    if task is None:
        raise _missing("task", field)
    if caller.employee is not None:
        task_contact = store.get_contact(task.contact_id) if task.contact_id is not None else None
        _require(task_verdict(caller.employee, task, task_contact), prefix=_named(field))
    return task


def contact_comments_for(
    caller: Caller, store: Store, contact_id: int, *, include_hidden: bool
) -> list[Comment]:
    """A contact card's comments; hidden ones only with `include_hidden`, and for an employee
    only when they hear recordings."""
    if caller.employee is None:
        return store.list_comments(contact_id=contact_id, include_hidden=include_hidden)
    contact_for(caller, store, contact_id)
    hidden = include_hidden and caller.employee.hears_recordings
    return store.list_comments(contact_id=contact_id, include_hidden=hidden)


def task_comments_for(
    caller: Caller, store: Store, task_id: int, *, include_hidden: bool
) -> list[Comment]:
    """A task's comments; hidden ones as for a contact's."""
    if caller.employee is None:
        return store.list_comments(task_id=task_id, include_hidden=include_hidden)
    task_for(caller, store, task_id)
    hidden = include_hidden and caller.employee.hears_recordings
    return store.list_comments(task_id=task_id, include_hidden=hidden)


def call_comments_for(caller: Caller, store: Store, call_id: int) -> list[Comment]:
    """A call's comments, if the caller may hear the call (hidden ones: as for a contact's)."""
    call_for(caller, store, call_id)
    employee = caller.employee
    hidden = employee is None or employee.hears_recordings
    return store.list_comments(call_id=call_id, include_hidden=hidden)


def comment_author(caller: Caller, given: int | None) -> int:
    """Who writes a comment: an employee themselves, never someone else; the admin names them."""
    if caller.employee is None:
        if given is None:
            raise HTTPException(422, detail="author_employee_id: name the employee who writes it")
        return given
    if given is not None and given != caller.employee.id:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"employee {caller.employee.id} writes comments as themselves, "
            f"not as employee {given}",
        )
    return caller.employee.id


def _hearing(employee: Employee, store: Store, call_id: int) -> Verdict:
    place = store.call_place(call_id)
    if place is None:  # the call went in between: as if it never was
        raise HTTPException(404, detail="no such call")
    return hearing_verdict(employee, place)


def _require(verdict: Verdict, *, prefix: str = "") -> None:
    if not verdict.allowed:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=prefix + verdict.reason)


def _missing(kind: str, field: str | None) -> HTTPException:
    if field is None:
        return HTTPException(404, detail=f"no such {kind}")
    return HTTPException(422, detail=f"{field}: no such {kind}")


def _named(field: str | None) -> str:
    return "" if field is None else f"{field}: "
