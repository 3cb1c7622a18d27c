"""Calls and missed calls, filterable by phone, employee, channel and time; as JSON pages with
their reference analytics, or as CSV of those analytics. The admin sees every call; an employee
(their token) the calls they may hear (`policies.access`), in lists, counts and exports alike."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import anyio
import phonenumbers
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import StreamingResponse

from api.access import call_for
from api.analytics import (
    CALL_FIELDS,
    MISSED_CALL_FIELDS,
    call_analytics,
    contact_phone_display,
    custom_fields,
    line_of,
    virtual_number_display,
)
from api.bounds import Offset, StoredId
from api.csv_export import CONTENT_TYPE, csv_chunks
from api.deps import Caller, CallerDep, StoreDep
from api.errors import AUTHENTICATED, errors
from api.models import AnalyticsFieldOut, CallOut, LineOut, Page
from crm import CallFilter, Channel, Store, StoredCall
from providers.phones import read_phone

router = APIRouter(prefix="/api/v1", tags=["calls"], responses=AUTHENTICATED)

# The CSV exports' answer as the OpenAPI tells it (a file, not JSON).
CSV_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The calls' analytics, a row each (UTF-8 with BOM)",
        "content": {CONTENT_TYPE: {"schema": {"type": "string"}}},
    }
}
# The most rows one CSV export holds (page further with offset).
CSV_MAX_ROWS = 100_000


def normalize_phone_filter(phone: str | None, country: str) -> str | None:
    """A phone as a person types it or a PBX sent it ("8 916 123-45-67", "0048221234567") → the
    E.164 form the store keeps, read as the webhooks read it; 422 naming what cannot be read."""
    if phone is None:
        return None
    if country.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise HTTPException(422, detail=f"country: {country!r} is not an ISO 3166 country code")
    number = read_phone(phone, country)
    if number is None:
        raise HTTPException(
            422, detail=f"phone: {phone!r} is not a phone number (read with country {country})"
        )
    return number


def aware(name: str, value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise HTTPException(422, detail=f"{name}: give a time zone (e.g. 2026-01-31T10:00:00Z)")
    return value


class CallQuery:
    """Which calls: the filters the JSON lists and the CSV exports share."""

    def __init__(
        self,
        phone: Annotated[str | None, Query(description="Contact number, any format")] = None,
        country: Annotated[str, Query(description="Region to read a national number")] = "RU",
        employee_id: StoredId | None = None,
        channel_id: StoredId | None = None,
        since: Annotated[
            datetime | None, Query(description="Started at or after (ISO 8601)")
        ] = None,
        until: Annotated[datetime | None, Query(description="Started before (ISO 8601)")] = None,
    ) -> None:
        self.query: dict[str, Any] = {
            "phone": normalize_phone_filter(phone, country),
            "employee_id": employee_id,
            "channel_id": channel_id,
            "since": aware("since", since),
            "until": aware("until", until),
        }


class CallFilters:
    """Which calls, and which page of them."""

    def __init__(
        self,
        query: Annotated[CallQuery, Depends()],
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Offset = 0,
    ) -> None:
        self.query = query.query
        self.limit = limit
        self.offset = offset


@dataclass(frozen=True)
class Names:
    """What a call's analytics show besides the call: its channel, employee and contact."""

    channels: dict[int, Channel]
    employees: dict[int, str]
    contacts: dict[int, str | None]


def read_names(store: Store, calls: Sequence[StoredCall]) -> Names:
    """One read for a page of calls (sync: run it in a thread)."""
    return Names(
        channels={channel.id: channel for channel in store.list_channels()},
        employees=store.employee_names([c.employee_id for c in calls if c.employee_id]),
        contacts=store.contact_names([c.contact_id for c in calls if c.contact_id]),
    )


def call_out(call: StoredCall, names: Names) -> CallOut:
    out = CallOut.model_validate(asdict(call))
    channel = names.channels.get(call.channel_id)
    if channel is None:  # a channel is never deleted under its calls; show the bare call
        return out
    analytics = call_analytics(
        call,
        channel,
        employee_name=names.employees.get(call.employee_id) if call.employee_id else None,
        contact_name=names.contacts.get(call.contact_id) if call.contact_id else None,
    )
    line = line_of(channel, call.virtual_number, call.line_name)
    return out.model_copy(
        update={
            "analytics": [AnalyticsFieldOut(name=f.name, value=f.value) for f in analytics],
            "contact_phone_display": contact_phone_display(channel, call),
            "virtual_number_display": virtual_number_display(channel, call),
            "line": LineOut(number=line.number, name=line.name, color=line.color) if line else None,
        }
    )


