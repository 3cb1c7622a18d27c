"""Tasks ("tickets"): the telephony API opens one per call; read them here."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import anyio
from fastapi import APIRouter, HTTPException, Query

from api.deps import AdminDep, StoreDep
from api.models import CommentOut, TaskOut

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"], dependencies=[AdminDep])


@router.get("", response_model=list[TaskOut], summary="Tasks, newest first")
async def list_tasks(
    store: StoreDep,
    status: Annotated[str | None, Query(pattern="^(open|closed)$")] = None,
    assignee_employee_id: int | None = None,
    contact_id: int | None = None,
    call_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[TaskOut]:
    tasks = await anyio.to_thread.run_sync(
        lambda: store.list_tasks(
            status=status,
            assignee_employee_id=assignee_employee_id,
            contact_id=contact_id,
            call_id=call_id,
            limit=limit,
            offset=offset,
        )
    )
    return [TaskOut.model_validate(asdict(task)) for task in tasks]


@router.get("/{task_id}", response_model=TaskOut)
async def get_task(task_id: int, store: StoreDep) -> TaskOut:
    task = await anyio.to_thread.run_sync(store.get_task, task_id)
    if task is None:
        raise HTTPException(404, detail="no such task")
    return TaskOut.model_validate(asdict(task))


@router.get("/{task_id}/comments", response_model=list[CommentOut])
async def list_task_comments(
    task_id: int, store: StoreDep, include_hidden: bool = True
) -> list[CommentOut]:
    """Oldest first; hidden ones (calls attached as hidden comments) only with `include_hidden`."""
    comments = await anyio.to_thread.run_sync(
        lambda: store.list_comments(task_id=task_id, include_hidden=include_hidden)
    )
    return [CommentOut.model_validate(asdict(comment)) for comment in comments]
