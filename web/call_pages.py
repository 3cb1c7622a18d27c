"""The calls list for people: filtered by employee, contact, a number typed in any format, line,
direction, outcome and days (in the viewer's time zone), paged, with a CSV of the same filtered
list. The filter is the API's (`api.call_filters.call_filter` → `crm.CallFilter`), a number read
by the line's country, else the viewer's; rights are the API's (`heard_by`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated, Final
from urllib.parse import urlencode

import anyio
from fastapi import Depends, HTTPException, Query
from fastapi.responses import Response, StreamingResponse

from api.access import contact_for
from api.bounds import MAX_ID, Offset
from api.call_days import asker_zone, day_window, read_day
from api.call_filters import DEFAULT_COUNTRY, call_filter
from api.deps import ContextDep
from api.routes.calls import CSV_MAX_ROWS, Delimiter, calls_csv
from api.sessions import Viewer, ViewerDep
from crm import CallFilter, Channel, Employee, Store
from web.page_route import page_router
from web.shown_calls import ShownCall, read_shown_calls
from web.templates import page

router = page_router()

PAGE_SIZE: Final = 50
# The outcomes a person picks from, by the store's kind.
OUTCOMES: Final = {"call": "answered", "missed": "missed", "active": "in progress"}
DIRECTIONS: Final = {"in": "incoming", "out": "outgoing"}

_Id = Annotated[str, Query(max_length=10, pattern=r"^\d*$")]
_Day = Annotated[str, Query(max_length=10, pattern=r"^(\d{4}-\d{2}-\d{2})?$")]


@dataclass(frozen=True)
class CallsAsked:
    """The filter form as sent (its empty fields are no filter), kept for the page's links."""

    kind: str
    direction: str
    phone: str
    employee_id: str
    contact_id: str
    channel_id: str
    first: str
    last: str

    def kept(self) -> dict[str, str]:
        values = {
            "kind": self.kind,
            "direction": self.direction,
            "phone": self.phone,
            "employee_id": self.employee_id,
            "contact_id": self.contact_id,
            "channel_id": self.channel_id,
            "from": self.first,
            "to": self.last,
        }
        return {name: value for name, value in values.items() if value}


def calls_asked(
    kind: Annotated[str, Query(pattern="^(call|missed|active|)$")] = "",
    direction: Annotated[str, Query(pattern="^(in|out|)$")] = "",
    phone: Annotated[str, Query(max_length=64)] = "",
    employee_id: _Id = "",
    contact_id: _Id = "",
    channel_id: _Id = "",
    from_: Annotated[
        str, Query(alias="from", max_length=10, pattern=r"^(\d{4}-\d{2}-\d{2})?$")
    ] = "",
    to: _Day = "",
) -> CallsAsked:
    return CallsAsked(
        kind, direction, phone.strip(), employee_id, contact_id, channel_id, from_, to
    )


CallsAskedDep = Annotated[CallsAsked, Depends(calls_asked)]


@dataclass(frozen=True)
class CallsWhere:
    """The store's filter for what was asked, and what the page says about it."""

    where: CallFilter
    zone: str
    country: str
    channels: list[Channel]


def read_where(store: Store, viewer: Viewer, asked: CallsAsked) -> CallsWhere:
    """The filter read against the viewer (sync: it reads the channels); 422 naming the field
    that cannot be read."""
    channels = store.list_channels()
    channel_id = _id("channel_id", asked.channel_id)
    line = next((c for c in channels if c.id == channel_id), None)
    zone = asker_zone(viewer.employee, channels, line)
    country = _country(viewer.employee, channels, line)
    first, last = read_day("from", asked.first), read_day("to", asked.last)
    since, until = day_window(first, last, zone)
    base = call_filter(
        store,
        viewer.caller,
        phone=asked.phone or None,
        country=country,
        employee_id=_id("employee_id", asked.employee_id),
        channel_id=channel_id,
        since=since,
        until=until,
    )
    where = replace(
        base,
        kind=asked.kind or None,
        direction=asked.direction or None,
        contact_id=_id("contact_id", asked.contact_id),
        heard_by=viewer.employee,
    )
    return CallsWhere(where=where, zone=zone, country=country, channels=channels)


