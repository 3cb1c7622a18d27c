"""The store's routing read on SQLite and PostgreSQL: the contact owning a number, its first
responsible in rule order, that employee's extension on the asking channel and own phones in the
order entered; and every edit an admin makes takes effect on the next question."""

from __future__ import annotations

from crm import ContactPhone, EmployeeLink, Store
from crm.contact_edits import ContactChange
from crm.records import Responsible, RoutedEmployee
from crm.responsible_lookup import find_responsible

WORKDAYS = {"timezone": "Europe/Moscow", "days": {"mon": [["09:00", "18:00"]]}}


def test_the_first_responsible_is_read_with_this_channel_s_extension_and_own_phones(
    store: Store,
) -> None:
    uis = store.create_channel(provider="uis", name="UIS")
    binotel = store.create_channel(provider="binotel", name="Binotel")
    anna = store.create_employee(
        name="Anna",
        phones=["+79030000002", "+79030000001"],
        links=[
            EmployeeLink(channel_id=uis.id, extension="101"),
            EmployeeLink(channel_id=binotel.id, extension="901"),
        ],
        working_hours=WORKDAYS,
    )
    boris = store.create_employee(name="Boris", phones=["+79030000003"])
    contact = store.create_contact(
        name="Ivan Petrov",
        phones=[ContactPhone("+79161234567"), ContactPhone("+79161112233")],
        responsible_employee_ids=[anna.id, boris.id],
    )

    expected_anna = RoutedEmployee(
        id=anna.id,
        name="Anna",
        extension="101",
        phones=("+79030000002", "+79030000001"),
        working_hours=WORKDAYS,
    )
    for phone in ("+79161234567", "+79161112233"):  # any of the contact's numbers
        assert store.responsible_for_phone(phone, channel_id=uis.id) == Responsible(
            contact_id=contact.id, contact_name="Ivan Petrov", employee=expected_anna
        )
    on_binotel = store.responsible_for_phone("+79161234567", channel_id=binotel.id)
    assert on_binotel is not None and on_binotel.employee is not None
    assert on_binotel.employee.extension == "901"

    # rule order, not the order of ids: Boris first now; no link on this channel, no extension
    store.set_contact_responsibles(contact.id, [boris.id, anna.id])
    assert store.responsible_for_phone("+79161234567", channel_id=uis.id) == Responsible(
        contact_id=contact.id,
        contact_name="Ivan Petrov",
        employee=RoutedEmployee(
            id=boris.id, name="Boris", extension=None, phones=("+79030000003",)
        ),
    )


def test_a_contact_without_a_responsible_or_phones_and_an_unknown_number(store: Store) -> None:
    channel = store.create_channel(provider="uis", name="UIS")
    nobody, _ = store.find_or_create_contact(phone="+79161234567", name=None)
    assert store.responsible_for_phone("+79161234567", channel_id=channel.id) == Responsible(
        contact_id=nobody.id, contact_name=None, employee=None
    )
    assert store.responsible_for_phone("+79990000000", channel_id=channel.id) is None
    # not E.164: nothing to look up
    assert find_responsible(store, "89161234567", channel_id=channel.id) is None
    assert find_responsible(store, None, channel_id=channel.id) is None

    vera = store.create_employee(
        name="Vera", links=[EmployeeLink(channel_id=channel.id, extension="103")]
    )
    store.set_contact_responsibles(nobody.id, [vera.id])
    answer = find_responsible(store, "+79161234567", channel_id=channel.id)
    assert answer is not None
    assert answer.employee == RoutedEmployee(id=vera.id, name="Vera", extension="103", phones=())


def test_edits_take_effect_on_the_next_question(store: Store) -> None:
    channel = store.create_channel(provider="uis", name="UIS")
    anna = store.create_employee(
        name="Anna", phones=["+79030000001"], links=[EmployeeLink(channel.id, extension="101")]
    )
    contact, _ = store.find_or_create_contact(phone="+79161234567", name="Ivan")
    store.set_contact_responsibles(contact.id, [anna.id])
    store.set_working_hours(anna.id, WORKDAYS)
    answer = store.responsible_for_phone("+79161234567", channel_id=channel.id)
    assert answer is not None and answer.employee is not None
    assert answer.employee.working_hours == WORKDAYS

    store.change_contact(
        contact.id, ContactChange(name="Ivan P.", phones=[ContactPhone("+79169999999")])
    )
    assert store.responsible_for_phone("+79161234567", channel_id=channel.id) is None
    answer = store.responsible_for_phone("+79169999999", channel_id=channel.id)
    assert answer is not None and answer.contact_name == "Ivan P."

    store.set_contact_responsibles(contact.id, [])
    answer = store.responsible_for_phone("+79169999999", channel_id=channel.id)
    assert answer is not None and answer.employee is None
