"""Comments on a call: written by an employee, shown on the call and on the task it hangs on
(else on its contact's card), with author and time."""

from __future__ import annotations

from dataclasses import asdict

import anyio
from fastapi import APIRouter, HTTPException, status

from api.deps import AdminDep, StoreDep
from api.models import CommentCreate, CommentOut
from crm import Comment, Store

router = APIRouter(prefix="/api/v1/calls", tags=["calls"], dependencies=[AdminDep])


def comment_on_call(store: Store, call_id: int, body: CommentCreate) -> Comment | None:
    """The comment, on the call and where the call hangs; None if there is no such call."""
    call = store.get_call(call_id)
    if call is None:
        return None
    task_id = call.attachment.task_id if call.attachment is not None else None
    return store.add_comment(
        text=body.text,
        call_id=call.id,
        task_id=task_id,
        contact_id=call.contact_id if task_id is None else None,
        author_employee_id=body.author_employee_id,
    )


@router.post(
    "/{call_id}/comments",
    status_code=status.HTTP_201_CREATED,
    response_model=CommentOut,
    summary="Comment on a call (and on the task it is attached to)",
)
async def add_call_comment(call_id: int, body: CommentCreate, store: StoreDep) -> CommentOut:
    try:
        comment = await anyio.to_thread.run_sync(comment_on_call, store, call_id, body)
    except ValueError as error:  # an unknown author
        raise HTTPException(422, detail=f"author_employee_id: {error}") from None
    if comment is None:
        raise HTTPException(404, detail="no such call")
    return CommentOut.model_validate(asdict(comment))


@router.get("/{call_id}/comments", response_model=list[CommentOut])
async def list_call_comments(call_id: int, store: StoreDep) -> list[CommentOut]:
    def read() -> list[Comment] | None:
        if store.get_call(call_id) is None:
            return None
        return store.list_comments(call_id=call_id)

    comments = await anyio.to_thread.run_sync(read)
    if comments is None:
        raise HTTPException(404, detail="no such call")
    return [CommentOut.model_validate(asdict(comment)) for comment in comments]