def _id(name: str, value: str) -> int | None:
    if not value:
        return None
    number = int(value)
    if not 1 <= number <= MAX_ID:
        raise HTTPException(422, detail=f"{name}: an id is 1 to {MAX_ID}")
    return number


def _country(employee: Employee | None, channels: list[Channel], line: Channel | None) -> str:
    """A number is read by the line's country, else by that of the viewer's first line."""
    if line is not None:
        return line.default_country
    by_id = {c.id: c for c in channels}
    if employee is not None:
        for link in employee.links:
            if link.channel_id in by_id:
                return by_id[link.channel_id].default_country
    return channels[0].default_country if channels else DEFAULT_COUNTRY


@dataclass(frozen=True)
class CallsList:
    calls: list[ShownCall]
    total: int
    shown: CallsWhere
    employees: list[Employee]
    contact_name: str | None


@router.get("/calls")
async def calls_page(
    context: ContextDep, viewer: ViewerDep, asked: CallsAskedDep, offset: Offset = 0
) -> Response:
    store = context.store

    def read() -> CallsList:
        shown = read_where(store, viewer, asked)
        calls, total = store.page_calls(shown.where, limit=PAGE_SIZE, offset=offset)
        contact_id = shown.where.contact_id
        return CallsList(
            calls=read_shown_calls(store, calls),
            total=total,
            shown=shown,
            # as the API: only the admin lists the employees; an employee picks themselves
            employees=store.list_employees()
            if viewer.is_admin
            else [viewer.employee]
            if viewer.employee
            else [],
            contact_name=_contact_name(viewer, store, contact_id) if contact_id else None,
        )

    listed = await anyio.to_thread.run_sync(read)
    kept = asked.kept()
    total = listed.total
    return page(
        "calls.html",
        viewer=viewer,
        listed=listed,
        calls=listed.calls,
        zone=listed.shown.zone,
        total=total,
        asked=asked,
        outcomes=OUTCOMES,
        directions=DIRECTIONS,
        csv=f"/calls.csv?{urlencode(kept)}" if kept else "/calls.csv",
        first_shown=offset + 1 if listed.calls else 0,
        last_shown=offset + len(listed.calls),
        newer=urlencode({**kept, "offset": max(offset - PAGE_SIZE, 0)}) if offset else None,
        older=urlencode({**kept, "offset": offset + PAGE_SIZE})
        if offset + PAGE_SIZE < total
        else None,
    )


def _contact_name(viewer: Viewer, store: Store, contact_id: int) -> str:
    """The filtered contact's name, for whom sees the contact (`api.access`); else its id."""
    try:
        contact = contact_for(viewer.caller, store, contact_id)
    except HTTPException:
        return f"contact {contact_id}"
    return contact.name or f"contact {contact_id}"


@router.get("/calls.csv")
async def calls_csv_page(
    context: ContextDep, viewer: ViewerDep, asked: CallsAskedDep, delimiter: Delimiter = ","
) -> StreamingResponse:
    """The calls page's filtered list (every page of it) as the API's CSV, for whom is signed
    in, with the API's rights."""
    store = context.store

    def read() -> StreamingResponse:
        where = read_where(store, viewer, asked).where
        filename = {"call": "calls.csv", "missed": "missed-calls.csv"}.get(
            asked.kind, "all-calls.csv"
        )
        return calls_csv(
            viewer.caller,
            store,
            where,
            limit=CSV_MAX_ROWS,
            offset=0,
            delimiter=delimiter,
            filename=filename,
        )

    return await anyio.to_thread.run_sync(read)
