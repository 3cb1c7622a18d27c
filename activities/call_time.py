"""The activity that applies what an employee did with a call (`contracts.call_time`) to the
store: the comment on the call (and where it hangs), the call hung on a task or on a new task
made from it, the caller's contact made or given a name and fields."""

from __future__ import annotations

from temporalio import activity

from contracts.call_time import CallTimeAction, CallTimeAnswer, CallTimeInput, CallTimeRefusal
from crm import Contact, ContactPhone, Store, StoredCall
from crm.contact_edits import ContactChange

ATTACH_MODE = "employee"
# What each kind of action was, as the refusal on the call's page names it.
_WHAT = {
    "comment": "a comment",
    "attach_task": "the call attached to task {task_id}",
    "create_task": 'a task "{title}"',
    "contact": "the caller's contact",
}


class CallTimeActivities:
    """Bound to one `Store` (sync, run in the worker's thread pool)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @activity.defn
    def apply_call_time_action(self, data: CallTimeInput) -> CallTimeAnswer:
        """Apply one action; ValueError (not retried) for what the store refuses."""
        kind = data.action.kind
        if kind == "contact":
            contact = self._contact(data)
            return CallTimeAnswer(False, call_id=data.call_id, contact_id=contact.id)
        if data.call_id is None:
            raise ValueError(f"a {kind} needs the call written first")
        call = self._store.get_call(data.call_id)
        if call is None:
            raise ValueError(f"no call with id {data.call_id}")
        if kind == "comment":
            return self._comment(data, call)
        return self._attach(data, call)

    @activity.defn
    def note_refused_action(self, refusal: CallTimeRefusal) -> int:
        """Say on the call, as pbxhub, what of an employee's action was not applied and why (the
        employee was answered "pending"); the comment's id. Once per action."""
        action = refusal.action
        who = self._store.employee_names([action.employee_id]) if action.employee_id else {}
        by = who.get(action.employee_id or 0) or "the admin"
        what = _WHAT.get(action.kind, action.kind).format(
            task_id=action.task_id, title=action.title
        )
        comment = self._store.add_comment(
            text=f"Not applied: {what}, asked by {by} during the call: {refusal.reason}",
            call_id=refusal.call_id,
            idempotency_key=f"call-time-refused:{action.key}",
        )
        return comment.id

    def _comment(self, data: CallTimeInput, call: StoredCall) -> CallTimeAnswer:
        action = data.action
        place = self._store.get_call_attachment(call.id)
        task_id = place.task_id if place is not None and place.attached_at else None
        comment = self._store.add_comment(
            text=action.text or "",
            call_id=call.id,
            task_id=task_id,
            contact_id=call.contact_id if task_id is None else None,
            author_employee_id=action.employee_id,
            idempotency_key=f"call-time:{action.key}",
        )
        return CallTimeAnswer(
            False,
            call_id=call.id,
            contact_id=call.contact_id,
            task_id=task_id,
            comment_id=comment.id,
        )

    def _attach(self, data: CallTimeInput, call: StoredCall) -> CallTimeAnswer:
        """The call hung on the task named (one of its contact's), or on a new one made from it."""
        action = data.action
        if action.kind == "attach_task":
            found = self._store.get_task(action.task_id or 0)
            if found is None:
                raise ValueError(f"no task with id {action.task_id}")
            if found.contact_id != call.contact_id:
                raise ValueError(f"task {found.id} is not a task of the call's contact")
            task = found
        self._check_free(call, action)
        if action.kind == "create_task":
            task = self._store.create_task(
                title=action.title or "Call",
                description=action.text or None,
                assignee_employee_id=action.employee_id,
                contact_id=call.contact_id,
                call_id=call.id,
                idempotency_key=f"call-time:{action.key}",
            )
        place = self._store.hang_call_on_task(call.id, task_id=task.id, mode=ATTACH_MODE)
        if place.task_id != task.id:
            where = f"task {place.task_id}" if place.task_id else f"contact {place.contact_id}"
            raise ValueError(f"the call already hangs on {where}")
        return CallTimeAnswer(False, call_id=call.id, contact_id=call.contact_id, task_id=task.id)

    def _check_free(self, call: StoredCall, action: CallTimeAction) -> None:
        """Refuse before a task is made that the call could not hang on: it is on another task
        already, or hidden on its contact (a retry of this very action passes)."""
        place = self._store.get_call_attachment(call.id)
        if place is None or place.attached_at is None:
            return
        if place.task_id is not None:
            mine = action.task_id
            if action.kind == "create_task":
                made = self._store.find_task_by_key(f"call-time:{action.key}")
                mine = made.id if made else None
            if place.task_id != mine:
                raise ValueError(f"the call already hangs on task {place.task_id}")
        elif place.hidden:
            raise ValueError(f"the call hangs on contact {place.contact_id} as a hidden comment")

    def _contact(self, data: CallTimeInput) -> Contact:
        """The caller's contact with the name and fields given (added to its own), made for the
        caller's number if there is none yet, the acting employee responsible for it."""
        action = data.action
        contact: Contact | None = None
        if data.call_id is not None:
            call = self._store.get_call(data.call_id)
            if call is not None and call.contact_id is not None:
                contact = self._store.get_contact(call.contact_id)
        if contact is None and data.contact_phone:
            contact = self._store.find_contact_by_phone(data.contact_phone)
        if contact is None:
            if not data.contact_phone:
                raise ValueError("the caller's number is unknown: no contact to make")
            return self._store.create_contact(
                name=action.name,
                phones=[ContactPhone(phone=data.contact_phone, raw=data.contact_phone_raw)],
                fields=action.fields,
                responsible_employee_ids=[action.employee_id] if action.employee_id else [],
            )
        change = ContactChange(
            name=action.name or None,
            fields={**contact.fields, **action.fields} if action.fields else None,
        )
        changed = self._store.change_contact(contact.id, change)
        if changed is None:
            raise ValueError(f"no contact with id {contact.id}")
        return changed
