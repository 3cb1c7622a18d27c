"""The live call card activity: a call's card (contracts.cards) completed from the store — the
contact (with its fields, for the card's "edit contact"), its responsibles, recent calls and
open tasks, the employees of its legs — and kept as one card update for everyone it concerns
(crm.store.cards), for the API to fan out."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Final

from temporalio import activity

from contracts.cards import CardUpdate
from crm import Store
from crm.store.calls import CallFilter

# How much history a card shows.
RECENT_CALLS: Final = 5
OPEN_TASKS: Final = 5


class CardActivities:
    """Publishes call cards into one `Store` (sync: runs in the worker's thread pool)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @activity.defn
    def publish_card(self, update: CardUpdate) -> int:
        """Keep the card for its audience; the update's id."""
        card, audience = self.card_and_audience(update)
        return self._store.publish_card(card, audience)

    def card_and_audience(self, update: CardUpdate) -> tuple[dict[str, Any], list[int]]:
        store = self._store
        channel = store.get_channel(update.channel_id)
        audience: list[int] = []
        legs: list[dict[str, Any]] = []
        for leg in update.legs:
            employee = store.find_employee(
                update.channel_id, extension=leg.extension, pbx_user_id=leg.pbx_user_id
            )
            if employee is not None:
                audience.append(employee.id)
            legs.append(
                {
                    "state": leg.state,
                    "extension": leg.extension,
                    "employee_id": employee.id if employee else None,
                    "employee": employee.name if employee else leg.name,
                }
            )
        audience += update.target_employee_ids
        if update.everyone:
            audience += [e.id for e in store.list_employees(channel_id=update.channel_id)]
        contact = (
            store.find_contact_by_phone(update.contact_phone) if update.contact_phone else None
        )
        contact_view: dict[str, Any] | None = None
        if contact is not None:
            audience += contact.responsible_employee_ids
            names = store.employee_names(contact.responsible_employee_ids)
            calls = store.list_calls(CallFilter(contact_id=contact.id), limit=RECENT_CALLS + 1)
            tasks = store.list_tasks(status="open", contact_id=contact.id, limit=OPEN_TASKS)
            contact_view = {
                "id": contact.id,
                "name": contact.name,
                "fields": contact.fields,
                "responsibles": [
                    {"id": i, "name": names.get(i)} for i in contact.responsible_employee_ids
                ],
                "recent_calls": [
                    {
                        "id": call.id,
                        "kind": call.kind,
                        "direction": call.direction,
                        "at": (call.started_at or call.ended_at or call.created_at).isoformat(),
                        "talk_seconds": call.talk_seconds,
                    }
                    # this very call, once written, is not one of the last calls
                    for call in calls
                    if call.session_id != update.session_id
                ][:RECENT_CALLS],
                "open_tasks": [{"id": task.id, "title": task.title} for task in tasks],
            }
        card = {
            **asdict(update),
            "key": f"{update.channel_id}:{update.session_id}",
            "legs": legs,
            "channel_name": channel.name if channel else None,
            "contact": contact_view,
        }
        del card["target_employee_ids"], card["everyone"]
        return card, audience
