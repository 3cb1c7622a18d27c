"""Who may act on a call while it lasts (comment, task, the caller's contact): the admin; an
employee on the call (its employee, or one whose leg rang); one responsible for the caller's
contact; one who may hear the call where it hangs (`api.access`). Sync: run in a worker thread."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from fastapi import HTTPException, status

from crm import Employee, Store, StoredCall
from policies.access import hearing_verdict


@dataclass(frozen=True)
class CallParty:
    """An employee as the PBX names them on a call's leg."""

    extension: str | None = None
    pbx_user_id: str | None = None


def check_may_act(
    employee: Employee,
    store: Store,
    *,
    channel_id: int,
    call: StoredCall | None,
    parties: Iterable[CallParty],
    contact_phone: str | None,
) -> None:
    """Nothing when `employee` may act on the call; the 403 to answer otherwise."""
    if call is not None and employee.id == call.employee_id:
        return
    for party in parties:
        if not (party.extension or party.pbx_user_id):
            continue
        found = store.find_employee(
            channel_id, extension=party.extension, pbx_user_id=party.pbx_user_id
        )
        if found is not None and found.id == employee.id:
            return
    contact_id = call.contact_id if call is not None else None
    contact = store.get_contact(contact_id) if contact_id is not None else None
    if contact is None and contact_phone:
        contact = store.find_contact_by_phone(contact_phone)
    if contact is not None and employee.id in contact.responsible_employee_ids:
        return
    if call is not None:
        place = store.call_place(call.id)
        if place is not None and hearing_verdict(employee, place).allowed:
            return
    raise HTTPException(
        status.HTTP_403_FORBIDDEN,
        detail=f"employee {employee.id} is neither on this call nor responsible for its contact",
    )


def parties_of(call: StoredCall) -> list[CallParty]:
    """Everyone the written call names: its employee and each leg's."""
    parties = [CallParty(call.employee_extension, call.employee_pbx_id)]
    parties += [CallParty(leg.employee_extension, leg.employee_pbx_id) for leg in call.legs]
    return parties
