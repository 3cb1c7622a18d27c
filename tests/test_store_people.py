"""The one answer to "this employee's extension in this channel", which the PBX routing answer,
click-to-call and the workflow's employee lookup all give."""

from __future__ import annotations

from crm import EmployeeLink, Store


def test_an_employee_has_their_own_extension_in_each_channel(store: Store) -> None:
    office = store.create_channel(provider="uis", name="Office")
    shop = store.create_channel(provider="uis", name="Shop")
    depot = store.create_channel(provider="uis", name="Depot")
    anna = store.create_employee(
        name="Anna",
        links=[
            EmployeeLink(channel_id=office.id, extension="101"),
            EmployeeLink(channel_id=shop.id, extension="7"),
            EmployeeLink(channel_id=depot.id, pbx_user_id="u-55"),
        ],
    )

    assert anna.extension_on(office.id) == "101"
    assert anna.extension_on(shop.id) == "7"
    assert anna.extension_on(depot.id) is None  # known there by user id only
    assert anna.extension_on(depot.id + 1) is None  # not in that channel at all
