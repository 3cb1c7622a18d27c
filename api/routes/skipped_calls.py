"""Calls pbxhub did not record on purpose, each with its reason: never a silent drop."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated

import anyio
from fastapi import APIRouter, HTTPException, Query

from api.bounds import Offset, StoredId
from api.deps import AdminDep, StoreDep
from api.errors import AUTHENTICATED
from api.models import Page, SkippedCallOut
from api.routes.calls import aware, normalize_phone_filter
from crm import SKIP_REASONS, SkippedCallFilter

router = APIRouter(
    prefix="/api/v1", tags=["calls"], dependencies=[AdminDep], responses=AUTHENTICATED
)


@router.get("/skipped-calls", response_model=Page[SkippedCallOut], summary="Calls not recorded")
async def list_skipped_calls(
    store: StoreDep,
    reason: Annotated[
        str | None, Query(description=f"One of: {', '.join(sorted(SKIP_REASONS))}")
    ] = None,
    channel_id: StoredId | None = None,
    phone: Annotated[str | None, Query(description="The other party's number, any format")] = None,
    country: Annotated[str, Query(description="Region to read a national number")] = "RU",
    since: Annotated[datetime | None, Query(description="Started at or after (ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="Started before (ISO 8601)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> Page[SkippedCallOut]:
    if reason is not None and reason not in SKIP_REASONS:
        raise HTTPException(
            422, detail=f"reason: {reason!r} is not one of {', '.join(sorted(SKIP_REASONS))}"
        )
    where = SkippedCallFilter(
        channel_id=channel_id,
        reason=reason,
        phone=normalize_phone_filter(phone, country),
        since=aware("since", since),
        until=aware("until", until),
    )

    def read() -> tuple[list[SkippedCallOut], int]:
        skipped = store.list_skipped_calls(where, limit=limit, offset=offset)
        items = [SkippedCallOut.model_validate(asdict(call)) for call in skipped]
        return items, store.count_skipped_calls(where)

    items, total = await anyio.to_thread.run_sync(read)
    return Page[SkippedCallOut](items=items, total=total, limit=limit, offset=offset)
