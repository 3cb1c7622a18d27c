"""The store as its callers see it, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from threads import at_once

from contracts.messages import CallLeg, CallRecord
from crm import CallFilter, Channel, ConflictError, EmployeeLink, Store
from crm.store.engine import make_engine, use_wal
from crm.tables import Base

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CALLER = "+74951234567"
OTHER_CALLER = "+79161234567"


@pytest.fixture
def channel(store: Store) -> Channel:
    return store.create_channel(provider="uis", name="Main office")


def answered_call(channel: Channel, session_id: str = "s-1", **fields: Any) -> CallRecord:
    values: dict[str, Any] = {
        "channel_id": channel.id,
        "session_id": session_id,
        "provider": channel.provider,
        "kind": "call",
        "direction": "in",
        "contact_phone": CALLER,
        "contact_phone_raw": "8 (495) 123-45-67",
        "virtual_number": "+74950000000",
        "started_at": T0,
        "answered_at": T0 + timedelta(seconds=12),
        "ended_at": T0 + timedelta(seconds=72),
        "wait_seconds": 12,
        "talk_seconds": 60,
        "total_seconds": 72,
        "tags": ["sales"],
        "extra": {"utm_source": "google"},
        "legs": [CallLeg(employee_extension="101", answered=True)],
    }
    values.update(fields)
    return CallRecord(**values)


def record_of(stored: Any) -> CallRecord:
    """The CallRecord fields of a StoredCall, to compare what was saved with what came back."""
    names = {field.name for field in dataclasses.fields(CallRecord)}
    return CallRecord(**{name: getattr(stored, name) for name in names})


# -- channels -------------------------------------------------------------------------------


def test_a_channel_is_found_by_its_secret_key(store: Store) -> None:
    main = store.create_channel(
        provider="uis", name="Main office", settings={"api_token": "t", "lines": [1, 2]}
    )
    branch = store.create_channel(provider="binotel", name="Kyiv", default_country="ua")

    assert main.secret_key != branch.secret_key
    assert len(main.secret_key) >= 32
    assert store.get_channel_by_key(main.secret_key) == main
    assert store.get_channel_by_key(branch.secret_key) == branch
    assert store.get_channel_by_key("not-a-key") is None
    assert store.get_channel(main.id) == main
    assert store.list_channels() == [main, branch]
    assert main.settings == {"api_token": "t", "lines": [1, 2]}
    assert (main.default_country, main.timezone) == ("RU", "Europe/Moscow")
    assert branch.default_country == "UA"
    assert main.created_at.tzinfo == UTC


def test_a_channel_in_an_unknown_time_zone_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="Mars/Olympus"):
        store.create_channel(provider="uis", name="x", timezone="Mars/Olympus")


# -- employees ------------------------------------------------------------------------------


def test_an_employee_is_found_by_extension_or_pbx_user_id_in_their_channel(store: Store) -> None:
    main = store.create_channel(provider="uis", name="Main office")
    branch = store.create_channel(provider="uis", name="Branch")
    anna = store.create_employee(
        name="Anna",
        phones=["+79990000001"],
        links=[EmployeeLink(main.id, extension="101", pbx_user_id="u-17")],
    )

    assert store.find_employee(main.id, extension="101") == anna
    assert store.find_employee(main.id, pbx_user_id="u-17") == anna
    assert store.find_employee(main.id, extension="102") is None
    assert store.find_employee(branch.id, extension="101") is None
    assert store.find_employee(main.id) is None
    assert store.get_employee(anna.id) == anna
    assert anna.links == [EmployeeLink(main.id, extension="101", pbx_user_id="u-17")]
    assert anna.phones == ["+79990000001"]


def test_an_extension_in_another_channel_is_someone_else(store: Store) -> None:
    main = store.create_channel(provider="uis", name="Main office")
    branch = store.create_channel(provider="uis", name="Branch")
    anna = store.create_employee(name="Anna", links=[EmployeeLink(main.id, extension="101")])
    boris = store.create_employee(name="Boris", links=[EmployeeLink(branch.id, extension="101")])

    assert store.find_employee(main.id, extension="101") == anna
    assert store.find_employee(branch.id, extension="101") == boris
    assert store.find_employee(branch.id, pbx_user_id="u-17") is None
    assert store.list_employees(channel_id=main.id) == [anna]
    assert store.list_employees(channel_id=branch.id) == [boris]
    assert store.list_employees() == [anna, boris]


def test_the_pbx_user_id_wins_over_an_extension_naming_someone_else(store: Store) -> None:
    main = store.create_channel(provider="uis", name="Main office")
    anna = store.create_employee(name="Anna", links=[EmployeeLink(main.id, extension="101")])
    boris = store.create_employee(name="Boris", links=[EmployeeLink(main.id, pbx_user_id="u-2")])

    assert store.find_employee(main.id, extension="101", pbx_user_id="u-2") == boris
    # An unknown PBX user id still lets the extension speak.
    assert store.find_employee(main.id, extension="101", pbx_user_id="u-404") == anna


def test_an_extension_taken_in_a_channel_cannot_be_given_twice(store: Store) -> None:
    main = store.create_channel(provider="uis", name="Main office")
    store.create_employee(name="Anna", links=[EmployeeLink(main.id, extension="101")])

    with pytest.raises(ConflictError, match="101"):
        store.create_employee(name="Boris", links=[EmployeeLink(main.id, extension="101")])
    with pytest.raises(ValueError, match="no channel"):
        store.create_employee(name="Boris", links=[EmployeeLink(main.id + 1, extension="1")])
    assert [employee.name for employee in store.list_employees()] == ["Anna"]


def test_an_employees_own_phone_names_them(store: Store) -> None:
    anna = store.create_employee(name="Anna", phones=["+79990000001", "+79990000002"])

    assert store.find_employee_by_phone("+79990000002") == anna
    assert store.find_employee_by_phone(CALLER) is None


# -- contacts -------------------------------------------------------------------------------


def test_the_same_caller_calling_twice_is_one_contact(store: Store) -> None:
    first, created_first = store.find_or_create_contact(phone=CALLER, phone_raw="84951234567")
    again, created_again = store.find_or_create_contact(phone=CALLER, name="Ivan")

    assert (created_first, created_again) == (True, False)
    assert again == first
    assert first.phones[0].phone == CALLER
    assert first.phones[0].raw == "84951234567"
    assert store.find_contact_by_phone(CALLER) == first
    assert store.get_contact(first.id) == first
    assert store.list_contacts() == [first]


def test_callers_racing_on_one_phone_leave_one_contact(store: Store) -> None:
    results = at_once(8, lambda _: store.find_or_create_contact(phone=CALLER))

    assert sum(created for _, created in results) == 1
    assert len({contact.id for contact, _ in results}) == 1
    assert len(store.list_contacts(phone=CALLER)) == 1


def test_contacts_are_listed_newest_first_and_by_phone(store: Store) -> None:
    older, _ = store.find_or_create_contact(phone=CALLER)
    newer, _ = store.find_or_create_contact(phone=OTHER_CALLER)

    assert store.list_contacts() == [newer, older]
    assert store.list_contacts(limit=1, offset=1) == [older]
    assert store.list_contacts(phone=CALLER) == [older]
    assert store.list_contacts(phone="+70000000000") == []


def test_a_phone_not_in_e164_makes_no_contact(store: Store) -> None:
    with pytest.raises(ValueError, match="E.164"):
        store.find_or_create_contact(phone="84951234567")
    assert store.list_contacts() == []


def test_responsible_employees_keep_the_order_given(store: Store) -> None:
    anna = store.create_employee(name="Anna")
    boris = store.create_employee(name="Boris")
    contact, _ = store.find_or_create_contact(phone=CALLER)

    updated = store.set_contact_responsibles(contact.id, [boris.id, anna.id])
    assert updated is not None
    assert updated.responsible_employee_ids == [boris.id, anna.id]
    reordered = store.set_contact_responsibles(contact.id, [anna.id, boris.id])
    assert reordered is not None
    assert store.get_contact(contact.id) == reordered
    assert reordered.responsible_employee_ids == [anna.id, boris.id]
    assert store.set_contact_responsibles(contact.id + 1, [anna.id]) is None
    with pytest.raises(ValueError, match="no employee"):
        store.set_contact_responsibles(contact.id, [boris.id + 1])


# -- calls ----------------------------------------------------------------------------------


def test_a_second_save_of_a_call_changes_nothing(store: Store, channel: Channel) -> None:
    contact, _ = store.find_or_create_contact(phone=CALLER)
    record = answered_call(channel, contact_id=contact.id)

    first, created_first = store.save_call(record)
    second, created_second = store.save_call(record)

    assert (created_first, created_second) == (True, False)
    assert second == first
    assert record_of(first) == record
    assert store.get_call(first.id) == first
    assert store.get_call_by_session(channel.id, "s-1") == first
    assert store.count_calls() == 1


def test_a_later_save_fills_in_what_it_knows_and_keeps_the_rest(
    store: Store, channel: Channel
) -> None:
    anna = store.create_employee(name="Anna", links=[EmployeeLink(channel.id, extension="101")])
    store.save_call(answered_call(channel, kind="missed", line_name="Sales"))

    later = CallRecord(
        channel_id=channel.id,
        session_id="s-1",
        provider=channel.provider,
        kind="call",
        direction=None,
        employee_id=anna.id,
        talk_seconds=61,
        tags=[],
        extra={"utm_source": "yandex"},
        legs=[],
    )
    merged, created = store.save_call(later)

    assert not created
    assert merged.kind == "call"
    assert merged.legs == []
    assert merged.employee_id == anna.id
    assert merged.talk_seconds == 61
    assert merged.extra == {"utm_source": "yandex"}
    # Not given this time: kept.
    assert merged.direction == "in"
    assert merged.line_name == "Sales"
    assert merged.tags == ["sales"]
    assert merged.started_at == T0
    assert merged.updated_at >= merged.created_at


def test_an_incomplete_save_never_overrides_a_complete_one(store: Store, channel: Channel) -> None:
    complete, _ = store.save_call(answered_call(channel, incomplete=False))
    after_partial, _ = store.save_call(answered_call(channel, incomplete=True))
    assert after_partial.incomplete is False

    partial, _ = store.save_call(answered_call(channel, "s-2", incomplete=True))
    assert partial.incomplete is True
    completed, _ = store.save_call(answered_call(channel, "s-2", incomplete=False))
    assert completed.incomplete is False
    assert complete.incomplete is False


def test_threads_saving_the_same_call_leave_one_row(store: Store, channel: Channel) -> None:
    results = at_once(
        8, lambda index: store.save_call(answered_call(channel, "race", talk_seconds=index))
    )

    assert sum(created for _, created in results) == 1
    assert len({stored.id for stored, _ in results}) == 1
    assert store.count_calls() == 1


def test_two_stores_on_one_database_agree_on_one_call(
    database_url: str, store: Store, channel: Channel
) -> None:
    # A second Store on the same database stands for the other process (API vs worker).
    other = Store(database_url)
    try:
        results = at_once(
            6,
            lambda index: (store if index % 2 else other).save_call(
                answered_call(channel, "shared", wait_seconds=index)
            ),
        )
    finally:
        other.close()
    assert sum(created for _, created in results) == 1
    assert store.count_calls(CallFilter(channel_id=channel.id)) == 1


def test_a_recording_link_is_attached_to_its_call(store: Store, channel: Channel) -> None:
    saved, _ = store.save_call(answered_call(channel))

    attached = store.attach_recording_link(
        channel.id, "s-1", url="https://pbx.example/rec/1.mp3", duration=60
    )
    assert attached is not None
    assert (attached.recording_url, attached.recording_duration) == (
        "https://pbx.example/rec/1.mp3",
        60,
    )
    assert attached.updated_at >= saved.updated_at
    assert store.get_call(saved.id) == attached
    # A later link without a duration keeps the one known.
    relinked = store.attach_recording_link(channel.id, "s-1", url="https://x/2.mp3", duration=None)
    assert relinked is not None
    assert relinked.recording_duration == 60
    assert store.attach_recording_link(channel.id, "no-such", url="u", duration=1) is None


def test_a_saved_recording_link_survives_a_later_save_without_one(
    store: Store, channel: Channel
) -> None:
    store.save_call(answered_call(channel))
    store.attach_recording_link(channel.id, "s-1", url="https://x/1.mp3", duration=60)

    resaved, _ = store.save_call(answered_call(channel))

    assert resaved.recording_url == "https://x/1.mp3"


def test_calls_are_listed_newest_first_by_kind_phone_and_employee(
    store: Store, channel: Channel
) -> None:
    anna = store.create_employee(name="Anna", links=[EmployeeLink(channel.id, extension="101")])
    first, _ = store.save_call(answered_call(channel, "a", started_at=T0, employee_id=anna.id))
    missed, _ = store.save_call(
        answered_call(channel, "b", kind="missed", started_at=T0 + timedelta(hours=1))
    )
    other, _ = store.save_call(
        answered_call(channel, "c", started_at=T0 + timedelta(hours=2), contact_phone=OTHER_CALLER)
    )

    assert store.list_calls() == [other, missed, first]
    assert store.list_calls(CallFilter(kind="missed")) == [missed]
    assert store.list_calls(CallFilter(kind="call")) == [other, first]
    assert store.list_calls(CallFilter(phone=CALLER)) == [missed, first]
    assert store.list_calls(CallFilter(employee_id=anna.id)) == [first]
    assert store.list_calls(CallFilter(channel_id=channel.id), limit=2) == [other, missed]
    assert store.list_calls(limit=2, offset=2) == [first]
    assert store.list_calls(CallFilter(channel_id=channel.id + 1)) == []
    assert store.count_calls(CallFilter(phone=CALLER)) == 2
    assert store.count_calls(CallFilter(kind="missed", employee_id=anna.id)) == 0


def test_calls_are_listed_within_a_time_window(store: Store, channel: Channel) -> None:
    for hour in range(3):
        store.save_call(answered_call(channel, f"h{hour}", started_at=T0 + timedelta(hours=hour)))
    # A call known only by its end is placed by it.
    store.save_call(
        answered_call(
            channel, "end-only", started_at=None, ended_at=T0 + timedelta(hours=1, minutes=30)
        )
    )

    window = store.list_calls(
        CallFilter(since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=2))
    )

    assert [call.session_id for call in window] == ["end-only", "h1"]
    assert store.count_calls(CallFilter(since=T0 + timedelta(hours=1))) == 3
    assert store.count_calls(CallFilter(until=T0 + timedelta(hours=1))) == 1


def test_a_page_of_calls_and_its_total_are_read_together(store: Store, channel: Channel) -> None:
    for hour in range(5):
        store.save_call(answered_call(channel, f"p{hour}", started_at=T0 + timedelta(hours=hour)))
    store.save_call(answered_call(channel, "lost", kind="missed"))

    page, total = store.page_calls(CallFilter(kind="call"), limit=2, offset=1)
    past_the_end, total_past_the_end = store.page_calls(CallFilter(kind="call"), limit=2, offset=10)
    nothing, none_at_all = store.page_calls(CallFilter(kind="call", phone="+79990000000"))

    assert [call.session_id for call in page] == ["p3", "p2"]
    assert total == 5
    assert (past_the_end, total_past_the_end) == ([], 5)
    assert (nothing, none_at_all) == ([], 0)


def test_a_moscow_time_comes_back_as_the_same_instant_in_utc(
    store: Store, channel: Channel
) -> None:
    moscow = datetime(2026, 3, 2, 12, 30, 15, 123456, tzinfo=ZoneInfo("Europe/Moscow"))

    saved, _ = store.save_call(answered_call(channel, started_at=moscow))
    loaded = store.get_call(saved.id)

    assert loaded is not None
    for call in (saved, loaded):
        assert call.started_at == datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)
        assert call.started_at is not None and call.started_at.tzinfo == UTC
        assert call.created_at.tzinfo == UTC
    # The window is compared as instants too, whatever zone it is given in.
    assert store.list_calls(CallFilter(since=moscow, until=moscow + timedelta(seconds=1))) == [
        loaded
    ]


def test_a_naive_datetime_is_refused(store: Store, channel: Channel) -> None:
    naive = datetime(2026, 3, 2, 12, 30)

    with pytest.raises(ValueError, match="naive"):
        store.save_call(answered_call(channel, started_at=naive))
    with pytest.raises(ValueError, match="naive"):
        store.list_calls(CallFilter(since=naive))
    assert store.count_calls() == 0


def test_a_call_of_an_unknown_kind_is_refused(store: Store, channel: Channel) -> None:
    with pytest.raises(ValueError, match="kind"):
        store.save_call(answered_call(channel, kind="voicemail"))
    with pytest.raises(ValueError, match="direction"):
        store.save_call(answered_call(channel, direction="inbound"))


def test_a_call_on_an_unknown_channel_is_refused(store: Store, channel: Channel) -> None:
    stray = dataclasses.replace(answered_call(channel), channel_id=channel.id + 1)

    with pytest.raises(ValueError, match="unknown channel"):
        store.save_call(stray)
    assert store.count_calls() == 0


# -- schema ---------------------------------------------------------------------------------


def test_migrating_twice_changes_nothing(store: Store, channel: Channel) -> None:
    store.migrate()
    store.migrate()

    assert store.list_channels() == [channel]


def test_the_migrations_create_exactly_what_the_models_declare(
    store: Store, database_url: str
) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_an_unreachable_database_fails_its_ping(tmp_path: Path) -> None:
    store = Store("postgresql+psycopg://nobody:nothing@127.0.0.1:1/none?connect_timeout=2")
    try:
        with pytest.raises(Exception, match="127.0.0.1"):
            store.ping()
    finally:
        store.close()
    healthy = Store(f"sqlite:///{tmp_path / 'nested' / 'pbxhub.db'}")
    healthy.ping()
    healthy.close()


# Runs in a fresh interpreter: a second process (API or worker) starting on the same database.
def test_a_database_another_process_holds_is_put_in_wal_mode_once_it_lets_go(
    tmp_path: Path,
) -> None:
    path = tmp_path / "new.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")  # another process, creating the same new database
    opening = sqlite3.connect(path, isolation_level=None, timeout=0)
    # "database is locked" at once, as SQLite may answer a journal-mode switch whatever the
    # busy timeout says
    opening.execute("PRAGMA busy_timeout = 0")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        opening.execute("PRAGMA journal_mode = WAL")
    threading.Timer(0.3, lambda: holder.execute("COMMIT")).start()

    use_wal(opening.cursor())

    assert opening.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    opening.close()
    holder.close()


PROCESS_SCRIPT = """
import json, sys
from crm import Store
store = Store(sys.argv[1])
store.migrate()
created = [store.find_or_create_contact(phone=phone)[1] for phone in sys.argv[2:]]
print(json.dumps(sum(created)))
store.close()
"""


def test_processes_starting_together_migrate_once_and_share_contacts(database_url: str) -> None:
    phones = [f"+7495000{index:04d}" for index in range(20)]
    root = Path(__file__).resolve().parents[1]
    environment = {**os.environ, "PYTHONPATH": str(root)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", PROCESS_SCRIPT, database_url, *phones],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
        )
        for _ in range(3)
    ]
    outputs = [process.communicate(timeout=60) for process in processes]

    for process, (_, errors) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, errors
    assert sum(json.loads(out) for out, _ in outputs) == len(phones)
    store = Store(database_url)
    try:
        assert len(store.list_contacts(limit=100)) == len(phones)
    finally:
        store.close()
