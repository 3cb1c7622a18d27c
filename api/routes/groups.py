"""Groups of employees: a telephony API call can be shown to a group (`group_ids[]`)."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, HTTPException, status

from api.bounds import StoredId
from api.deps import AdminDep, StoreDep
from api.errors import AUTHENTICATED, WITH_BODY, errors
from api.rest_models import GroupCreate, GroupMemberIn, GroupOut

router = APIRouter(
    prefix="/api/v1/groups", tags=["groups"], dependencies=[AdminDep], responses=AUTHENTICATED
)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=GroupOut, responses=WITH_BODY)
def create_group(body: GroupCreate, store: StoreDep) -> GroupOut:
    try:
        group = store.create_group(name=body.name, employee_ids=body.employee_ids)
    except ValueError as error:
        raise HTTPException(422, detail=f"employee_ids: {error}") from error
    return GroupOut.model_validate(asdict(group))


@router.get("", response_model=list[GroupOut])
def list_groups(store: StoreDep) -> list[GroupOut]:
    groups = store.list_groups()
    return [GroupOut.model_validate(asdict(group)) for group in groups]


@router.get("/{group_id}", response_model=GroupOut, responses=errors(404))
def get_group(group_id: StoredId, store: StoreDep) -> GroupOut:
    group = store.get_group(group_id)
    if group is None:
        raise HTTPException(404, detail="no such group")
    return GroupOut.model_validate(asdict(group))


@router.post("/{group_id}/members", response_model=GroupOut, responses={**WITH_BODY, **errors(404)})
def add_member(group_id: StoredId, body: GroupMemberIn, store: StoreDep) -> GroupOut:
    try:
        group = store.add_to_group(group_id, body.employee_id)
    except ValueError as error:
        raise HTTPException(422, detail=f"employee_id: {error}") from error
    if group is None:
        raise HTTPException(404, detail="no such group")
    return GroupOut.model_validate(asdict(group))
