"""Whom an inbound caller should be put through to: the caller's contact, its first responsible
employee, and whether the channel's forwarding setting lets the call go to them now.

Reads only; the PBX is waiting on the answer, so the caller runs `find_responsible` under a
deadline. `forwarding_decision` is pure (the moment is given), so it is tested at fixed instants.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from contracts.phones import is_e164
from crm.records import Contact, Employee
from crm.store import Store
from crm.working_hours import is_working_at

__all__ = [
    "FORWARDING_MODES",
    "FORWARDING_SETTING",
    "Forwarding",
    "Responsible",
    "find_responsible",
    "forwarding_decision",
    "forwarding_mode",
]

# The channel setting, and its values: never forward, always forward to the responsible, or
# only while the responsible is within their working hours. A channel without it does not
# forward: answering a PBX's routing question changes who gets every call, so it is opted into.
FORWARDING_SETTING: Final = "forward_to_responsible"
FORWARDING_MODES: Final = ("off", "on", "working_hours")
_DEFAULT_MODE: Final = "off"


@dataclass(frozen=True)
class Responsible:
    """The contact owning a number and its first responsible employee (None: nobody is)."""

    contact: Contact
    employee: Employee | None


@dataclass(frozen=True)
class Forwarding:
    """Whether to forward the call to the responsible, and why (one of
    providers.lookups.FORWARDING_REASONS, kept as plain text here: crm knows nothing above)."""

    forward: bool
    reason: str


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


def forwarding_mode(settings: Mapping[str, Any]) -> str:
    """The channel's forwarding mode; a missing or unknown value is "off" (closed, not open)."""
    mode = settings.get(FORWARDING_SETTING, _DEFAULT_MODE)
    if isinstance(mode, bool):  # a JSON true/false typed by an admin means on/off
        return "on" if mode else "off"
    return mode if mode in FORWARDING_MODES else _DEFAULT_MODE


def forwarding_decision(mode: str, responsible: Responsible | None, moment: datetime) -> Forwarding:
    """Whether a call at `moment` (aware) goes to the responsible under the channel's `mode`.

    In "working_hours" mode an employee with no working hours set is treated as not at work:
    forwarding may ring their own phone, which must not happen at night by omission.
    """
    if responsible is None:
        return Forwarding(False, "unknown_caller")
    if responsible.employee is None:
        return Forwarding(False, "no_responsible")
    if mode == "on":
        return Forwarding(True, "forwarding_on")
    if mode != "working_hours":
        return Forwarding(False, "forwarding_off")
    hours = responsible.employee.working_hours
    if hours and is_working_at(hours, moment):
        return Forwarding(True, "within_working_hours")
    return Forwarding(False, "outside_working_hours")
