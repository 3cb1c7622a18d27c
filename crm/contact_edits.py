"""The store's contact edits: a contact made by hand (not by a call), and a change of its name,
numbers, fields or responsibles. A mixin of `crm.store.Store`, which holds the sessions and
maps rows to records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from contracts.phones import require_e164
from crm.records import Contact, ContactPhone
from crm.store.contacts import new_contact_row
from crm.tables import (
    ContactPhoneRow,
    ContactResponsibleRow,
    ContactRow,
    EmployeeRow,
    utcnow,
)


class PhoneTaken(Exception):
    """A number given to a contact is another contact's already (numbers find contacts)."""


class UnknownEmployee(ValueError):
    """A responsible named who is no employee."""


@dataclass(frozen=True)
class ContactChange:
    """What changes of a contact; None leaves that part as it is. `phones` and `fields` replace
    the whole list or mapping; `name` "" clears the name."""

    name: str | None = None
    phones: Sequence[ContactPhone] | None = None
    fields: Mapping[str, str] | None = None
    responsible_employee_ids: Sequence[int] | None = None


class ContactEdits:
    """Contacts written by people; the sessions and `get_contact` are those of `Store`."""

    _writes: sessionmaker[Session]

    def get_contact(self, contact_id: int) -> Contact | None:
        raise NotImplementedError

    def create_contact(
        self,
        *,
        name: str | None,
        phones: Sequence[ContactPhone],
        fields: Mapping[str, str] | None = None,
        responsible_employee_ids: Sequence[int] = (),
    ) -> Contact:
        """A new contact with these numbers (E.164, the first is its main one). PhoneTaken when
        a number is another contact's; UnknownEmployee (a ValueError) for an unknown employee,
        ValueError for no number."""
        numbers = _checked_phones(phones)
        responsibles = list(dict.fromkeys(responsible_employee_ids))
        with self._writing(numbers) as session:
            _check_phones_free(session, numbers, contact_id=None)
            _check_employees(session, responsibles)
            row = new_contact_row(
                name or None, [(p.phone, p.raw) for p in numbers], fields, responsibles
            )
            session.add(row)
            session.flush()
            contact_id = row.id
        return self._read_back(contact_id)

    def change_contact(self, contact_id: int, change: ContactChange) -> Contact | None:
        """Apply `change`; None if no such contact. PhoneTaken, ValueError as `create_contact`.
        A number kept keeps what the PBX first wrote of it (`raw`)."""
        numbers = _checked_phones(change.phones) if change.phones is not None else None
        with self._writing(numbers or []) as session:
            row = session.get(ContactRow, contact_id)
            if row is None:
                return None
            changed = False
            if change.name is not None and (change.name or None) != row.name:
                row.name = change.name or None
                changed = True
            if change.fields is not None and dict(change.fields) != (row.fields or {}):
                row.fields = dict(change.fields) or None
                changed = True
            if numbers is not None:
                changed |= _replace_phones(session, row, numbers)
            if change.responsible_employee_ids is not None:
                ordered = list(dict.fromkeys(change.responsible_employee_ids))
                _check_employees(session, ordered)
                if [r.employee_id for r in row.responsibles] != ordered:
                    row.responsibles.clear()
                    # the removals first, so that re-adding an employee does not collide
                    session.flush()
                    row.responsibles.extend(
                        ContactResponsibleRow(employee_id=employee_id, position=position)
                        for position, employee_id in enumerate(ordered)
                    )
                    changed = True
            if changed:
                row.updated_at = utcnow()
                session.flush()
        return self._read_back(contact_id)

    def _writing(self, numbers: Sequence[ContactPhone]) -> _PhoneRace:
        return _PhoneRace(self._writes, numbers)

    def _read_back(self, contact_id: int) -> Contact:
        contact = self.get_contact(contact_id)
        if contact is None:  # deleted the moment after our write: as if it never was
            raise LookupError(f"contact {contact_id} went while it was written")
        return contact


class _PhoneRace:
    """A write transaction in which a unique-number violation (a racing writer gave one of the
    numbers to another contact between our check and our insert) is PhoneTaken."""

    def __init__(self, writes: sessionmaker[Session], numbers: Sequence[ContactPhone]) -> None:
        self._transaction = writes.begin()
        self._numbers = numbers

    def __enter__(self) -> Session:
        return self._transaction.__enter__()

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        try:
            self._transaction.__exit__(kind, error, trace)  # type: ignore[arg-type]
        except IntegrityError as lost:
            taken = ", ".join(p.phone for p in self._numbers)
            raise PhoneTaken(f"one of {taken} is another contact's number") from lost


def _checked_phones(phones: Sequence[ContactPhone]) -> list[ContactPhone]:
    if not phones:
        raise ValueError("a contact has at least one number")
    unique: dict[str, ContactPhone] = {}
    for phone in phones:
        require_e164(phone.phone)
        unique.setdefault(phone.phone, phone)
    return list(unique.values())


def _check_phones_free(
    session: Session, numbers: Sequence[ContactPhone], *, contact_id: int | None
) -> None:
    holders = session.execute(
        select(ContactPhoneRow.phone, ContactPhoneRow.contact_id).where(
            ContactPhoneRow.phone.in_([p.phone for p in numbers])
        )
    ).all()
    for phone, holder in holders:
        if holder != contact_id:
            raise PhoneTaken(f"{phone} is the number of contact {holder}")


def _replace_phones(session: Session, row: ContactRow, numbers: Sequence[ContactPhone]) -> bool:
    if [p.phone for p in row.phones] == [p.phone for p in numbers]:
        return False
    _check_phones_free(session, numbers, contact_id=row.id)
    kept = {p.phone: p for p in row.phones}
    # all written again, in the order given: ids keep the order (`ContactRow.phones` is by id);
    # the removals flushed first, so that a number kept does not collide with itself
    row.phones.clear()
    session.flush()
    row.phones.extend(
        ContactPhoneRow(phone=p.phone, raw=kept[p.phone].raw if p.phone in kept else p.raw)
        for p in numbers
    )
    session.flush()
    return True


def _check_employees(session: Session, employee_ids: Sequence[int]) -> None:
    known = set(session.scalars(select(EmployeeRow.id).where(EmployeeRow.id.in_(employee_ids))))
    unknown = [employee_id for employee_id in employee_ids if employee_id not in known]
    if unknown:
        raise UnknownEmployee(f"no employee with id {unknown[0]}")
