"""What the channel's rules leave in the store, on SQLite and PostgreSQL alike: contacts made with
fields and responsibles, call-back tasks closed whatever order calls come in, a call attached
once, notifications once per call; and the rules' own matching (policies.call_rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from test_store_telephony import at_once

from contracts.messages import CallRecord
from crm import Channel, Store, Task
from policies.call_rules import CallFacts, RuleError, TaskConditions, render, task_rules

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CALLER = "+74951234567"


@pytest.fixture
def channel(store: Store) -> Channel:
    return store.create_channel(provider="uis", name="UIS line")


def call(store: Store, channel: Channel, session: str, kind: str, minutes: int) -> int:
    contact, _ = store.find_or_create_contact(phone=CALLER)
    stored, _ = store.save_call(
        CallRecord(
            channel_id=channel.id,
            session_id=session,
            provider="uis",
            kind=kind,
            direction="in",
            contact_id=contact.id,
            contact_phone=CALLER,
            started_at=T0 + timedelta(minutes=minutes),
        )
    )
    return stored.id


def call_back(store: Store, call_id: int) -> Task:
    contact = store.find_contact_by_phone(CALLER)
    assert contact is not None
    return store.create_task(
        title="Call back",
        contact_id=contact.id,
        call_id=call_id,
        closes_on_contact=True,
        idempotency_key=f"task-rule:{call_id}:call back",
    )


def test_a_new_contact_gets_its_fields_and_responsibles_and_a_found_one_keeps_its_own(
    store: Store,
) -> None:
    anna = store.create_employee(name="Anna")
    boris = store.create_employee(name="Boris")

    made, created = store.find_or_create_contact(
        phone=CALLER, fields={"source": "hotline"}, responsible_employee_ids=[boris.id, anna.id]
    )
    found, again = store.find_or_create_contact(
        phone=CALLER, fields={"source": "other"}, responsible_employee_ids=[anna.id]
    )

    assert (created, again) == (True, False)
    assert made.fields == found.fields == {"source": "hotline"}
    assert made.responsible_employee_ids == found.responsible_employee_ids == [boris.id, anna.id]
    with pytest.raises(ValueError, match="no employee with id 999"):
        store.find_or_create_contact(phone="+74957654321", responsible_employee_ids=[999])
    assert store.find_contact_by_phone("+74957654321") is None


def test_a_call_back_task_closes_on_the_first_answered_call_after_its_own(
    store: Store, channel: Channel
) -> None:
    earlier = call(store, channel, "answered-before", "call", 0)
    lost = call(store, channel, "lost", "missed", 10)
    task = call_back(store, lost)
    contact_id = task.contact_id
    assert contact_id is not None

    assert store.close_reached_tasks(contact_id) == []  # reached only before it was lost
    call(store, channel, "lost-again", "missed", 20)
    assert store.close_reached_tasks(contact_id) == []
    reached = call(store, channel, "answered-after", "call", 30)
    call(store, channel, "answered-later-still", "call", 40)
    [closed] = store.close_reached_tasks(contact_id)

    assert (closed.id, closed.status, closed.closed_by_call_id) == (task.id, "closed", reached)
    assert closed.closed_at is not None and earlier != reached
    assert store.close_reached_tasks(contact_id) == []  # once


def test_a_call_back_task_made_after_its_contact_was_reached_closes_at_once(
    store: Store, channel: Channel
) -> None:
    lost = call(store, channel, "lost", "missed", 10)
    reached = call(store, channel, "answered-after", "call", 30)

    task = call_back(store, lost)
    assert task.contact_id is not None
    [closed] = store.close_reached_tasks(task.contact_id)

    assert closed.closed_by_call_id == reached


def test_a_call_is_attached_once_even_by_racing_writers(store: Store, channel: Channel) -> None:
    call_id = call(store, channel, "answered", "call", 0)
    contact = store.find_contact_by_phone(CALLER)
    assert contact is not None
    ticket = store.create_task(title="ticket", contact_id=contact.id)
    other = store.create_task(title="other", contact_id=contact.id)
    store.set_call_origin_task(call_id, ticket.id)
    assert store.get_call_attachment(call_id) is not None

    attached = at_once(
        6,
        lambda i: store.attach_call(
            call_id,
            mode="origin_task" if i % 2 else "latest_active_task",
            contact_id=contact.id,
            task_id=ticket.id if i % 2 else other.id,
            hidden=True,
            comment_text=f"writer {i}",
        ),
    )

    assert len({(a.mode, a.task_id, a.comment_id) for a in attached}) == 1
    first = attached[0]
    assert first.origin_task_id == ticket.id and first.hidden
    hidden = store.list_comments(task_id=first.task_id)
    assert [comment.id for comment in hidden] == [first.comment_id]
    assert store.list_comments(task_id=first.task_id, include_hidden=False) == []
    stored = store.get_call(call_id)
    assert stored is not None and stored.attachment == first


def test_each_employee_is_told_of_a_missed_call_once(store: Store, channel: Channel) -> None:
    anna = store.create_employee(name="Anna")
    boris = store.create_employee(name="Boris")
    call_id = call(store, channel, "lost", "missed", 0)

    told = at_once(
        4,
        lambda _: store.add_notifications(
            kind="missed_call",
            text="Missed call",
            employee_ids=[anna.id, boris.id],
            call_id=call_id,
        ),
    )

    assert len({tuple(n.id for n in batch) for batch in told}) == 1
    assert [n.call_id for n in store.list_notifications(employee_id=anna.id)] == [call_id]
    assert len(store.list_notifications(call_id=call_id)) == 2


# -- policies.call_rules, pure -----------------------------------------------------------------


FACTS = CallFacts(
    kind="missed",
    direction="in",
    line_name="Hotline",
    virtual_number="+74950000001",
    employee_id=None,
    new_contact=True,
)


@pytest.mark.parametrize(
    ("line", "matches"),
    [
        ("Hotline", True),
        ("hotline", True),
        ("+7 (495) 000-00-01", True),
        ("8 495 000 00 01", True),
        ("74950000001", True),
        ("Support", False),
        ("+7 495 000-00-02", False),
    ],
)
def test_a_rule_names_a_line_by_name_or_by_number_in_any_formatting(
    line: str, matches: bool
) -> None:
    [rule] = task_rules({"task_rules": [{"title": "x", "when": {"line": line}}]})
    assert rule.matches(FACTS) is matches


def test_task_conditions_match_status_type_assignee_and_fields() -> None:
    task = Task(
        id=1,
        title="deal",
        status="open",
        type="deal",
        assignee_employee_id=7,
        fields={"stage": "won", "city": "Moscow"},
        created_at=T0,
        updated_at=T0,
    )
    conditions = TaskConditions(
        statuses=("open",), types=("deal",), assignees=("responsible",), fields={"stage": "won"}
    )

    assert conditions.matches(task, responsible_ids=[7], employee_id=None)
    assert not conditions.matches(task, responsible_ids=[8], employee_id=None)
    assert TaskConditions(assignees=("employee", 9)).matches(
        task, responsible_ids=[], employee_id=7
    )
    assert not TaskConditions(fields={"stage": "lost"}).matches(
        task, responsible_ids=[7], employee_id=7
    )


def test_templates_are_sandboxed_and_render_none_as_nothing() -> None:
    assert render("Call back {{ contact }}{{ name }}", {"contact": "Ivan", "name": None}) == (
        "Call back Ivan"
    )
    with pytest.raises(RuleError, match="unsafe"):
        render("{{ ''.__class__.__mro__ }}", {})
