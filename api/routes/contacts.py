"""Contacts: found or created by the caller's normalised number."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import anyio
from fastapi import APIRouter, HTTPException, Query

from api.deps import AdminDep, StoreDep
from api.models import ContactOut
from api.routes.calls import normalize_phone_filter

router = APIRouter(prefix="/api/v1/contacts", tags=["contacts"], dependencies=[AdminDep])


@router.get("", response_model=list[ContactOut])
async def list_contacts(
    store: StoreDep,
    phone: Annotated[str | None, Query(description="Any format")] = None,
    country: str = "RU",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[ContactOut]:
    normalized = normalize_phone_filter(phone, country)
    contacts = await anyio.to_thread.run_sync(
        lambda: store.list_contacts(phone=normalized, limit=limit, offset=offset)
    )
    return [ContactOut.model_validate(asdict(contact)) for contact in contacts]


@router.get("/{contact_id}", response_model=ContactOut)
async def get_contact(contact_id: int, store: StoreDep) -> ContactOut:
    contact = await anyio.to_thread.run_sync(store.get_contact, contact_id)
    if contact is None:
        raise HTTPException(404, detail="no such contact")
    return ContactOut.model_validate(asdict(contact))
