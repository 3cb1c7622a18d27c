"""An employee's choice of task for a call, in the store, on SQLite and PostgreSQL alike: a call
hanging nowhere goes to the task; one the channel's rules hung openly on its contact moves to
that contact's task; one on a task already, hidden, or on another contact keeps its place."""

from __future__ import annotations

import pytest
from test_store_access import answered, answered_on

from crm import Channel, Store


@pytest.fixture
def channel(store: Store) -> Channel:
    return store.create_channel(provider="uis", name="UIS line")


def test_a_call_on_its_contact_moves_to_the_task_the_employee_picks(
    store: Store, channel: Channel
) -> None:
    call_id, contact_id = answered(store, channel, "s-1")
    quote = store.create_task(title="Quote", contact_id=contact_id)
    store.attach_call(call_id, mode="contact", contact_id=contact_id)  # the channel's rules

    place = store.hang_call_on_task(call_id, task_id=quote.id, mode="employee")
    assert (place.mode, place.contact_id, place.task_id) == ("employee", contact_id, quote.id)
    assert store.get_call_attachment(call_id) == place

    # once on a task, it stays there: a later choice gets the place back unchanged
    other = store.create_task(title="Delivery", contact_id=contact_id)
    again = store.hang_call_on_task(call_id, task_id=other.id, mode="employee")
    assert again.task_id == quote.id


def test_a_call_hanging_nowhere_goes_to_the_task(store: Store, channel: Channel) -> None:
    call_id = answered_on(store, channel, "s-2", None)
    task = store.create_task(title="From the call")
    place = store.hang_call_on_task(call_id, task_id=task.id, mode="employee")
    assert (place.contact_id, place.task_id) == (None, task.id)


def test_a_hidden_call_or_another_contacts_task_keeps_its_place(
    store: Store, channel: Channel
) -> None:
    hidden_id, contact_id = answered(store, channel, "s-3")
    task = store.create_task(title="Quote", contact_id=contact_id)
    store.attach_call(hidden_id, mode="contact", contact_id=contact_id, hidden=True)
    kept = store.hang_call_on_task(hidden_id, task_id=task.id, mode="employee")
    assert (kept.task_id, kept.hidden) == (None, True)

    open_id = answered_on(store, channel, "s-4", contact_id)
    store.attach_call(open_id, mode="contact", contact_id=contact_id)
    stranger, _ = store.find_or_create_contact(phone="+74957654321")
    strangers = store.create_task(title="Theirs", contact_id=stranger.id)
    kept = store.hang_call_on_task(open_id, task_id=strangers.id, mode="employee")
    assert (kept.contact_id, kept.task_id) == (contact_id, None)

    with pytest.raises(ValueError, match="no task with id"):
        store.hang_call_on_task(open_id, task_id=999_999, mode="employee")
    with pytest.raises(ValueError, match="no call with id"):
        store.hang_call_on_task(999_999, task_id=task.id, mode="employee")


def test_a_task_is_found_by_the_key_it_was_opened_with(store: Store) -> None:
    task = store.create_task(title="Send the quote", idempotency_key="call-time:k-1")
    assert store.find_task_by_key("call-time:k-1") == task
    assert store.find_task_by_key("call-time:k-2") is None
