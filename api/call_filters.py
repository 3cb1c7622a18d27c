"""Which calls a REST request asks for: the query parameters the call lists, pages, counts and
CSV exports take, read once into one frozen filter (a dependency), and the phone and time
parameters other lists share.

A `phone` is read as the webhooks read it (`contracts.phones`), by `country` when one is given,
else by the country of the channel the request names (`channel_id`), else as a Russian number.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Final, Literal

import phonenumbers
from fastapi import Depends, HTTPException, Query

from api.bounds import StoredId
from api.call_days import asker_zone, day_window
from api.deps import CallerDep, StoreDep
from contracts.phones import read_phone
from crm import CallFilter, Store

__all__ = [
    "CallFilterDep",
    "CountryParam",
    "DirectionParam",
    "PhoneParam",
    "SinceParam",
    "UntilParam",
    "aware",
    "call_filter",
    "normalize_phone_filter",
    "phone_filter",
]

# The country a number is read by when neither the request nor its channel names one.
DEFAULT_COUNTRY: Final = "RU"

PhoneParam = Annotated[str | None, Query(description="Contact number, any format")]
CountryParam = Annotated[
    str | None,
    Query(
        description="ISO 3166 region to read a national `phone` by (default: the country of "
        f"the channel `channel_id` names, else {DEFAULT_COUNTRY})"
    ),
]
DirectionParam = Annotated[
    Literal["in", "out"] | None,
    Query(description="`in` incoming or `out` outgoing calls (as the calls page's `direction`)"),
]
ContactParam = Annotated[
    StoredId | None,
    Query(description="The contact's calls (as the calls page's `contact_id`)"),
]
EmployeeParam = Annotated[StoredId | None, Query(description="The employee's calls")]
LineParam = Annotated[StoredId | None, Query(description="One line's (channel's) calls")]
FirstDayParam = Annotated[
    date | None,
    Query(
        alias="from",
        description="Started on this day or later, in the zone of whom asks (as the calls "
        "page's): an employee's working hours' zone, else their first line's; the admin's, "
        "the `channel_id` line's, else the first line's",
    ),
]
LastDayParam = Annotated[
    date | None,
    Query(alias="to", description="Started on this day or earlier (the day included; as `from`)"),
]
SinceParam = Annotated[datetime | None, Query(description="Started at or after (ISO 8601)")]
UntilParam = Annotated[datetime | None, Query(description="Started before (ISO 8601)")]


def call_filter(
    store: StoreDep,
    caller: CallerDep,
    phone: PhoneParam = None,
    country: CountryParam = None,
    employee_id: EmployeeParam = None,
    channel_id: LineParam = None,
    since: SinceParam = None,
    until: UntilParam = None,
    direction: DirectionParam = None,
    contact_id: ContactParam = None,
    first: FirstDayParam = None,
    last: LastDayParam = None,
) -> CallFilter:
    """The store's filter for a request's calls (the route adds the kind and who asks); 422
    naming a parameter that cannot be read. Days and times given together narrow together.
    Sync: it may read the channels (a country, a zone), so FastAPI runs it in its thread pool."""
    since, until = aware("since", since), aware("until", until)
    if first is not None or last is not None:
        channels = store.list_channels()
        line = next((c for c in channels if c.id == channel_id), None)
        day_since, day_until = day_window(first, last, asker_zone(caller.employee, channels, line))
        since = max((t for t in (since, day_since) if t is not None), default=None)
        until = min((t for t in (until, day_until) if t is not None), default=None)
    if since is not None and until is not None and until < since:
        raise HTTPException(422, detail="until: comes before since")
    return CallFilter(
        phone=phone_filter(store, phone, country, channel_id=channel_id),
        employee_id=employee_id,
        contact_id=contact_id,
        channel_id=channel_id,
        direction=direction,
        since=since,
        until=until,
    )


CallFilterDep = Annotated[CallFilter, Depends(call_filter)]


def phone_filter(
    store: Store, phone: str | None, country: str | None, *, channel_id: int | None = None
) -> str | None:
    """A phone as a person types it or a PBX sent it ("8 916 123-45-67", "0048221234567") → the
    E.164 form the store keeps, read as the webhooks read it; 422 naming what cannot be read.
    Without `country`, the channel's country is read from the store (blocking)."""
    if phone is None:
        return None
    if country is None:
        channel = store.get_channel(channel_id) if channel_id is not None else None
        country = channel.default_country if channel is not None else DEFAULT_COUNTRY
    return normalize_phone_filter(phone, country)


def normalize_phone_filter(phone: str | None, country: str) -> str | None:
    """`phone` read by `country`'s dialling rules; 422 naming what cannot be read."""
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
    """A time filter that says its zone; 422 naming the parameter when it does not."""
    if value is not None and value.tzinfo is None:
        raise HTTPException(422, detail=f"{name}: give a time zone (e.g. 2026-01-31T10:00:00Z)")
    return value
