"""Employees: their short numbers and PBX user ids per channel, their own phones, their right to
hear recordings, and the API tokens (lasting until revoked, or for so many days) they list
calls, play recordings and read comments with (`api.access`). Admin only."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, HTTPException, Response, status

from api.bounds import StoredId
from api.deps import AdminDep, StoreDep
from api.errors import AUTHENTICATED, WITH_BODY, errors
from api.rest_models import (
    EmployeeCreate,
    EmployeeOut,
    EmployeeTokenIn,
    EmployeeTokenOut,
    EmployeeUpdate,
)
from crm import ConflictError, Employee, EmployeeLink

router = APIRouter(
    prefix="/api/v1/employees", tags=["employees"], dependencies=[AdminDep], responses=AUTHENTICATED
)


def employee_out(employee: Employee) -> EmployeeOut:
    return EmployeeOut.model_validate(asdict(employee))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=EmployeeOut,
    responses={**WITH_BODY, **errors(409)},
)
def create_employee(body: EmployeeCreate, store: StoreDep) -> EmployeeOut:
    try:
        employee = store.create_employee(
            name=body.name,
            phones=body.phones,
            links=[EmployeeLink(**link.model_dump()) for link in body.links],
            working_hours=body.working_hours,
            hears_recordings=body.hears_recordings,
        )
    except ConflictError as error:
        raise HTTPException(409, detail=str(error)) from error
    except ValueError as error:
        raise HTTPException(422, detail=str(error)) from error
    return employee_out(employee)


@router.get("", response_model=list[EmployeeOut])
def list_employees(store: StoreDep, channel_id: StoredId | None = None) -> list[EmployeeOut]:
    employees = store.list_employees(channel_id=channel_id)
    return [employee_out(employee) for employee in employees]


@router.get("/{employee_id}", response_model=EmployeeOut, responses=errors(404))
def get_employee(employee_id: StoredId, store: StoreDep) -> EmployeeOut:
    employee = store.get_employee(employee_id)
    if employee is None:
        raise HTTPException(404, detail="no such employee")
    return employee_out(employee)


@router.patch("/{employee_id}", response_model=EmployeeOut, responses={**WITH_BODY, **errors(404)})
def update_employee(employee_id: StoredId, body: EmployeeUpdate, store: StoreDep) -> EmployeeOut:
    """Give or take the right to hear recordings."""

    if body.hears_recordings is None:
        employee = store.get_employee(employee_id)
    else:
        employee = store.set_hears_recordings(employee_id, body.hears_recordings)
    if employee is None:
        raise HTTPException(404, detail="no such employee")
    return employee_out(employee)


@router.post(
    "/{employee_id}/token",
    status_code=status.HTTP_201_CREATED,
    response_model=EmployeeTokenOut,
    summary="Issue the employee a new API token (replacing theirs), shown this once",
    responses={**WITH_BODY, **errors(404)},
)
def issue_token(
    employee_id: StoredId, store: StoreDep, response: Response, body: EmployeeTokenIn | None = None
) -> EmployeeTokenOut:
    """The body may say how long it lasts, `{"expires_in_days": 90}`; without one, it lasts
    until it is revoked or replaced."""
    days = body.expires_in_days if body is not None else None
    expires_at = datetime.now(UTC) + timedelta(days=days) if days is not None else None
    token = store.issue_token(employee_id, expires_at=expires_at)
    if token is None:
        raise HTTPException(404, detail="no such employee")
    # a credential: no cache along the way keeps it
    response.headers["Cache-Control"] = "no-store"
    return EmployeeTokenOut(employee_id=employee_id, token=token, expires_at=expires_at)


@router.delete(
    "/{employee_id}/token",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Revoke the employee's API token",
    responses=errors(404),
)
def revoke_token(employee_id: StoredId, store: StoreDep) -> Response:
    if store.revoke_token(employee_id) is None:
        raise HTTPException(404, detail="no such employee")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
