"""Who may see what: the rights on contacts, tasks and the calls (with their recordings and
comments) that hang on them, decided here from records alone, so the rules read as one table.

- An employee sees a contact they are responsible for.
- An employee sees a task assigned to them, or whose contact they see.
- A call hangs where it is attached (`CallPlace`: its contact and/or task; before it is
  attached, the call's contact). An employee may hear it, its recording and its comments, when
  they see that contact or that task and, if it hangs there as a hidden comment, they also have
  the right to hear recordings.

The admin key is above these rules; the API does not ask them for it. Reasons name only the
ids of the call, contact, task and employee concerned, never what those hold.
"""

from __future__ import annotations

from dataclasses import dataclass

from crm.records import CallPlace, Contact, Employee, Task


@dataclass(frozen=True)
class Verdict:
    """Whether an employee may, and why, in a sentence for a person."""

    allowed: bool
    reason: str


def sees_contact(employee: Employee, contact: Contact) -> bool:
    return employee.id in contact.responsible_employee_ids


def sees_task(employee: Employee, task: Task, task_contact: Contact | None) -> bool:
    """`task_contact`: the task's contact (None when it has none)."""
    _check_task_contact(task, task_contact)
    if task.assignee_employee_id == employee.id:
        return True
    return task_contact is not None and sees_contact(employee, task_contact)


def contact_verdict(employee: Employee, contact: Contact) -> Verdict:
    if sees_contact(employee, contact):
        return Verdict(True, f"employee {employee.id} is responsible for contact {contact.id}")
    return Verdict(False, f"employee {employee.id} is not responsible for contact {contact.id}")


def task_verdict(employee: Employee, task: Task, task_contact: Contact | None) -> Verdict:
    if sees_task(employee, task, task_contact):
        return Verdict(True, _why_sees_task(employee, task, task_contact))
    return Verdict(False, f"employee {employee.id} is {_not_seeing_task(task, task_contact)}")


def hearing_verdict(employee: Employee, place: CallPlace) -> Verdict:
    """May the employee hear the call hanging at `place`: its recording and its comments."""
    contact, task = place.contact, place.task
    where = _where(place)
    if contact is None and task is None:
        return Verdict(False, f"call {place.call_id} hangs on no contact or task yet")
    sees = []
    if contact is not None and sees_contact(employee, contact):
        sees.append(f"employee {employee.id} is responsible for contact {contact.id}")
    if task is not None and sees_task(employee, task, place.task_contact):
        sees.append(_why_sees_task(employee, task, place.task_contact))
    if not sees:
        missing = []
        if contact is not None:
            missing.append(f"not responsible for contact {contact.id}")
        if task is not None:
            # its contact is named once, when it is the contact the call hangs on as well
            task_contact = place.task_contact
            if contact is not None and task_contact is not None and task_contact.id == contact.id:
                task_contact = None
            missing.append(_not_seeing_task(task, task_contact))
        return Verdict(
            False,
            f"call {place.call_id} hangs on {where}; employee {employee.id} is "
            + " and ".join(missing),
        )
    if place.hidden and not employee.hears_recordings:
        return Verdict(
            False,
            f"call {place.call_id} hangs on {where}, shown only to those who hear recordings; "
            f"employee {employee.id} does not hear recordings",
        )
    return Verdict(True, f"call {place.call_id} hangs on {where}; " + " and ".join(sees))


def _where(place: CallPlace) -> str:
    named = []
    if place.contact is not None:
        named.append(f"contact {place.contact.id}")
    if place.task is not None:
        named.append(f"task {place.task.id}")
    return " and ".join(named) + (" as a hidden comment" if place.hidden else "")


def _why_sees_task(employee: Employee, task: Task, task_contact: Contact | None) -> str:
    if task.assignee_employee_id == employee.id:
        return f"employee {employee.id} is the assignee of task {task.id}"
    assert task_contact is not None
    return f"employee {employee.id} is responsible for contact {task_contact.id} of task {task.id}"


def _not_seeing_task(task: Task, task_contact: Contact | None) -> str:
    not_assignee = f"not the assignee of task {task.id}"
    if task_contact is None:
        return not_assignee
    return f"{not_assignee} nor responsible for its contact {task_contact.id}"


def _check_task_contact(task: Task, task_contact: Contact | None) -> None:
    given = task_contact.id if task_contact is not None else None
    if given != task.contact_id:
        raise ValueError(f"task {task.id} is of contact {task.contact_id}, not {given}")
