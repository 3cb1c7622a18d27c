"""Tasks and what a call leaves behind in the store: tasks (with call-backs closed by a later
answered call), comments, where a call hangs (its attachment to a contact or task) and the
notifications employees get about it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm.records import TASK_STATUSES, CallAttachment, CallPlace, Comment, Notification, Task
from crm.store.contacts import contact_by_id
from crm.store.engine import StoreCore, write_changes
from crm.store.mapping import attachment_of, comment_of, notification_of, task_of
from crm.store.validation import check_employees_exist, check_refs, require_aware
from crm.tables import (
    CallAttachmentRow,
    CallRow,
    CommentRow,
    NotificationRow,
    TaskRow,
    utcnow,
)


class TaskStore(StoreCore):
    """Tasks, opened once per idempotency key, and comments on tasks, calls and contacts."""

    def create_task(
        self,
        *,
        title: str,
        description: str | None = None,
        department: str | None = None,
        assignee_employee_id: int | None = None,
        contact_id: int | None = None,
        call_id: int | None = None,
        idempotency_key: str | None = None,
        type: str | None = None,
        fields: Mapping[str, str] | None = None,
        due_at: datetime | None = None,
        rule: str | None = None,
        closes_on_contact: bool = False,
    ) -> Task:
        """Open a task; with an `idempotency_key` already used, that first task comes back.

        Raises ValueError for an unknown employee, contact or call, or a naive `due_at`.
        """
        require_aware("due_at", due_at)
        if idempotency_key is not None:
            found = self._task_by_key(idempotency_key)
            if found is not None:
                return found
        try:
            with self._writes.begin() as session:
                if idempotency_key is not None:
                    # Read again under the write lock: on SQLite a racing writer is done by now.
                    row = session.scalar(
                        select(TaskRow).where(TaskRow.idempotency_key == idempotency_key)
                    )
                    if row is not None:
                        return task_of(row)
                check_refs(session, assignee_employee_id, contact_id, call_id)
                now = utcnow()
                row = TaskRow(
                    title=title,
                    description=description,
                    status="open",
                    department=department,
                    assignee_employee_id=assignee_employee_id,
                    contact_id=contact_id,
                    call_id=call_id,
                    idempotency_key=idempotency_key,
                    type=type,
                    fields=dict(fields) if fields else None,
                    due_at=due_at,
                    rule=rule,
                    closes_on_contact=closes_on_contact,
                    created_at=now,
                    updated_at=now,
                )
                session.add(row)
                session.flush()
                return task_of(row)
        except IntegrityError:
            found = self._task_by_key(idempotency_key) if idempotency_key else None
            if found is None:
                raise
            return found

    def find_task_by_key(self, idempotency_key: str) -> Task | None:
        """The task opened with this idempotency key, if any."""
        return self._task_by_key(idempotency_key)

    def _task_by_key(self, idempotency_key: str) -> Task | None:
        return self._first(
            select(TaskRow).where(TaskRow.idempotency_key == idempotency_key), task_of
        )

    def get_task(self, task_id: int) -> Task | None:
        return self._get(TaskRow, task_id, task_of)

    def list_tasks(
        self,
        *,
        status: str | None = None,
        assignee_employee_id: int | None = None,
        contact_id: int | None = None,
        call_id: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Task]:
        """Tasks newest first, narrowed by whichever filters are given."""
        equal_to: list[tuple[Any, Any]] = [
            (TaskRow.status, status),
            (TaskRow.assignee_employee_id, assignee_employee_id),
            (TaskRow.contact_id, contact_id),
            (TaskRow.call_id, call_id),
        ]
        query = (
            select(TaskRow)
            .where(*[column == value for column, value in equal_to if value is not None])
            .order_by(TaskRow.id.desc())
            .limit(limit)
            .offset(offset)
        )
        with self._reads() as session:
            return [task_of(row) for row in session.scalars(query)]

    def update_task(
        self,
        task_id: int,
        *,
        status: str | None = None,
        assignee_employee_id: int | None = None,
    ) -> Task | None:
        """Change what is given (None keeps it); None if no such task.

        Raises ValueError for an unknown status or employee.
        """
        if status is not None and status not in TASK_STATUSES:
            raise ValueError(f"status {status!r} is not one of {sorted(TASK_STATUSES)}")
        with self._writes.begin() as session:
            row = session.get(TaskRow, task_id, with_for_update=True)
            if row is None:
                return None
            check_refs(session, assignee_employee_id, None, None)
            given = {"status": status, "assignee_employee_id": assignee_employee_id}
            if write_changes(row, {k: v for k, v in given.items() if v is not None}):
                row.updated_at = utcnow()
                row.closed_at = row.updated_at if row.status == "closed" else None
                session.flush()
            return task_of(row)

    def add_comment(
        self,
        *,
        text: str,
        task_id: int | None = None,
        call_id: int | None = None,
        idempotency_key: str | None = None,
        contact_id: int | None = None,
        author_employee_id: int | None = None,
        hidden: bool = False,
    ) -> Comment:
        """Comment on a task, a call and/or a contact card, by an employee or by pbxhub itself;
        a repeated `idempotency_key` returns the first one.

        Raises ValueError when none of task, call and contact is given, or any given is unknown.
        """
        if task_id is None and call_id is None and contact_id is None:
            raise ValueError("a comment belongs to a task, a call or a contact; neither was given")

        def write(session: Session) -> Comment:
            if idempotency_key is not None:
                row = session.scalar(
                    select(CommentRow).where(CommentRow.idempotency_key == idempotency_key)
                )
                if row is not None:
                    return comment_of(row)
            if task_id is not None and session.get(TaskRow, task_id) is None:
                raise ValueError(f"no task with id {task_id}")
            if call_id is not None and session.get(CallRow, call_id) is None:
                raise ValueError(f"no call with id {call_id}")
            check_refs(session, author_employee_id, contact_id, None)
            row = CommentRow(
                task_id=task_id,
                call_id=call_id,
                contact_id=contact_id,
                author_employee_id=author_employee_id,
                hidden=hidden,
                text=text,
                idempotency_key=idempotency_key,
                created_at=utcnow(),
            )
            session.add(row)
            session.flush()
            return comment_of(row)

        # Another writer added the same keyed comment between our read and insert.
        return self._write_racing(write)

    def list_comments(
        self,
        *,
        task_id: int | None = None,
        call_id: int | None = None,
        contact_id: int | None = None,
        include_hidden: bool = True,
    ) -> list[Comment]:
        """Comments oldest first, of a task, a call or a contact (or several filters at once);
        without `include_hidden`, only those everybody may see."""
        query = select(CommentRow).order_by(CommentRow.id)
        if task_id is not None:
            query = query.where(CommentRow.task_id == task_id)
        if call_id is not None:
            query = query.where(CommentRow.call_id == call_id)
        if contact_id is not None:
            query = query.where(CommentRow.contact_id == contact_id)
        if not include_hidden:
            query = query.where(CommentRow.hidden.is_(False))
        with self._reads() as session:
            return [comment_of(row) for row in session.scalars(query)]

    def close_reached_tasks(self, contact_id: int) -> list[Task]:
        """Close the contact's open call-back tasks (`closes_on_contact`) that an answered call
        has reached since the call the task is about (since the task was made, if it is about
        none), whatever order the calls are processed in; returns the tasks closed now."""
        closed: list[Task] = []
        with self._writes.begin() as session:
            waiting = session.scalars(
                select(TaskRow)
                .where(
                    TaskRow.contact_id == contact_id,
                    TaskRow.status == "open",
                    TaskRow.closes_on_contact.is_(True),
                )
                .order_by(TaskRow.id)
                .with_for_update()
            ).all()
            for task in waiting:
                about = session.get(CallRow, task.call_id) if task.call_id is not None else None
                since = about.occurred_at if about is not None else task.created_at
                reached = session.scalar(
                    select(CallRow)
                    .where(
                        CallRow.contact_id == contact_id,
                        CallRow.kind == "call",
                        CallRow.occurred_at > since,
                    )
                    .order_by(CallRow.occurred_at, CallRow.id)
                    .limit(1)
                )
                if reached is None:
                    continue
                task.status = "closed"
                task.closed_by_call_id = reached.id
                task.closed_at = task.updated_at = utcnow()
                session.flush()
                closed.append(task_of(task))
        return closed


class FollowUpStore(StoreCore):
    """Where a call hangs (on a contact and/or a task, once) and whom pbxhub told about it."""

    def set_call_origin_task(self, call_id: int, task_id: int) -> CallAttachment:
        """Note the task a call was made from (the telephony API's ticket, say): the call will
        hang there. A call that already has an origin task keeps it."""

        def write(session: Session) -> CallAttachment:
            check_refs(session, None, None, call_id)
            if session.get(TaskRow, task_id) is None:
                raise ValueError(f"no task with id {task_id}")
            row = session.get(CallAttachmentRow, call_id, with_for_update=True)
            if row is None:
                row = CallAttachmentRow(call_id=call_id, hidden=False)
                session.add(row)
            if row.origin_task_id is None:
                row.origin_task_id = task_id
            session.flush()
            return attachment_of(row)

        # Another writer made the row between our read and insert: the retry finds it.
        return self._write_racing(write)

    def call_place(self, call_id: int) -> CallPlace | None:
        """Where a call hangs, with the contact and task that decide who sees it there
        (`policies.access`); None if there is no such call."""
        with self._reads() as session:
            call = session.get(CallRow, call_id)
            if call is None:
                return None
            attachment = call.attachment
            if attachment is None or attachment.attached_at is None:
                # not attached yet (or nowhere): it hangs on its contact meanwhile
                attachment = None
            elif attachment.contact_id is None and attachment.task_id is None:
                attachment = None
            contact_id = call.contact_id if attachment is None else attachment.contact_id
            task_row = None
            if attachment is not None and attachment.task_id is not None:
                task_row = session.get(TaskRow, attachment.task_id)
            task = task_of(task_row) if task_row is not None else None
            return CallPlace(
                call_id=call.id,
                contact=contact_by_id(session, contact_id),
                task=task,
                task_contact=contact_by_id(session, task.contact_id if task else None),
                hidden=attachment is not None and attachment.hidden,
            )

    def get_call_attachment(self, call_id: int) -> CallAttachment | None:
        return self._get(CallAttachmentRow, call_id, attachment_of)

    def attach_call(
        self,
        call_id: int,
        *,
        mode: str,
        contact_id: int | None = None,
        task_id: int | None = None,
        hidden: bool = False,
        comment_text: str | None = None,
    ) -> CallAttachment:
        """Hang a call on a task and/or its contact, once: a call already attached keeps its
        place and gets that back. `hidden` also writes the call as a hidden comment on the task
        (or, with none, on the contact). ValueError for an unknown call, contact or task."""

        def write(session: Session) -> CallAttachment:
            check_refs(session, None, contact_id, call_id)
            if task_id is not None and session.get(TaskRow, task_id) is None:
                raise ValueError(f"no task with id {task_id}")
            row = session.get(CallAttachmentRow, call_id, with_for_update=True)
            if row is not None and row.attached_at is not None:
                return attachment_of(row)
            if row is None:
                row = CallAttachmentRow(call_id=call_id, hidden=False)
                session.add(row)
            now = utcnow()
            row.mode, row.contact_id, row.task_id = mode, contact_id, task_id
            row.hidden, row.attached_at = hidden, now
            if hidden and (task_id is not None or contact_id is not None):
                comment = CommentRow(
                    task_id=task_id,
                    contact_id=contact_id if task_id is None else None,
                    text=comment_text or f"call {call_id}",
                    hidden=True,
                    created_at=now,
                )
                session.add(comment)
                session.flush()
                row.comment_id = comment.id
            session.flush()
            return attachment_of(row)

        # Another writer attached it between our read and insert: the retry finds it.
        return self._write_racing(write)

    def hang_call_on_task(self, call_id: int, *, task_id: int, mode: str) -> CallAttachment:
        """An employee's choice of task for a call: attached there if it hangs nowhere yet, moved
        there if it hangs openly on that task's contact alone (the channel's rules put it there
        first); a call on a task, or hidden, keeps its place and gets that back. ValueError for
        an unknown call or task."""

        def write(session: Session) -> CallAttachment:
            check_refs(session, None, None, call_id)
            task = session.get(TaskRow, task_id)
            if task is None:
                raise ValueError(f"no task with id {task_id}")
            row = session.get(CallAttachmentRow, call_id, with_for_update=True)
            if row is not None and row.attached_at is not None:
                settled = row.task_id is not None or row.hidden
                if settled or row.contact_id != task.contact_id:
                    return attachment_of(row)
            if row is None:
                row = CallAttachmentRow(call_id=call_id, hidden=False)
                session.add(row)
            row.mode, row.contact_id, row.task_id = mode, task.contact_id, task.id
            row.attached_at = utcnow()
            session.flush()
            return attachment_of(row)

        return self._write_racing(write)

    def add_notifications(
        self,
        *,
        kind: str,
        text: str,
        employee_ids: Sequence[int],
        call_id: int | None = None,
        contact_id: int | None = None,
    ) -> list[Notification]:
        """Tell each employee; about a call, each employee is told each `kind` once however often
        this is repeated (the stored notifications come back). ValueError for an unknown
        employee, call or contact."""
        wanted = list(dict.fromkeys(employee_ids))

        def write(session: Session) -> list[Notification]:
            check_employees_exist(session, wanted)
            check_refs(session, None, contact_id, call_id)
            told: list[Notification] = []
            for employee_id in wanted:
                row = None
                if call_id is not None:
                    row = session.scalar(
                        select(NotificationRow).where(
                            NotificationRow.call_id == call_id,
                            NotificationRow.employee_id == employee_id,
                            NotificationRow.kind == kind,
                        )
                    )
                if row is None:
                    row = NotificationRow(
                        employee_id=employee_id,
                        kind=kind,
                        text=text,
                        call_id=call_id,
                        contact_id=contact_id,
                        created_at=utcnow(),
                    )
                    session.add(row)
                    session.flush()
                told.append(notification_of(row))
            return told

        # A racing writer told the same employee first: the retry finds its row.
        return self._write_racing(write)

    def list_notifications(
        self,
        *,
        employee_id: int | None = None,
        call_id: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Notification]:
        """Notifications newest first, of one employee and/or about one call."""
        query = select(NotificationRow).order_by(NotificationRow.id.desc())
        if employee_id is not None:
            query = query.where(NotificationRow.employee_id == employee_id)
        if call_id is not None:
            query = query.where(NotificationRow.call_id == call_id)
        with self._reads() as session:
            rows = session.scalars(query.limit(limit).offset(offset))
            return [notification_of(row) for row in rows]
