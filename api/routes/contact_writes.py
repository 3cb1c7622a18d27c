"""Contacts written by people (admin only, as every contact route but comments): a new contact
with its numbers, name, fields and responsibles, and a change of any of those. Numbers come in
any format, read as the webhooks read them; a number that is another contact's is 409."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Annotated

import phonenumbers
from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field, field_validator

from api.bounds import StoredId, StoredText
from api.deps import AdminDep, StoreDep
from api.errors import AUTHENTICATED, WITH_BODY, errors
from api.rest_models import ContactOut
from contracts.phones import read_phone
from crm import Contact, ContactPhone, Store
from crm.contact_edits import ContactChange, PhoneTaken, UnknownEmployee

router = APIRouter(
    prefix="/api/v1/contacts", tags=["contacts"], dependencies=[AdminDep], responses=AUTHENTICATED
)

MAX_PHONES = 20
MAX_FIELDS = 100

ContactName = Annotated[StoredText, Field(max_length=255)]
PhoneText = Annotated[StoredText, Field(min_length=1, max_length=64)]
FieldName = Annotated[StoredText, Field(min_length=1, max_length=100)]
FieldValue = Annotated[StoredText, Field(max_length=2000)]

_PHONES = "The contact's numbers in any format (read with `country`), its main one first"
_RESPONSIBLES = (
    "The employees answerable for the contact, in order: the first is whom routing puts the "
    "contact's calls through to; they see its calls and recordings"
)


def _known_country(value: str) -> str:
    value = value.upper()
    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown country code {value!r}")
    return value


class ContactCreate(BaseModel):
    name: ContactName | None = None
    phones: list[PhoneText] = Field(min_length=1, max_length=MAX_PHONES, description=_PHONES)
    country: str = Field(default="RU", description="ISO 3166 region to read national numbers")
    fields: dict[FieldName, FieldValue] = Field(default_factory=dict, max_length=MAX_FIELDS)
    responsible_employee_ids: list[StoredId] = Field(
        default_factory=list, max_length=100, description=_RESPONSIBLES
    )

    _country = field_validator("country")(_known_country)


class ContactPatch(BaseModel):
    """What changes of a contact; a field left out stays as it is. `phones` and `fields`
    replace the whole list or object; `name` "" clears the name."""

    name: ContactName | None = None
    phones: list[PhoneText] | None = Field(
        default=None, min_length=1, max_length=MAX_PHONES, description=_PHONES
    )
    country: str = Field(default="RU", description="ISO 3166 region to read national numbers")
    fields: dict[FieldName, FieldValue] | None = Field(default=None, max_length=MAX_FIELDS)
    responsible_employee_ids: list[StoredId] | None = Field(
        default=None, max_length=100, description=_RESPONSIBLES
    )

    _country = field_validator("country")(_known_country)


def read_contact_phones(texts: Sequence[str], country: str) -> list[ContactPhone]:
    """Numbers as a person typed them → E.164 (each keeping what was typed); 422 naming the
    one that is no number."""
    phones = []
    for index, text in enumerate(texts):
        number = read_phone(text, country)
        if number is None:
            raise HTTPException(
                422,
                detail=f"phones.{index}: {text!r} is not a phone number "
                f"(read with country {country})",
            )
        phones.append(ContactPhone(phone=number, raw=text.strip()))
    return phones


def contact_out(contact: Contact) -> ContactOut:
    return ContactOut.model_validate(asdict(contact))


def refused(error: Exception) -> HTTPException:
    """A store's refusal of a contact write as the answer to give."""
    if isinstance(error, PhoneTaken):
        return HTTPException(status.HTTP_409_CONFLICT, detail=f"phones: {error}")
    field = "responsible_employee_ids" if isinstance(error, UnknownEmployee) else "phones"
    return HTTPException(422, detail=f"{field}: {error}")


def write_new_contact(store: Store, body: ContactCreate) -> Contact:
    """The contact `body` describes, made (sync: run it in a worker thread); the HTTP error to
    answer otherwise (also for the pages)."""
    phones = read_contact_phones(body.phones, body.country)
    try:
        return store.create_contact(
            name=body.name,
            phones=phones,
            fields=body.fields,
            responsible_employee_ids=body.responsible_employee_ids,
        )
    except (PhoneTaken, ValueError) as error:
        raise refused(error) from None


def write_contact_change(store: Store, contact_id: int, body: ContactPatch) -> Contact:
    """The contact changed as `body` says (sync); the HTTP error to answer otherwise."""
    phones = read_contact_phones(body.phones, body.country) if body.phones is not None else None
    change = ContactChange(
        name=body.name,
        phones=phones,
        fields=body.fields,
        responsible_employee_ids=body.responsible_employee_ids,
    )
    try:
        contact = store.change_contact(contact_id, change)
    except (PhoneTaken, ValueError) as error:
        raise refused(error) from None
    if contact is None:
        raise HTTPException(404, detail="no such contact")
    return contact


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ContactOut,
    summary="Create a contact",
    responses={**WITH_BODY, **errors(409)},
)
def create_contact(body: ContactCreate, store: StoreDep) -> ContactOut:
    """409 when a number is another contact's (numbers find contacts, so each is one's only);
    422 naming a number that cannot be read or an employee that does not exist."""
    return contact_out(write_new_contact(store, body))


@router.patch(
    "/{contact_id}",
    response_model=ContactOut,
    summary="Change a contact's name, numbers, fields or responsibles",
    responses={**WITH_BODY, **errors(404, 409)},
)
def update_contact(contact_id: StoredId, body: ContactPatch, store: StoreDep) -> ContactOut:
    """As creating: 409 for another contact's number, 422 naming what is wrong."""
    return contact_out(write_contact_change(store, contact_id, body))
