"""What the store keeps for access, on SQLite and PostgreSQL alike: employees' API tokens (their
SHA-256 only), the right to hear recordings, where a call hangs for the rights check, and every
call a recorded file belongs to; and the revision that adds them, down and up again."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from conftest import downgrade_to
from sqlalchemy import text

from contracts.messages import CallRecord
from crm import CallFilter, Channel, Store
from crm.records import CallPlace
from crm.store.engine import make_engine
from policies.access import hearing_verdict

CALLER = "+74951234567"
AUDIO = b"ID3" + bytes(range(256))


@pytest.fixture
def channel(store: Store) -> Channel:
    return store.create_channel(provider="uis", name="UIS line")


def answered(store: Store, channel: Channel, session: str, phone: str = CALLER) -> tuple[int, int]:
    """An answered call with a contact: (call id, contact id)."""
    contact, _ = store.find_or_create_contact(phone=phone)
    return answered_on(store, channel, session, contact.id, phone), contact.id


def answered_on(
    store: Store, channel: Channel, session: str, contact_id: int | None, phone: str | None = None
) -> int:
    """An answered inbound call of that contact (or of none): its id."""
    call, _ = store.save_call(
        CallRecord(
            channel_id=channel.id,
            session_id=session,
            provider="uis",
            kind="call",
            direction="in",
            contact_id=contact_id,
            contact_phone=phone,
        )
    )
    return call.id


def kept_digests(database_url: str) -> list[str | None]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT token_sha256 FROM employees ORDER BY id"))
            return [row[0] for row in rows]
    finally:
        engine.dispose()


# -- tokens and the right to hear recordings --------------------------------------------------


def test_a_token_finds_its_employee_and_only_its_sha256_is_kept(
    store: Store, database_url: str
) -> None:
    anna = store.create_employee(name="Anna")
    boris = store.create_employee(name="Boris")

    token = store.issue_token(anna.id)

    assert token is not None and len(token) >= 40
    assert store.employee_by_token(token) == anna
    assert kept_digests(database_url) == [hashlib.sha256(token.encode()).hexdigest(), None]
    assert store.employee_by_token(hashlib.sha256(token.encode()).hexdigest()) is None
    assert store.employee_by_token(token[:-1]) is None
    assert store.employee_by_token("") is None
    assert store.get_employee(boris.id) == boris


def test_issuing_again_replaces_the_token_and_revoking_forgets_it(store: Store) -> None:
    anna = store.create_employee(name="Anna")
    first = store.issue_token(anna.id)
    second = store.issue_token(anna.id)
    assert first is not None and second is not None and first != second

    assert store.employee_by_token(first) is None
    assert store.employee_by_token(second) == anna
    assert store.revoke_token(anna.id) is True
    assert store.employee_by_token(second) is None
    assert store.revoke_token(anna.id) is False  # nothing left to revoke
    assert store.issue_token(9999) is None and store.revoke_token(9999) is None


def test_a_token_issued_for_a_time_opens_until_then_and_not_after(store: Store) -> None:
    anna = store.create_employee(name="Anna")
    expires = datetime.now(UTC) + timedelta(days=30)

    token = store.issue_token(anna.id, expires_at=expires)

    assert token is not None
    found = store.employee_by_token(token)
    assert found is not None and found.token_expires_at == expires
    assert store.get_employee(anna.id) == found
    assert store.employee_by_token(token, now=expires - timedelta(seconds=1)) == found
    assert store.employee_by_token(token, now=expires) is None
    # issued again without a time, the new one lasts until revoked
    lasting = store.issue_token(anna.id)
    assert lasting is not None
    assert store.employee_by_token(token) is None
    later = expires + timedelta(days=3650)
    found = store.employee_by_token(lasting, now=later)
    assert found is not None and found.token_expires_at is None
    # revoked, nothing of it stays
    store.issue_token(anna.id, expires_at=expires)
    assert store.revoke_token(anna.id) is True
    assert store.get_employee(anna.id) == found


def test_a_token_cannot_be_issued_to_expire_in_the_past_or_in_no_time_zone(store: Store) -> None:
    anna = store.create_employee(name="Anna")
    token = store.issue_token(anna.id)

    with pytest.raises(ValueError, match="not in the future"):
        store.issue_token(anna.id, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    with pytest.raises(ValueError, match="naive"):
        store.issue_token(anna.id, expires_at=datetime(2030, 1, 1))
    assert token is not None and store.employee_by_token(token) == anna  # nothing changed


def test_tokens_of_two_employees_never_name_the_other(store: Store) -> None:
    anna = store.create_employee(name="Anna")
    boris = store.create_employee(name="Boris")
    tokens = {employee.id: store.issue_token(employee.id) for employee in (anna, boris)}

    for employee in (anna, boris):
        token = tokens[employee.id]
        assert token is not None and store.employee_by_token(token) == employee


def test_the_right_to_hear_recordings_is_off_unless_given(store: Store) -> None:
    anna = store.create_employee(name="Anna")
    boris = store.create_employee(name="Boris", hears_recordings=True)
    assert (anna.hears_recordings, boris.hears_recordings) == (False, True)

    given = store.set_hears_recordings(anna.id, True)
    taken = store.set_hears_recordings(boris.id, False)

    assert given is not None and given.hears_recordings
    assert taken is not None and not taken.hears_recordings
    assert [e.hears_recordings for e in store.list_employees()] == [True, False]
    assert store.set_hears_recordings(9999, True) is None


# -- where a call hangs ---------------------------------------------------------------------


def test_a_call_hangs_on_its_contact_until_it_is_attached_then_where_it_was_attached(
    store: Store, channel: Channel
) -> None:
    anna = store.create_employee(name="Anna")
    call_id, contact_id = answered(store, channel, "s1")
    store.set_contact_responsibles(contact_id, [anna.id])
    other, _ = store.find_or_create_contact(phone="+74957654321")
    ticket = store.create_task(title="ticket", contact_id=other.id)

    place = store.call_place(call_id)
    assert place is not None
    assert place.contact is not None and place.contact.id == contact_id
    assert place.contact.responsible_employee_ids == [anna.id]
    assert (place.task, place.task_contact, place.hidden) == (None, None, False)

    # known to come from a task, not attached yet: still on its contact
    store.set_call_origin_task(call_id, ticket.id)
    place = store.call_place(call_id)
    assert place is not None and place.task is None
    assert place.contact is not None and place.contact.id == contact_id

    store.attach_call(call_id, mode="origin_task", task_id=ticket.id, hidden=True)
    place = store.call_place(call_id)
    assert place is not None
    assert place.contact is None
    assert place.task == store.get_task(ticket.id)
    assert place.task_contact == store.get_contact(other.id)
    assert place.hidden is True
    assert store.call_place(9999) is None


def test_a_call_attached_to_a_task_and_its_contact_hangs_on_both(
    store: Store, channel: Channel
) -> None:
    call_id, contact_id = answered(store, channel, "s1")
    task = store.create_task(title="deal", contact_id=contact_id)
    store.attach_call(call_id, mode="latest_active_task", contact_id=contact_id, task_id=task.id)

    place = store.call_place(call_id)

    assert place is not None and place.call_id == call_id
    contact = store.get_contact(contact_id)
    assert (place.contact, place.task, place.task_contact) == (contact, task, contact)
    assert place.hidden is False


def test_an_employee_lists_exactly_the_calls_the_rights_table_lets_them_hear(
    store: Store, channel: Channel
) -> None:
    anna = store.create_employee(name="Anna")
    boris = store.create_employee(name="Boris")
    vera = store.create_employee(name="Vera", hears_recordings=True)
    gleb = store.create_employee(name="Gleb")
    a, _ = store.find_or_create_contact(phone="+74950000001")
    b, _ = store.find_or_create_contact(phone="+74950000002")
    c, _ = store.find_or_create_contact(phone="+74950000003")
    store.set_contact_responsibles(a.id, [anna.id])
    store.set_contact_responsibles(b.id, [vera.id])
    deal = store.create_task(title="deal", contact_id=b.id, assignee_employee_id=boris.id)

    def call(session: str, contact_id: int | None) -> int:
        return answered_on(store, channel, session, contact_id)

    on_a = call("on A", a.id)
    on_b = call("on B", b.id)
    on_c_attached_to_deal = call("on C, attached to the deal", c.id)
    store.attach_call(on_c_attached_to_deal, mode="new_task", task_id=deal.id)
    hidden_on_deal = call("on A, hidden on the deal", a.id)
    store.attach_call(hidden_on_deal, mode="new_task", task_id=deal.id, hidden=True)
    made_from_deal = call("on A, made from the deal, not attached yet", a.id)
    store.set_call_origin_task(made_from_deal, deal.id)
    on_c = call("on C", c.id)
    on_a_and_deal = call("on A and the deal", a.id)
    store.attach_call(on_a_and_deal, mode="latest_active_task", contact_id=a.id, task_id=deal.id)
    nowhere = call("no contact", None)
    everyone = [
        on_a,
        on_b,
        on_c_attached_to_deal,
        hidden_on_deal,
        made_from_deal,
        on_c,
        on_a_and_deal,
        nowhere,
    ]

    expected = {
        anna.id: {on_a, made_from_deal, on_a_and_deal},
        boris.id: {on_c_attached_to_deal, on_a_and_deal},  # not the hidden one
        vera.id: {on_b, on_c_attached_to_deal, hidden_on_deal, on_a_and_deal},
        gleb.id: set(),
    }
    for employee in (anna, boris, vera, gleb):
        place_of = store.call_place
        by_verdict = {
            call_id
            for call_id in everyone
            if hearing_verdict(employee, _placed(place_of(call_id))).allowed
        }
        listed = [listed.id for listed in store.list_calls(CallFilter(heard_by=employee))]
        page, total = store.page_calls(CallFilter(heard_by=employee), limit=2)
        assert set(listed) == by_verdict == expected[employee.id], employee.name
        assert len(listed) == len(set(listed)) == total
        assert store.count_calls(CallFilter(heard_by=employee)) == total
        assert [p.id for p in page] == listed[:2]
    # the other filters still apply on top of the rights
    assert [x.id for x in store.list_calls(CallFilter(heard_by=vera, contact_id=b.id))] == [on_b]
    assert len(store.list_calls()) == len(everyone)


def _placed(place: CallPlace | None) -> CallPlace:
    assert place is not None
    return place


def test_every_call_a_recorded_file_belongs_to_is_found_by_its_checksum(
    store: Store, channel: Channel
) -> None:
    first, _ = answered(store, channel, "s1")
    second, _ = answered(store, channel, "s2", phone="+74957654321")
    digest = hashlib.sha256(AUDIO).hexdigest()
    kept = [
        store.add_recording(
            call_id=call_id,
            storage="local",
            location=f"{digest[:2]}/{digest}.mp3",
            content_type="audio/mpeg",
            size=len(AUDIO),
            sha256=digest,
        )[0]
        for call_id in (first, second)
    ]

    assert store.recordings_with_content(digest.upper()) == kept
    assert [r.call_id for r in kept] == [first, second]
    assert store.recordings_with_content("0" * 64) == []


# -- schema ---------------------------------------------------------------------------------


def test_the_access_revision_downgrades_and_upgrades_again(store: Store, database_url: str) -> None:
    anna = store.create_employee(name="Anna", hears_recordings=True)
    token = store.issue_token(anna.id)
    assert token is not None
    store.close()

    schema = downgrade_to(database_url, "0004")

    assert not schema.columns["employees"] & {"token_sha256", "hears_recordings"}
    assert "ix_employees_token_sha256" not in schema.indexes["employees"]

    again = Store(database_url)
    try:
        again.migrate()
        # the employee stays; the right and the token went with the columns
        back = again.get_employee(anna.id)
        assert back is not None and back.name == "Anna" and back.hears_recordings is False
        assert again.employee_by_token(token) is None
    finally:
        again.close()


def test_the_token_expiry_revision_downgrades_and_upgrades_again(
    store: Store, database_url: str
) -> None:
    anna = store.create_employee(name="Anna")
    token = store.issue_token(anna.id, expires_at=datetime.now(UTC) + timedelta(days=1))
    assert token is not None
    store.close()

    schema = downgrade_to(database_url, "0007")

    assert "token_expires_at" not in schema.columns["employees"]
    assert "token_sha256" in schema.columns["employees"]

    again = Store(database_url)
    try:
        again.migrate()
        # the token stays, and without its expiry it lasts until revoked, as before the revision
        back = again.employee_by_token(token, now=datetime.now(UTC) + timedelta(days=3650))
        assert back is not None and back.id == anna.id and back.token_expires_at is None
    finally:
        again.close()
