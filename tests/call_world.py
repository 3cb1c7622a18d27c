"""Two lines and four people, for the tests that list calls (the API's filters, the calls page):
the Moscow line and the Kyiv line (Ukraine's numbers and zone), employees Anna and Boris,
contacts Ivan (a Moscow number, Anna responsible for him) and Olga (a Kyiv number). Each test
file places its own calls in this world, at the times its filters need."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from contracts.messages import CallRecord
from crm import ContactPhone, Store

IVAN_PHONE = "+79160000002"
OLGA_PHONE = "+380441234567"


@dataclass(frozen=True)
class CallWorld:
    """The store with the lines and people made, their ids by short name."""

    store: Store
    lines: dict[str, int]
    people: dict[str, int]

    def call(
        self, line: str, session: str, at: datetime, *, contact: str | None = None, **values: Any
    ) -> int:
        """A finished one-minute UIS call on `line` at `at`, with `contact` ("ivan" or "olga")
        and his or her number when given; the id of its record."""
        if contact is not None:
            values["contact_id"] = self.people[contact]
            values["contact_phone"] = {"ivan": IVAN_PHONE, "olga": OLGA_PHONE}[contact]
        call, _ = self.store.save_call(
            CallRecord(
                channel_id=self.lines[line],
                session_id=session,
                provider="uis",
                started_at=at,
                ended_at=at + timedelta(seconds=60),
                **values,
            )
        )
        return call.id


def make_call_world(store: Store) -> CallWorld:
    moscow = store.create_channel(provider="uis", name="Moscow line")
    kyiv = store.create_channel(
        provider="uis", name="Kyiv line", default_country="UA", timezone="Europe/Kyiv"
    )
    anna = store.create_employee(name="Anna")
    boris = store.create_employee(name="Boris")
    ivan = store.create_contact(
        name="Ivan", phones=[ContactPhone(IVAN_PHONE)], responsible_employee_ids=[anna.id]
    )
    olga = store.create_contact(name="Olga", phones=[ContactPhone(OLGA_PHONE)])
    return CallWorld(
        store,
        {"moscow": moscow.id, "kyiv": kyiv.id},
        {"anna": anna.id, "boris": boris.id, "ivan": ivan.id, "olga": olga.id},
    )
