"""What employees do with a call while it lasts, inside the call's workflow: each action is
applied once the call is written (a comment typed before the call's record exists waits for it),
in the order it came; the caller's contact is made or changed at once (still pending: the call
is written with it later)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.call_time import CallTimeActivities
    from contracts.call_time import (
        ON_THE_CALL,
        CallTimeAction,
        CallTimeAnswer,
        CallTimeInput,
        CallTimeRefusal,
    )
    from workflows.call_events import CallEvents
    from workflows.store_activity import store_activity

# Runs from before employees could act on a call never had such actions to apply.
CALL_TIME_PATCH = "call-time-actions"
# Runs after this say on the call what of a pending action the store refused (only logged before).
REFUSALS_NOTED_PATCH = "call-time-refusals-noted"


class CallTimeDesk:
    """The actions waiting for the call to be written, and their application one at a time."""

    def __init__(self, events: CallEvents) -> None:
        self._events = events
        self._waiting: list[CallTimeAction] = []
        self._lock = asyncio.Lock()

    @property
    def waiting(self) -> bool:
        """Actions wait for the call to be written."""
        return bool(self._waiting)

    async def take(self, action: CallTimeAction, call_id: int | None) -> CallTimeAnswer:
        """Apply the action now if it can be, else keep it for `apply_waiting`."""
        workflow.patched(CALL_TIME_PATCH)
        if action.kind in ON_THE_CALL and call_id is None:
            self._waiting.append(action)
            return CallTimeAnswer(pending=True)
        async with self._lock:
            answer = await self._apply(action, call_id)
        if call_id is None:
            # the contact is made now, but the call it belongs to is not written yet
            return replace(answer, pending=True)
        return answer

    async def apply_waiting(self, call_id: int | None) -> None:
        """The waiting actions on the call just written; one the store refuses is logged and
        dropped, never failing the call (the employee was answered "pending" already): the call's
        page says so."""
        if not self._waiting:
            return
        async with self._lock:
            while self._waiting:
                action = self._waiting.pop(0)
                if call_id is None:
                    workflow.logger.warning(
                        "call not recorded: %s %s dropped", action.kind, action.key
                    )
                    continue
                try:
                    await self._apply(action, call_id)
                except ActivityError as error:
                    await self._refused(action, call_id, error)

    async def _refused(self, action: CallTimeAction, call_id: int, error: ActivityError) -> None:
        """Logged for the admin and, for workflows after the patch, said on the call's page."""
        cause = error.cause
        reason = cause.message if isinstance(cause, ApplicationError) else str(cause or error)
        workflow.logger.warning(
            "call %s: %s %s by employee %s refused: %s",
            call_id,
            action.kind,
            action.key,
            action.employee_id,
            reason,
        )
        if not workflow.patched(REFUSALS_NOTED_PATCH):
            return
        try:
            await store_activity(
                CallTimeActivities.note_refused_action, CallTimeRefusal(action, call_id, reason)
            )
        except ActivityError:
            workflow.logger.warning("call %s: refusal of %s not noted", call_id, action.key)

    async def _apply(self, action: CallTimeAction, call_id: int | None) -> CallTimeAnswer:
        summary = self._events.summary
        return await store_activity(
            CallTimeActivities.apply_call_time_action,
            CallTimeInput(action, call_id, summary.contact_phone, summary.contact_phone_raw),
        )
