"""Contacts: found or created by the caller's normalised number, or made and changed by the
admin (`api.routes.contact_writes`). Admin only, but for a contact card's comments, which an
employee responsible for the contact reads too (`api.access`)."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, HTTPException

from api.access import contact_comments_for
from api.bounds import Offset, PageLimit, StoredId
from api.call_filters import CountryParam, PhoneParam, phone_filter
from api.deps import AdminDep, CallerDep, StoreDep
from api.errors import AUTHENTICATED, errors
from api.rest_models import CommentOut, ContactOut

router = APIRouter(
    prefix="/api/v1/contacts", tags=["contacts"], dependencies=[AdminDep], responses=AUTHENTICATED
)
# What an employee may ask too, their rights checked route by route.
comments_router = APIRouter(prefix="/api/v1/contacts", tags=["contacts"], responses=AUTHENTICATED)


@router.get("", response_model=list[ContactOut])
def list_contacts(
    store: StoreDep,
    phone: PhoneParam = None,
    country: CountryParam = None,
    limit: PageLimit = 100,
    offset: Offset = 0,
) -> list[ContactOut]:
    normalized = phone_filter(store, phone, country)
    contacts = store.list_contacts(phone=normalized, limit=limit, offset=offset)
    return [ContactOut.model_validate(asdict(contact)) for contact in contacts]


@router.get("/{contact_id}", response_model=ContactOut, responses=errors(404))
def get_contact(contact_id: StoredId, store: StoreDep) -> ContactOut:
    contact = store.get_contact(contact_id)
    if contact is None:
        raise HTTPException(404, detail="no such contact")
    return ContactOut.model_validate(asdict(contact))


@comments_router.get(
    "/{contact_id}/comments", response_model=list[CommentOut], responses=errors(404)
)
def list_contact_comments(
    contact_id: StoredId, store: StoreDep, caller: CallerDep, include_hidden: bool = True
) -> list[CommentOut]:
    """The contact card's comments, oldest first: employees' and calls attached to it (hidden
    ones only with `include_hidden`, and for an employee only when they hear recordings)."""
    comments = contact_comments_for(caller, store, contact_id, include_hidden=include_hidden)
    return [CommentOut.model_validate(asdict(comment)) for comment in comments]
