"""What the generic telephony API keeps in the store: working hours, groups, tasks, comments,
recordings and calls opened before they end; on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import downgrade_to
from threads import at_once

from contracts.messages import CallRecord
from crm import CallFilter, Channel, Employee, EmployeeLink, Store, check_working_hours
from policies.working_hours import is_working_at

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CALLER = "+74951234567"
OFFICE_HOURS = {
    "timezone": "Europe/Moscow",
    "days": {day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
}


@pytest.fixture
def channel(store: Store) -> Channel:
    return store.create_channel(
        provider="telephony_api", name="API line", settings={"default_department": "Sales"}
    )


@pytest.fixture
def anna(store: Store, channel: Channel) -> Employee:
    return store.create_employee(
        name="Anna", links=[EmployeeLink(channel.id, extension="101", pbx_user_id="u-1")]
    )


@pytest.fixture
def boris(store: Store) -> Employee:
    return store.create_employee(name="Boris")


def active_call(channel: Channel, session_id: str = "api-1", **fields: Any) -> CallRecord:
    values: dict[str, Any] = {
        "channel_id": channel.id,
        "session_id": session_id,
        "provider": channel.provider,
        "kind": "active",
        "direction": "in",
        "contact_phone": CALLER,
        "started_at": T0,
    }
    values.update(fields)
    return CallRecord(**values)


# -- working hours --------------------------------------------------------------------------


def test_an_employees_working_hours_are_kept_and_replaced(store: Store) -> None:
    created = store.create_employee(name="Anna", working_hours=OFFICE_HOURS)
    assert created.working_hours == OFFICE_HOURS
    assert store.get_employee(created.id) == created
    assert store.create_employee(name="Boris").working_hours is None

    weekends = {"timezone": "Asia/Yekaterinburg", "days": {"sat": [["10:00", "14:00"]]}}
    changed = store.set_working_hours(created.id, weekends)
    assert changed is not None and changed.working_hours == weekends
    assert store.get_employee(created.id) == changed
    cleared = store.set_working_hours(created.id, None)
    assert cleared is not None and cleared.working_hours is None
    assert store.set_working_hours(9999, OFFICE_HOURS) is None


@pytest.mark.parametrize(
    ("hours", "complaint"),
    [
        ({"timezone": "Mars/Olympus", "days": {}}, "Mars/Olympus"),
        ({"days": {}}, "timezone"),
        ({"timezone": "UTC", "days": {"monday": []}}, "monday"),
        ({"timezone": "UTC", "days": {"mon": [["9:00", "18:00"]]}}, r"days.mon\[0\]"),
        ({"timezone": "UTC", "days": {"mon": [["18:00", "09:00"]]}}, "before it ends"),
        ({"timezone": "UTC", "days": {"mon": ["09:00-18:00"]}}, r"days.mon\[0\]"),
        ({"timezone": "UTC", "days": {"mon": []}, "holidays": []}, "holidays"),
    ],
)
def test_working_hours_of_another_shape_are_refused(
    store: Store, hours: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        store.create_employee(name="Anna", working_hours=hours)
    someone = store.create_employee(name="Boris")
    with pytest.raises(ValueError, match=complaint):
        store.set_working_hours(someone.id, hours)
    assert store.list_employees() == [someone]


def test_a_moment_is_in_working_hours_by_the_schedules_own_zone() -> None:
    hours = check_working_hours({**OFFICE_HOURS, "days": {"mon": [["09:00", "18:00"]]}})
    monday_moscow_0859 = datetime(2026, 3, 2, 5, 59, tzinfo=UTC)
    assert not is_working_at(hours, monday_moscow_0859)
    assert is_working_at(hours, monday_moscow_0859 + timedelta(minutes=1))
    assert not is_working_at(hours, datetime(2026, 3, 2, 15, 0, tzinfo=UTC))  # 18:00 Moscow
    assert not is_working_at(hours, datetime(2026, 3, 3, 8, 0, tzinfo=UTC))  # Tuesday: off


# -- groups ---------------------------------------------------------------------------------


def test_groups_hold_each_employee_once(store: Store, anna: Employee, boris: Employee) -> None:
    sales = store.create_group(name="Sales", employee_ids=[anna.id, anna.id])
    support = store.create_group(name="Support")
    assert sales.employee_ids == [anna.id]
    assert support.employee_ids == []

    added = store.add_to_group(support.id, boris.id)
    assert added is not None and added.employee_ids == [boris.id]
    again = store.add_to_group(support.id, boris.id)
    assert again == added
    assert store.add_to_group(9999, boris.id) is None
    assert store.list_groups() == [sales, added]
    assert store.get_group(sales.id) == sales
    assert store.employees_in_groups([support.id, sales.id]) == [anna, boris]
    assert store.add_to_group(sales.id, boris.id) is not None
    assert store.employees_in_groups([support.id, sales.id]) == [anna, boris]


def test_a_group_of_unknown_people_or_an_unknown_group_is_refused(
    store: Store, anna: Employee
) -> None:
    with pytest.raises(ValueError, match="no employee with id 9999"):
        store.create_group(name="Ghosts", employee_ids=[anna.id, 9999])
    sales = store.create_group(name="Sales", employee_ids=[anna.id])
    with pytest.raises(ValueError, match="no employee with id 9999"):
        store.add_to_group(sales.id, 9999)
    with pytest.raises(ValueError, match="no group with id 9999"):
        store.employees_in_groups([sales.id, 9999])
    assert store.list_groups() == [sales]


# -- calls opened before they end -----------------------------------------------------------


def test_an_opened_call_becomes_the_finished_one_and_is_never_reopened(
    store: Store, channel: Channel, anna: Employee
) -> None:
    opened, created = store.open_call(active_call(channel))
    assert created and opened.kind == "active" and opened.status is None
    again, created_again = store.open_call(active_call(channel, direction="out"))
    assert (again, created_again) == (opened, False)

    ringing = store.set_call_status(opened.id, "ringing", employee_id=anna.id)
    assert ringing is not None
    assert (ringing.status, ringing.employee_id) == ("ringing", anna.id)
    finished, created = store.save_call(
        active_call(channel, kind="call", answered_at=T0 + timedelta(seconds=5))
    )
    assert not created and finished.id == opened.id
    # The finished call keeps the employee and status the API gave it.
    assert (finished.kind, finished.employee_id, finished.status) == ("call", anna.id, "ringing")

    reopened, _ = store.open_call(active_call(channel))
    assert reopened == store.get_call(opened.id)
    assert reopened.kind == "call"
    assert store.set_call_status(9999, "answered") is None
    with pytest.raises(ValueError, match="no employee with id 9999"):
        store.set_call_status(opened.id, "answered", employee_id=9999)


def test_threads_opening_one_call_leave_one_row(store: Store, channel: Channel) -> None:
    results = at_once(8, lambda _: store.open_call(active_call(channel)))

    assert len({call.id for call, _ in results}) == 1
    assert sum(created for _, created in results) == 1


def test_active_calls_are_neither_calls_nor_missed_calls(store: Store, channel: Channel) -> None:
    store.open_call(active_call(channel))

    assert store.list_calls(CallFilter(kind="call")) == []
    assert store.list_calls(CallFilter(kind="missed")) == []
    assert store.count_calls(CallFilter(kind="active")) == 1


# -- tasks and comments ---------------------------------------------------------------------


def test_a_task_about_a_call_is_created_once_per_key(
    store: Store, channel: Channel, anna: Employee
) -> None:
    call, _ = store.open_call(active_call(channel))
    contact, _ = store.find_or_create_contact(phone=CALLER)
    task = store.create_task(
        title="Incoming call from +74951234567",
        department="Sales",
        assignee_employee_id=anna.id,
        contact_id=contact.id,
        call_id=call.id,
        idempotency_key="ticket-1",
    )
    assert task.status == "open"
    assert (task.department, task.assignee_employee_id) == ("Sales", anna.id)
    assert (task.contact_id, task.call_id) == (contact.id, call.id)
    assert task.created_at == task.updated_at and task.created_at.tzinfo == UTC
    assert store.create_task(title="again", idempotency_key="ticket-1") == task
    assert store.get_task(task.id) == task
    assert store.get_task(9999) is None


def test_threads_creating_one_keyed_task_leave_one(store: Store) -> None:
    tasks = at_once(8, lambda i: store.create_task(title=f"t{i}", idempotency_key="same"))

    assert len({task.id for task in tasks}) == 1
    assert len(store.list_tasks()) == 1


def test_tasks_are_listed_newest_first_and_filtered(
    store: Store, channel: Channel, anna: Employee, boris: Employee
) -> None:
    call, _ = store.open_call(active_call(channel))
    first = store.create_task(title="first", assignee_employee_id=anna.id, call_id=call.id)
    second = store.create_task(title="second", assignee_employee_id=boris.id)
    closed = store.update_task(second.id, status="closed")
    assert closed is not None and closed.status == "closed"

    assert store.list_tasks() == [closed, first]
    assert store.list_tasks(status="open") == [first]
    assert store.list_tasks(assignee_employee_id=boris.id) == [closed]
    assert store.list_tasks(call_id=call.id) == [first]
    assert store.list_tasks(limit=1, offset=1) == [first]
    reassigned = store.update_task(first.id, assignee_employee_id=boris.id)
    assert reassigned is not None and reassigned.assignee_employee_id == boris.id
    assert store.update_task(9999, status="closed") is None


def test_a_task_referring_to_nothing_or_in_an_unknown_status_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="no employee with id 9999"):
        store.create_task(title="x", assignee_employee_id=9999)
    with pytest.raises(ValueError, match="no call with id 9999"):
        store.create_task(title="x", call_id=9999)
    task = store.create_task(title="x")
    with pytest.raises(ValueError, match="'done'"):
        store.update_task(task.id, status="done")
    assert store.list_tasks() == [task]


def test_comments_hang_on_a_task_and_a_call_once_per_key(store: Store, channel: Channel) -> None:
    call, _ = store.open_call(active_call(channel))
    task = store.create_task(title="x", call_id=call.id)
    start = store.add_comment(text="start", task_id=task.id, call_id=call.id, idempotency_key="k1")
    assert store.add_comment(text="start", task_id=task.id, idempotency_key="k1") == start
    missed = store.add_comment(text="missed", task_id=task.id)
    on_call = store.add_comment(text="only the call", call_id=call.id)

    assert store.list_comments(task_id=task.id) == [start, missed]
    assert store.list_comments(call_id=call.id) == [start, on_call]
    with pytest.raises(ValueError, match="neither"):
        store.add_comment(text="nowhere")
    with pytest.raises(ValueError, match="no task with id 9999"):
        store.add_comment(text="x", task_id=9999)


# -- recordings -----------------------------------------------------------------------------


def test_a_recording_is_kept_once_per_call_and_content(store: Store, channel: Channel) -> None:
    call, _ = store.open_call(active_call(channel))
    digest = hashlib.sha256(b"ID3 audio").hexdigest()
    recording, created = store.add_recording(
        call_id=call.id,
        storage="local",
        location=f"{digest}.mp3",
        content_type="audio/mpeg",
        size=9,
        sha256=digest.upper(),
    )
    assert created
    assert (recording.sha256, recording.size, recording.source_url) == (digest, 9, None)
    again, created_again = store.add_recording(
        call_id=call.id,
        storage="local",
        location="elsewhere.mp3",
        content_type="audio/mpeg",
        size=9,
        sha256=digest,
    )
    assert (again, created_again) == (recording, False)
    assert store.list_recordings(call.id) == [recording]
    assert store.find_recording(digest) == recording
    assert store.find_recording("0" * 64) is None
    with pytest.raises(ValueError, match="no call with id 9999"):
        store.add_recording(
            call_id=9999,
            storage="local",
            location="x.mp3",
            content_type="audio/mpeg",
            size=1,
            sha256=digest,
        )
    with pytest.raises(ValueError, match="SHA-256"):
        store.add_recording(
            call_id=call.id,
            storage="local",
            location="x.mp3",
            content_type="audio/mpeg",
            size=1,
            sha256="not-a-digest",
        )


# -- schema ---------------------------------------------------------------------------------


def test_the_telephony_revision_downgrades_and_upgrades_again(
    store: Store, database_url: str, anna: Employee
) -> None:
    store.close()

    schema = downgrade_to(database_url, "0001")

    assert not set(schema.columns) & {"groups", "group_members", "tasks", "comments", "recordings"}
    assert "working_hours" not in schema.columns["employees"]

    again = Store(database_url)
    try:
        again.migrate()
        assert again.get_employee(anna.id) == anna
        assert again.list_tasks() == []
    finally:
        again.close()
