"""Calls pbxhub did not record on purpose, each with its reason: never a silent drop."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from api.bounds import Offset, PageLimit, StoredId
from api.call_filters import (
    CountryParam,
    PhoneParam,
    SinceParam,
    UntilParam,
    aware,
    phone_filter,
)
from api.deps import AdminDep, StoreDep
from api.errors import AUTHENTICATED
from api.rest_models import Page, SkippedCallOut
from crm import SKIP_REASONS, SkippedCallFilter

router = APIRouter(
    prefix="/api/v1", tags=["calls"], dependencies=[AdminDep], responses=AUTHENTICATED
)


@router.get("/skipped-calls", response_model=Page[SkippedCallOut], summary="Calls not recorded")
def list_skipped_calls(
    store: StoreDep,
    reason: Annotated[
        str | None, Query(description=f"One of: {', '.join(sorted(SKIP_REASONS))}")
    ] = None,
    channel_id: StoredId | None = None,
    phone: PhoneParam = None,
    country: CountryParam = None,
    since: SinceParam = None,
    until: UntilParam = None,
    limit: PageLimit = 100,
    offset: Offset = 0,
) -> Page[SkippedCallOut]:
    if reason is not None and reason not in SKIP_REASONS:
        raise HTTPException(
            422, detail=f"reason: {reason!r} is not one of {', '.join(sorted(SKIP_REASONS))}"
        )
    where = SkippedCallFilter(
        channel_id=channel_id,
        reason=reason,
        phone=phone_filter(store, phone, country, channel_id=channel_id),
        since=aware("since", since),
        until=aware("until", until),
    )
    skipped = store.list_skipped_calls(where, limit=limit, offset=offset)
    items = [SkippedCallOut.model_validate(asdict(call)) for call in skipped]
    total = store.count_skipped_calls(where)
    return Page[SkippedCallOut](items=items, total=total, limit=limit, offset=offset)
