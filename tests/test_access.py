"""The rights table of `policies.access`, from records alone: who sees a contact, a task, and who
may hear a call (its recording, its comments) where it hangs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crm import CallPlace, Contact, Employee, Task
from policies.access import contact_verdict, hearing_verdict, sees_contact, sees_task, task_verdict

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

# Anna is responsible for contact 10; Boris for contact 11; Carol is assigned task 20 (of
# contact 11) and task 21 (of no contact); Dmitry is nobody's.
ANNA, BORIS, CAROL, DMITRY = 1, 2, 3, 4


def employee(employee_id: int, *, hears: bool = False) -> Employee:
    return Employee(id=employee_id, name=f"employee {employee_id}", hears_recordings=hears)


def contact(contact_id: int, *responsibles: int) -> Contact:
    return Contact(
        id=contact_id,
        name="Ivan Petrov",
        phones=[],
        responsible_employee_ids=list(responsibles),
        created_at=T0,
    )


ANNAS = contact(10, ANNA)
BORISS = contact(11, BORIS)
DEAL = Task(
    id=20,
    title="deal",
    status="open",
    assignee_employee_id=CAROL,
    contact_id=11,
    created_at=T0,
    updated_at=T0,
)
ORPHAN = Task(
    id=21,
    title="loose end",
    status="open",
    assignee_employee_id=CAROL,
    created_at=T0,
    updated_at=T0,
)
# task 22: Anna's contact's, nobody assigned
ANNAS_TASK = Task(id=22, title="quote", status="open", contact_id=10, created_at=T0, updated_at=T0)

ON_CONTACT = CallPlace(call_id=7, contact=ANNAS)
ON_CONTACT_HIDDEN = CallPlace(call_id=7, contact=ANNAS, hidden=True)
ON_TASK = CallPlace(call_id=7, task=DEAL, task_contact=BORISS)
# latest_active_task: on the task and on its contact
ON_BOTH = CallPlace(call_id=7, contact=BORISS, task=DEAL, task_contact=BORISS)
PLACES = {
    "on Anna's contact": ON_CONTACT,
    "on Anna's contact, hidden": ON_CONTACT_HIDDEN,
    "on Carol's task of Boris's contact": ON_TASK,
    "on Carol's task of Boris's contact, hidden": CallPlace(
        call_id=7, task=DEAL, task_contact=BORISS, hidden=True
    ),
    "on Boris's contact and Carol's task of it": ON_BOTH,
    "on Carol's task of no contact": CallPlace(call_id=7, task=ORPHAN),
    "nowhere": CallPlace(call_id=7),
}
NOWHERE = PLACES["nowhere"]
NAMES = {ANNA: "Anna", BORIS: "Boris", CAROL: "Carol", DMITRY: "Dmitry"}

HEARING = [
    # on a contact: its responsibles
    ("on Anna's contact", ANNA, False, True),
    ("on Anna's contact", BORIS, True, False),
    ("on Anna's contact", CAROL, True, False),
    # as a hidden comment: its responsibles who also hear recordings
    ("on Anna's contact, hidden", ANNA, False, False),
    ("on Anna's contact, hidden", ANNA, True, True),
    ("on Anna's contact, hidden", DMITRY, True, False),
    # on a task: its assignee, and whoever sees the task's contact
    ("on Carol's task of Boris's contact", CAROL, False, True),
    ("on Carol's task of Boris's contact", BORIS, False, True),
    ("on Carol's task of Boris's contact", ANNA, True, False),
    ("on Carol's task of Boris's contact", DMITRY, True, False),
    ("on Carol's task of Boris's contact, hidden", CAROL, False, False),
    ("on Carol's task of Boris's contact, hidden", CAROL, True, True),
    ("on Carol's task of Boris's contact, hidden", BORIS, True, True),
    # on the task and its contact: either way in
    ("on Boris's contact and Carol's task of it", BORIS, False, True),
    ("on Boris's contact and Carol's task of it", CAROL, False, True),
    ("on Boris's contact and Carol's task of it", ANNA, True, False),
    # a task with no contact: its assignee only
    ("on Carol's task of no contact", CAROL, False, True),
    ("on Carol's task of no contact", ANNA, True, False),
    # hanging nowhere (no contact, no task): the admin key only
    ("nowhere", ANNA, True, False),
]


@pytest.mark.parametrize(
    ("where", "who", "hears", "allowed"),
    HEARING,
    ids=[
        f"{where}: {NAMES[who]}{' (hears recordings)' if hears else ''} "
        f"{'may' if allowed else 'may not'}"
        for where, who, hears, allowed in HEARING
    ],
)
def test_who_may_hear_a_call_where_it_hangs(
    where: str, who: int, hears: bool, allowed: bool
) -> None:
    verdict = hearing_verdict(employee(who, hears=hears), PLACES[where])

    assert verdict.allowed is allowed, verdict.reason
    assert "call 7" in verdict.reason


def test_a_refusal_says_where_the_call_hangs_and_why_the_employee_may_not_hear_it() -> None:
    assert hearing_verdict(employee(BORIS), ON_CONTACT).reason == (
        "call 7 hangs on contact 10; employee 2 is not responsible for contact 10"
    )
    assert hearing_verdict(employee(ANNA), ON_BOTH).reason == (
        "call 7 hangs on contact 11 and task 20; employee 1 is not responsible for contact 11 "
        "and not the assignee of task 20"
    )
    assert hearing_verdict(employee(ANNA), ON_TASK).reason == (
        "call 7 hangs on task 20; employee 1 is not the assignee of task 20 nor responsible for "
        "its contact 11"
    )
    assert hearing_verdict(employee(ANNA), ON_CONTACT_HIDDEN).reason == (
        "call 7 hangs on contact 10 as a hidden comment, shown only to those who hear "
        "recordings; employee 1 does not hear recordings"
    )
    assert hearing_verdict(employee(ANNA), NOWHERE).reason == (
        "call 7 hangs on no contact or task yet"
    )
    # nothing the contact holds: no name, no phone
    assert "Ivan" not in hearing_verdict(employee(BORIS), ON_CONTACT).reason


def test_a_grant_says_which_right_gave_it() -> None:
    assert hearing_verdict(employee(BORIS), ON_TASK).reason == (
        "call 7 hangs on task 20; employee 2 is responsible for contact 11 of task 20"
    )
    assert hearing_verdict(employee(CAROL), ON_BOTH).reason.endswith(
        "employee 3 is the assignee of task 20"
    )


@pytest.mark.parametrize(
    ("task", "task_contact", "who", "sees"),
    [
        (DEAL, BORISS, CAROL, True),  # the assignee
        (DEAL, BORISS, BORIS, True),  # responsible for its contact
        (DEAL, BORISS, ANNA, False),
        (ORPHAN, None, CAROL, True),
        (ORPHAN, None, DMITRY, False),
        (ANNAS_TASK, ANNAS, ANNA, True),  # nobody assigned: its contact's responsibles
        (ANNAS_TASK, ANNAS, CAROL, False),
    ],
    ids=[
        "its assignee",
        "responsible for its contact",
        "neither",
        "the assignee of a task of no contact",
        "anyone else, for a task of no contact",
        "nobody assigned: its contact's responsible",
        "nobody assigned: anyone else",
    ],
)
def test_who_sees_a_task(task: Task, task_contact: Contact | None, who: int, sees: bool) -> None:
    assert sees_task(employee(who), task, task_contact) is sees
    assert task_verdict(employee(who), task, task_contact).allowed is sees


def test_who_sees_a_contact() -> None:
    shared = contact(12, ANNA, BORIS)

    assert sees_contact(employee(ANNA), shared) and sees_contact(employee(BORIS), shared)
    assert not sees_contact(employee(CAROL), shared)
    assert contact_verdict(employee(CAROL), shared).reason == (
        "employee 3 is not responsible for contact 12"
    )
    assert contact_verdict(employee(ANNA), ANNAS).allowed


def test_a_task_judged_with_another_contact_than_its_own_is_a_mistake() -> None:
    with pytest.raises(ValueError, match="task 20 is of contact 11, not 10"):
        sees_task(employee(ANNA), DEAL, ANNAS)
    with pytest.raises(ValueError, match="not None"):
        sees_task(employee(CAROL), DEAL, None)
