"""Contacts in the store: callers and callees outside the company, found by their E.164 phone,
with their responsible employees in rule order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from contracts.phones import require_e164
from crm.records import Contact
from crm.store.engine import StoreCore
from crm.store.mapping import contact_of
from crm.store.validation import check_employees_exist
from crm.tables import ContactPhoneRow, ContactResponsibleRow, ContactRow, utcnow


class ContactStore(StoreCore):
    """Contacts, created once per phone however many calls race to create them."""

    def find_or_create_contact(
        self,
        *,
        phone: str,
        phone_raw: str | None = None,
        name: str | None = None,
        fields: Mapping[str, str] | None = None,
        responsible_employee_ids: Sequence[int] = (),
    ) -> tuple[Contact, bool]:
        """The contact with this E.164 phone, created if there is none; True when created.

        A contact found is returned unchanged (its name, fields and responsibles are kept); a new
        one gets `fields` and, in this order, `responsible_employee_ids` in the same transaction.
        Raises ValueError for an unknown responsible employee.
        """
        require_e164(phone)
        found = self.find_contact_by_phone(phone)
        if found is not None:
            return found, False
        try:
            return self._create_contact(
                phone=phone,
                phone_raw=phone_raw,
                name=name,
                fields=fields,
                responsible_employee_ids=list(dict.fromkeys(responsible_employee_ids)),
            )
        except IntegrityError:
            # Another thread or process created it between our read and our insert.
            found = self.find_contact_by_phone(phone)
            if found is None:
                raise
            return found, False

    def _create_contact(
        self,
        *,
        phone: str,
        phone_raw: str | None,
        name: str | None,
        fields: Mapping[str, str] | None = None,
        responsible_employee_ids: Sequence[int] = (),
    ) -> tuple[Contact, bool]:
        with self._writes.begin() as session:
            # Read again under the write lock: on SQLite a racing writer has committed by now.
            row = session.scalar(_contact_by_phone(phone))
            if row is not None:
                return contact_of(row), False
            check_employees_exist(session, responsible_employee_ids)
            row = new_contact_row(name, [(phone, phone_raw)], fields, responsible_employee_ids)
            session.add(row)
            session.flush()
            return contact_of(row), True

    def find_contact_by_phone(self, phone: str) -> Contact | None:
        return self._first(_contact_by_phone(phone), contact_of)

    def get_contact(self, contact_id: int) -> Contact | None:
        return self._get(ContactRow, contact_id, contact_of)

    def list_contacts(
        self, *, phone: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Contact]:
        """Contacts newest first; `phone` (E.164, exact) narrows to the one owning it."""
        query = select(ContactRow).order_by(ContactRow.id.desc()).limit(limit).offset(offset)
        if phone is not None:
            query = query.join(ContactRow.phones).where(ContactPhoneRow.phone == phone)
        with self._reads() as session:
            return [contact_of(row) for row in session.scalars(query)]

    def set_contact_responsibles(
        self, contact_id: int, employee_ids: Sequence[int]
    ) -> Contact | None:
        """Make these employees, in this order, the contact's responsibles; None if no contact.

        The first one is whom routing asks for. Raises ValueError for an unknown employee.
        """
        ordered = list(dict.fromkeys(employee_ids))
        with self._writes.begin() as session:
            row = session.get(ContactRow, contact_id)
            if row is None:
                return None
            check_employees_exist(session, ordered)
            if [r.employee_id for r in row.responsibles] != ordered:
                row.responsibles.clear()
                # Flush the removals first so that re-adding an employee does not collide.
                session.flush()
                row.responsibles.extend(
                    ContactResponsibleRow(employee_id=employee_id, position=position)
                    for position, employee_id in enumerate(ordered)
                )
                row.updated_at = utcnow()
                session.flush()
            return contact_of(row)

    def contact_names(self, contact_ids: Sequence[int]) -> dict[int, str | None]:
        """The names of these contacts, by id (unknown ids left out; a contact may have none)."""
        wanted = list(set(contact_ids))
        if not wanted:
            return {}
        query = select(ContactRow.id, ContactRow.name).where(ContactRow.id.in_(wanted))
        with self._reads() as session:
            return {contact_id: name for contact_id, name in session.execute(query)}


def contact_by_id(session: Session, contact_id: int | None) -> Contact | None:
    """The contact with this id (None: no id given, or no such contact)."""
    row = session.get(ContactRow, contact_id) if contact_id is not None else None
    return contact_of(row) if row is not None else None


def _contact_by_phone(phone: str) -> Select[ContactRow]:
    return select(ContactRow).join(ContactRow.phones).where(ContactPhoneRow.phone == phone)


def new_contact_row(
    name: str | None,
    phones: Sequence[tuple[str, str | None]],
    fields: Mapping[str, str] | None,
    responsible_employee_ids: Sequence[int],
) -> ContactRow:
    """A contact's new row: its numbers (E.164, raw) in order, the first its main one, and its
    responsibles in order."""
    now = utcnow()
    return ContactRow(
        name=name,
        created_at=now,
        updated_at=now,
        phones=[ContactPhoneRow(phone=phone, raw=raw) for phone, raw in phones],
        responsibles=[
            ContactResponsibleRow(employee_id=employee_id, position=position)
            for position, employee_id in enumerate(responsible_employee_ids)
        ],
        fields=dict(fields) if fields else None,
    )
