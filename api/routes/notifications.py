"""Notifications: what employees are told, e.g. a missed call from a contact of theirs. The
admin reads anyone's; an employee, with their token, their own."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from api.bounds import Offset, PageLimit, StoredId
from api.deps import CallerDep, StoreDep
from api.errors import AUTHENTICATED
from api.rest_models import NotificationOut

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"], responses=AUTHENTICATED)


@router.get("", response_model=list[NotificationOut], summary="Notifications, newest first")
def list_notifications(
    caller: CallerDep,
    store: StoreDep,
    employee_id: Annotated[
        StoredId | None, Query(description="Whose notifications (an employee's token: their own)")
    ] = None,
    call_id: StoredId | None = None,
    limit: PageLimit = 100,
    offset: Offset = 0,
) -> list[NotificationOut]:
    if caller.employee is not None:
        own = caller.employee.id
        if employee_id not in (None, own):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"employee {own} reads their own notifications, not employee "
                f"{employee_id}'s",
            )
        employee_id = own
    notifications = store.list_notifications(
        employee_id=employee_id, call_id=call_id, limit=limit, offset=offset
    )
    return [NotificationOut.model_validate(asdict(item)) for item in notifications]
