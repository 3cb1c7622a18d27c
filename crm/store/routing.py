"""The store's reads on a PBX's routing path, where the PBX holds a caller until it has an
answer: the contact owning a number with its first responsible, in one indexed query.

Plain SQL expressions built once (no ORM objects, no relationship loads): the ORM's contact and
employee reads cost five queries and ~3 ms of CPU per question (bench/routing.py).
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import and_, bindparam, select

from crm.records import Responsible, RoutedEmployee
from crm.store.engine import StoreCore
from crm.tables import (
    ContactPhoneRow,
    ContactResponsibleRow,
    ContactRow,
    EmployeeChannelLinkRow,
    EmployeePhoneRow,
    EmployeeRow,
)

# responsibles are kept in rule order: the first one is whom routing asks for
_FIRST_RESPONSIBLE: Final = (
    select(ContactResponsibleRow.employee_id)
    .where(ContactResponsibleRow.contact_id == ContactRow.id)
    .order_by(ContactResponsibleRow.position, ContactResponsibleRow.employee_id)
    .limit(1)
    .correlate(ContactRow)
    .scalar_subquery()
)

# One row per own phone of the responsible (one row when they have none, or there is none).
_RESPONSIBLE_BY_PHONE: Final = (
    select(
        ContactRow.id,
        ContactRow.name,
        EmployeeRow.id,
        EmployeeRow.name,
        EmployeeRow.working_hours,
        EmployeeChannelLinkRow.extension,
        EmployeePhoneRow.phone,
    )
    .select_from(ContactPhoneRow)
    .join(ContactRow, ContactRow.id == ContactPhoneRow.contact_id)
    .outerjoin(EmployeeRow, EmployeeRow.id == _FIRST_RESPONSIBLE)
    .outerjoin(
        EmployeeChannelLinkRow,
        and_(
            EmployeeChannelLinkRow.employee_id == EmployeeRow.id,
            EmployeeChannelLinkRow.channel_id == bindparam("channel_id"),
        ),
    )
    .outerjoin(EmployeePhoneRow, EmployeePhoneRow.employee_id == EmployeeRow.id)
    .where(ContactPhoneRow.phone == bindparam("phone"))
    .order_by(EmployeePhoneRow.id)
)


class RoutingReads(StoreCore):
    """What answering a routing question reads."""

    def responsible_for_phone(self, phone: str, *, channel_id: int) -> Responsible | None:
        """The contact owning `phone` (E.164, exact) with its first responsible employee, their
        extension on `channel_id` and own phones; None when no contact has the number."""
        with self._engine.connect() as connection:
            rows = connection.execute(
                _RESPONSIBLE_BY_PHONE, {"phone": phone, "channel_id": channel_id}
            ).all()
        if not rows:
            return None
        contact_id, contact_name, employee_id, employee_name, hours, extension, _ = rows[0]
        employee = None
        if employee_id is not None:
            employee = RoutedEmployee(
                id=employee_id,
                name=employee_name,
                extension=extension,
                phones=tuple(row[6] for row in rows if row[6] is not None),
                working_hours=hours,
            )
        return Responsible(contact_id=contact_id, contact_name=contact_name, employee=employee)
