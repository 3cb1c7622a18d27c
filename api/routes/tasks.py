"""Tasks ("tickets"): the telephony API opens one per call; read them here. Admin only, but for
a task's comments, which an employee who sees the task reads too (`api.access`)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from api.access import task_comments_for
from api.bounds import Offset, PageLimit, StoredId
from api.deps import AdminDep, CallerDep, StoreDep
from api.errors import AUTHENTICATED, errors
from api.rest_models import CommentOut, TaskOut

router = APIRouter(
    prefix="/api/v1/tasks", tags=["tasks"], dependencies=[AdminDep], responses=AUTHENTICATED
)
# What an employee may ask too, their rights checked route by route.
comments_router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"], responses=AUTHENTICATED)


@router.get("", response_model=list[TaskOut], summary="Tasks, newest first")
def list_tasks(
    store: StoreDep,
    status: Annotated[str | None, Query(pattern="^(open|closed)$")] = None,
    assignee_employee_id: StoredId | None = None,
    contact_id: StoredId | None = None,
    call_id: StoredId | None = None,
    limit: PageLimit = 100,
    offset: Offset = 0,
) -> list[TaskOut]:
    tasks = store.list_tasks(
        status=status,
        assignee_employee_id=assignee_employee_id,
        contact_id=contact_id,
        call_id=call_id,
        limit=limit,
        offset=offset,
    )
    return [TaskOut.model_validate(asdict(task)) for task in tasks]


@router.get("/{task_id}", response_model=TaskOut, responses=errors(404))
def get_task(task_id: StoredId, store: StoreDep) -> TaskOut:
    task = store.get_task(task_id)
    if task is None:
        raise HTTPException(404, detail="no such task")
    return TaskOut.model_validate(asdict(task))


@comments_router.get("/{task_id}/comments", response_model=list[CommentOut], responses=errors(404))
def list_task_comments(
    task_id: StoredId, store: StoreDep, caller: CallerDep, include_hidden: bool = True
) -> list[CommentOut]:
    """Oldest first; hidden ones (calls attached as hidden comments) only with `include_hidden`,
    and for an employee only when they hear recordings."""
    comments = task_comments_for(caller, store, task_id, include_hidden=include_hidden)
    return [CommentOut.model_validate(asdict(comment)) for comment in comments]
