"""Employees: their short numbers and PBX user ids per channel, and their own phones."""

from __future__ import annotations

from dataclasses import asdict

import anyio
from fastapi import APIRouter, HTTPException, status

from api.deps import AdminDep, StoreDep
from api.models import EmployeeCreate, EmployeeOut
from crm import ConflictError, Employee, EmployeeLink

router = APIRouter(prefix="/api/v1/employees", tags=["employees"], dependencies=[AdminDep])


def employee_out(employee: Employee) -> EmployeeOut:
    return EmployeeOut.model_validate(asdict(employee))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=EmployeeOut)
async def create_employee(body: EmployeeCreate, store: StoreDep) -> EmployeeOut:
    def create() -> Employee:
        return store.create_employee(
            name=body.name,
            phones=body.phones,
            links=[EmployeeLink(**link.model_dump()) for link in body.links],
            working_hours=body.working_hours,
        )

    try:
        employee = await anyio.to_thread.run_sync(create)
    except ConflictError as error:
        raise HTTPException(409, detail=str(error)) from error
    except ValueError as error:
        raise HTTPException(422, detail=str(error)) from error
    return employee_out(employee)


@router.get("", response_model=list[EmployeeOut])
async def list_employees(store: StoreDep, channel_id: int | None = None) -> list[EmployeeOut]:
    employees = await anyio.to_thread.run_sync(lambda: store.list_employees(channel_id=channel_id))
    return [employee_out(employee) for employee in employees]


@router.get("/{employee_id}", response_model=EmployeeOut)
async def get_employee(employee_id: int, store: StoreDep) -> EmployeeOut:
    employee = await anyio.to_thread.run_sync(store.get_employee, employee_id)
    if employee is None:
        raise HTTPException(404, detail="no such employee")
    return employee_out(employee)
