"""The live call card a call's workflow publishes: what the call looks like now, and an activity
call each time that changes (ringing → talking → finished), the final one closing the card."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.cards import CardActivities
    from contracts.call_workflow import CallInput
    from contracts.cards import FINISHED, RINGING, TALKING, CardLeg, CardUpdate
    from workflows.call_events import CallEvents
    from workflows.summary import CallSummary, Leg

# Workflows started after this publish their call's card.
LIVE_CARDS_PATCH = "live-call-cards"
# Workflows after this publish the card again when an employee makes or changes its contact.
CARD_REFRESH_PATCH = "card-after-contact-action"
# A card is worth little late: a few quick tries, then the call goes on without it.
_CARD_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    maximum_interval=timedelta(seconds=2),
    maximum_attempts=5,
)


def _leg_state(leg: Leg, over: bool) -> str:
    if leg.talk_ended_at is not None or (leg.answered and over):
        return "ended"
    if leg.answered:
        return "talking"
    return "cancelled" if leg.closed or over else "ringing"


def card_of(
    data: CallInput, summary: CallSummary, targets: list[int], everyone: bool, revision: int = 0
) -> CardUpdate:
    """The call's card as `summary` has it."""
    if summary.over:
        stage = FINISHED
    elif summary.answered_at is not None or any(leg.answered for leg in summary.legs):
        # answered and not over yet (talk ended included): never back to "ringing"
        stage = TALKING
    else:
        stage = RINGING
    return CardUpdate(
        channel_id=data.channel_id,
        session_id=data.session_id,
        provider=data.provider,
        stage=stage,
        direction=summary.direction,
        contact_phone=summary.contact_phone,
        contact_phone_raw=summary.contact_phone_raw,
        contact_name=summary.contact_name,
        line_name=summary.line_name,
        virtual_number=summary.virtual_number,
        answered=summary.answered,
        legs=[
            CardLeg(
                _leg_state(leg, summary.over),
                leg.employee.extension,
                leg.employee.pbx_user_id,
                leg.employee.name,
            )
            for leg in summary.legs
        ],
        target_employee_ids=targets,
        everyone=everyone,
        revision=revision,
    )


class CardPublisher:
    """Publishes a call's card whenever what it shows changes, until the final one."""

    def __init__(self, data: CallInput, events: CallEvents) -> None:
        self._data = data
        self._events = events
        self._targets: list[int] = []
        self._everyone = False
        self._revision = 0

    def target(self, employee_ids: list[int]) -> None:
        """The telephony API's targets of the call (none: every employee of the channel)."""
        self._everyone = self._everyone or not employee_ids
        self._targets = sorted({*self._targets, *employee_ids})

    def refresh(self) -> None:
        """Publish the card again: what the store holds for it changed (a contact made)."""
        self._revision += 1

    def _card(self) -> CardUpdate:
        summary = self._events.summary
        return card_of(self._data, summary, self._targets, self._everyone, self._revision)

    def _changed_from(self, published: CardUpdate | None) -> Callable[[], bool]:
        return lambda: self._card() != published

    async def run(self) -> None:
        """Publish until the card closes; the workflow cancels it if the call never ends."""
        published: CardUpdate | None = None
        while True:
            await workflow.wait_condition(self._changed_from(published))
            card = self._card()
            try:
                await workflow.execute_activity_method(
                    CardActivities.publish_card,
                    card,
                    start_to_close_timeout=timedelta(seconds=10),
                    retry_policy=_CARD_RETRY,
                )
            except ActivityError:
                # the card is a courtesy: the call is written whatever became of it
                workflow.logger.warning("card of %s not published", self._data.session_id)
            published = card
            if card.stage == FINISHED:
                return
