"""Calls as the pages list them: the API's view of each call, the names it shows, where its
recording plays, and for a missed call whether (and how soon) the contact was called back, read
as the missed-calls report reads it (`Store.call_backs`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from api.rest_models import CallOut
from api.routes.calls import call_out, read_names
from crm import Store, StoredCall


@dataclass(frozen=True)
class ShownCall:
    """A call as a page lists it: the API's view of it, and where its recording plays."""

    call: CallOut
    employee_name: str | None
    contact_name: str | None
    player_url: str | None
    # a missed call's call-back: "after 12 min", or None when nobody called back yet
    called_back: str | None = None


def read_shown_calls(store: Store, calls: list[StoredCall]) -> list[ShownCall]:
    """A page of calls with their names and call-backs (sync: run it in a thread)."""
    names = read_names(store, calls)
    backs = store.call_backs([call.id for call in calls if call.kind == "missed"])
    shown = []
    for call in calls:
        out = call_out(call, names)
        back = backs.get(call.id)
        shown.append(
            ShownCall(
                call=out,
                employee_name=names.employees.get(call.employee_id) if call.employee_id else None,
                contact_name=names.contacts.get(call.contact_id) if call.contact_id else None,
                # the API's playback paths, served to a signed-in browser without `/api/v1`
                player_url=out.recording.url.removeprefix("/api/v1")
                if out.recording is not None and out.recording.url
                else None,
                called_back=_after(call, back) if back is not None else None,
            )
        )
    return shown


def _after(call: StoredCall, back: datetime) -> str:
    # when the call happened, as the store orders calls (crm.store.calls._occurred_at)
    start = call.started_at or call.ended_at or call.created_at
    return "after " + waited(int((back - start).total_seconds()))


def waited(seconds: int) -> str:
    """How long someone waited, as a person says it: "45 s", "12 min", "2 h 5 min", "3 d 4 h"."""
    seconds = max(seconds, 0)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"
