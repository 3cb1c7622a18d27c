"""Comments on a call: written by an employee, shown on the call and on the task it hangs on
(else on its contact's card), with author and time. The admin key, or an employee's token for a
call they may hear (`api.access`): they write as themselves."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, HTTPException, status

from api.access import call_comments_for, call_for, comment_author
from api.bounds import StoredId
from api.deps import CallerDep, StoreDep
from api.errors import AUTHENTICATED, WITH_BODY, errors
from api.rest_models import CommentCreate, CommentOut
from crm import Comment, Store

router = APIRouter(prefix="/api/v1/calls", tags=["calls"], responses=AUTHENTICATED)


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
    responses={**WITH_BODY, **errors(404)},
)
def add_call_comment(
    call_id: StoredId, body: CommentCreate, store: StoreDep, caller: CallerDep
) -> CommentOut:
    try:
        author = comment_author(caller, body.author_employee_id)
        call_for(caller, store, call_id)
        written = body.model_copy(update={"author_employee_id": author})
        added = comment_on_call(store, call_id, written)
    except ValueError as error:  # an unknown author
        raise HTTPException(422, detail=f"author_employee_id: {error}") from None
    if added is None:
        raise HTTPException(404, detail="no such call")
    return CommentOut.model_validate(asdict(added))


@router.get("/{call_id}/comments", response_model=list[CommentOut], responses=errors(404))
def list_call_comments(call_id: StoredId, store: StoreDep, caller: CallerDep) -> list[CommentOut]:
    comments = call_comments_for(caller, store, call_id)
    return [CommentOut.model_validate(asdict(comment)) for comment in comments]
