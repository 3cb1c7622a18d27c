"""The PBX's routing question, answered from the store: the contact that owns a caller's number
and its first responsible employee. Whether the call then goes to them is
`policies.forwarding`'s decision.

Reads only; the PBX is waiting on the answer, so the caller runs `find_responsible` under a
deadline.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.phones import is_e164
from crm.records import Contact, Employee
from crm.store import Store


@dataclass(frozen=True)
class Responsible:
    """The contact owning a number and its first responsible employee (None: nobody is)."""

    contact: Contact
    employee: Employee | None


def find_responsible(store: Store, phone: str | None) -> Responsible | None:
    """The contact owning `phone` (E.164) with its first responsible employee; None for a number
    no contact has, or one that is not E.164 (nothing to look up: no read at all)."""
    if not phone or not is_e164(phone):
        return None
    contact = store.find_contact_by_phone(phone)
    if contact is None:
        return None
    employee = None
    if contact.responsible_employee_ids:
        # responsibles are kept in rule order: the first one is whom routing asks for
        employee = store.get_employee(contact.responsible_employee_ids[0])
    return Responsible(contact=contact, employee=employee)