async def _page(caller: Caller, store: Store, kind: str, filters: CallFilters) -> Page[CallOut]:
    def read() -> tuple[list[StoredCall], int, Names]:
        calls, total = store.page_calls(
            CallFilter(kind=kind, heard_by=caller.employee, **filters.query),
            limit=filters.limit,
            offset=filters.offset,
        )
        return calls, total, read_names(store, calls)

    calls, total, names = await anyio.to_thread.run_sync(read)
    return Page[CallOut](
        items=[call_out(call, names) for call in calls],
        total=total,
        limit=filters.limit,
        offset=filters.offset,
    )


@router.get("/calls", response_model=Page[CallOut], summary="Answered calls")
async def list_calls(
    caller: CallerDep, store: StoreDep, filters: Annotated[CallFilters, Depends()]
) -> Page[CallOut]:
    return await _page(caller, store, "call", filters)


@router.get("/missed-calls", response_model=Page[CallOut], summary="Missed calls")
async def list_missed_calls(
    caller: CallerDep, store: StoreDep, filters: Annotated[CallFilters, Depends()]
) -> Page[CallOut]:
    return await _page(caller, store, "missed", filters)


Delimiter = Annotated[
    Literal[",", ";"],
    Query(description="';' for a spreadsheet in a locale whose decimal mark is a comma"),
]
CsvLimit = Annotated[int, Query(ge=1, le=CSV_MAX_ROWS, description="At most this many rows")]


async def _csv(
    caller: Caller,
    store: Store,
    kind: str,
    query: CallQuery,
    limit: int,
    offset: int,
    delimiter: str,
) -> StreamingResponse:
    """The calls' analytics, one row each in the reference order, then the call's id. The
    custom fields' columns are those of the channels exported, in channel order."""
    standard = CALL_FIELDS if kind == "call" else MISSED_CALL_FIELDS

    def read() -> tuple[list[StoredCall], Names]:
        # one query, so that calls written meanwhile neither repeat nor skip a row
        calls = store.list_calls(
            CallFilter(kind=kind, heard_by=caller.employee, **query.query),
            limit=limit,
            offset=offset,
        )
        return calls, read_names(store, calls)

    calls, names = await anyio.to_thread.run_sync(read)
    wanted = query.query["channel_id"]
    custom = list(
        dict.fromkeys(
            name
            for channel in names.channels.values()
            if wanted is None or channel.id == wanted
            for name in custom_fields(channel)
        )
    )
    columns = (*standard, *custom)

    def rows() -> Iterator[list[object]]:
        for call in calls:
            values = {item.name: item.value for item in call_out(call, names).analytics}
            yield [*(values.get(name) for name in columns), call.id]

    filename = "calls.csv" if kind == "call" else "missed-calls.csv"
    return StreamingResponse(
        csv_chunks([*columns, "id"], rows(), delimiter=delimiter),
        media_type=CONTENT_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/calls.csv",
    summary="Answered calls' analytics as CSV (UTF-8 with BOM)",
    response_class=StreamingResponse,
    responses=CSV_ANSWER,
)
async def export_calls(
    caller: CallerDep,
    store: StoreDep,
    query: Annotated[CallQuery, Depends()],
    limit: CsvLimit = CSV_MAX_ROWS,
    offset: Offset = 0,
    delimiter: Delimiter = ",",
) -> StreamingResponse:
    return await _csv(caller, store, "call", query, limit, offset, delimiter)


@router.get(
    "/missed-calls.csv",
    summary="Missed calls' analytics as CSV (UTF-8 with BOM)",
    response_class=StreamingResponse,
    responses=CSV_ANSWER,
)
async def export_missed_calls(
    caller: CallerDep,
    store: StoreDep,
    query: Annotated[CallQuery, Depends()],
    limit: CsvLimit = CSV_MAX_ROWS,
    offset: Offset = 0,
    delimiter: Delimiter = ",",
) -> StreamingResponse:
    return await _csv(caller, store, "missed", query, limit, offset, delimiter)


@router.get("/calls/{call_id}", response_model=CallOut, responses=errors(404))
async def get_call(call_id: StoredId, caller: CallerDep, store: StoreDep) -> CallOut:
    """404 when there is no such call; 403 for an employee who may not hear it, saying where
    it hangs."""

    def read() -> tuple[StoredCall, Names]:
        call = call_for(caller, store, call_id)
        return call, read_names(store, [call])

    call, names = await anyio.to_thread.run_sync(read)
    return call_out(call, names)
