"""What employees do with a call while it lasts, inside the call's workflow: each action is
applied once the call is written (a comment typed before the call's record exists waits for it),
in the order it came; the caller's contact is made or changed at once."""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.call_time import CallTimeActivities
    from contracts.call_time import ON_THE_CALL, CallTimeAction, CallTimeAnswer, CallTimeInput
    from workflows.call_events import CallEvents
    from workflows.store_activity import store_activity

# Runs from before employees could act on a call never had such actions to apply.
CALL_TIME_PATCH = "call-time-actions"


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
            return await self._apply(action, call_id)

    async def apply_waiting(self, call_id: int | None) -> None:
        """The waiting actions on the call just written; one the store refuses is logged and
        dropped, never failing the call (the employee was answered "pending" already)."""
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
                    workflow.logger.warning(
                        "%s %s refused: %s", action.kind, action.key, error.cause
                    )

    async def _apply(self, action: CallTimeAction, call_id: int | None) -> CallTimeAnswer:
        summary = self._events.summary
        return await store_activity(
            CallTimeActivities.apply_call_time_action,
            CallTimeInput(action, call_id, summary.contact_phone, summary.contact_phone_raw),
        )
