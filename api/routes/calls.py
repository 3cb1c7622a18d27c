"""Calls and missed calls, filterable by phone, employee, channel and time."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

import anyio
import phonenumbers
from fastapi import APIRouter, Depends, HTTPException, Query

from api.deps import AdminDep, StoreDep
from api.models import CallOut, Page
from crm import Store, StoredCall

router = APIRouter(prefix="/api/v1", tags=["calls"], dependencies=[AdminDep])


def normalize_phone_filter(phone: str | None, country: str) -> str | None:
    """A phone as a person types it ("8 916 123-45-67") → the E.164 form the store keeps."""
    if phone is None:
        return None
    try:
        parsed = phonenumbers.parse(phone, country.upper())
    except phonenumbers.NumberParseException as error:
        raise HTTPException(422, detail=f"phone: not a phone number ({error})") from error
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _aware(name: str, value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise HTTPException(422, detail=f"{name}: give a time zone (e.g. 2026-01-31T10:00:00Z)")
    return value


class CallFilters:
    def __init__(
        self,
        phone: Annotated[str | None, Query(description="Contact number, any format")] = None,
        country: Annotated[str, Query(description="Region to read a national number")] = "RU",
        employee_id: int | None = None,
        channel_id: int | None = None,
        since: Annotated[
            datetime | None, Query(description="Started at or after (ISO 8601)")
        ] = None,
        until: Annotated[datetime | None, Query(description="Started before (ISO 8601)")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> None:
        self.query: dict[str, Any] = {
            "phone": normalize_phone_filter(phone, country),
            "employee_id": employee_id,
            "channel_id": channel_id,
            "since": _aware("since", since),
            "until": _aware("until", until),
        }
        self.limit = limit
        self.offset = offset


async def _page(store: Store, kind: str, filters: CallFilters) -> Page[CallOut]:
    def read() -> tuple[list[StoredCall], int]:
        calls = store.list_calls(
            kind=kind, limit=filters.limit, offset=filters.offset, **filters.query
        )
        return calls, store.count_calls(kind=kind, **filters.query)

    calls, total = await anyio.to_thread.run_sync(read)
    return Page[CallOut](
        items=[CallOut.model_validate(asdict(call)) for call in calls],
        total=total,
        limit=filters.limit,
        offset=filters.offset,
    )


@router.get("/calls", response_model=Page[CallOut], summary="Answered calls")
async def list_calls(store: StoreDep, filters: Annotated[CallFilters, Depends()]) -> Page[CallOut]:
    return await _page(store, "call", filters)


@router.get("/missed-calls", response_model=Page[CallOut], summary="Missed calls")
async def list_missed_calls(
    store: StoreDep, filters: Annotated[CallFilters, Depends()]
) -> Page[CallOut]:
    return await _page(store, "missed", filters)


@router.get("/calls/{call_id}", response_model=CallOut)
async def get_call(call_id: int, store: StoreDep) -> CallOut:
    call = await anyio.to_thread.run_sync(store.get_call, call_id)
    if call is None:
        raise HTTPException(404, detail="no such call")
    return CallOut.model_validate(asdict(call))
