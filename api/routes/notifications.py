"""Notifications: what employees are told, e.g. a missed call from a contact of theirs."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import anyio
from fastapi import APIRouter, Query

from api.deps import AdminDep, StoreDep
from api.models import NotificationOut

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"], dependencies=[AdminDep])


@router.get("", response_model=list[NotificationOut], summary="Notifications, newest first")
async def list_notifications(
    store: StoreDep,
    employee_id: Annotated[int | None, Query(description="Whose notifications")] = None,
    call_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[NotificationOut]:
    notifications = await anyio.to_thread.run_sync(
        lambda: store.list_notifications(
            employee_id=employee_id, call_id=call_id, limit=limit, offset=offset
        )
    )
    return [NotificationOut.model_validate(asdict(item)) for item in notifications]
