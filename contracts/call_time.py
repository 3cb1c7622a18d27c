"""What an employee does with a call while it lasts (or soon after), handed to the call's
workflow as an update: a comment, the call attached to a task or a task made from it, the
caller's contact made or changed. The workflow applies each once the call is written.

Standard library only (and our dataclasses): the workflow imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

CALL_TIME_UPDATE: Final = "call_time_action"
# What an action may do; each names the fields it reads.
KINDS: Final = ("comment", "attach_task", "create_task", "contact")
# The kinds that need the call written (they hang on it); "contact" is applied at once (still
# answered pending until the call is written with it).
ON_THE_CALL: Final = ("comment", "attach_task", "create_task")


@dataclass(frozen=True)
class CallTimeAction:
    """One employee's action on a call, already checked by the API.

    `key` makes it idempotent (the update's id and the written comment's or task's key);
    `employee_id` is who acts (None: the admin). "comment": `text`. "attach_task": `task_id`.
    "create_task": `title` (and `text`, its description). "contact": `name` and `fields`
    (added to the caller's contact's, or a new contact for the caller's number).
    """

    key: str
    kind: str
    employee_id: int | None = None
    text: str | None = None
    task_id: int | None = None
    title: str | None = None
    name: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    # The API found the call written already: the workflow answers once it knows its id (a run
    # started to amend it looks it up first), not "pending".
    call_written: bool = False


@dataclass(frozen=True)
class CallTimeInput:
    """An action as the activity applies it: on the written call, or on the caller's number."""

    action: CallTimeAction
    call_id: int | None
    contact_phone: str | None
    contact_phone_raw: str | None = None


@dataclass(frozen=True)
class CallTimeAnswer:
    """What became of an action: `pending` until the call is written (then it is applied by
    the workflow); else the ids it wrote or touched."""

    pending: bool
    call_id: int | None = None
    contact_id: int | None = None
    task_id: int | None = None
    comment_id: int | None = None


@dataclass(frozen=True)
class CallTimeRefusal:
    """An action answered "pending" that the store refused once the call was written: said on
    the call (its page) by pbxhub, with the store's reason."""

    action: CallTimeAction
    call_id: int
    reason: str
