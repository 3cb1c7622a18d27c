"""Live call card updates in the store: each one a row with a growing id, kept for a short
retention, so every API replica can read what it missed and a dropped SSE connection can resume
(`Last-Event-ID`).

Who hears of a new row: on PostgreSQL a `NOTIFY` on `CARD_CHANNEL` (sent with the insert's
commit, so a listener always finds the row); in this process the callbacks of
`listen_in_process` (the SQLite path when the worker shares the API's process); any other
process polls `card_events_after`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import delete, select, text

from crm.store.engine import StoreCore
from crm.tables import CardEventRow, utcnow

# The PostgreSQL channel card updates are announced on (the payload is the row's id).
CARD_CHANNEL: Final = "pbxhub_cards"
# The transaction lock card writers take on PostgreSQL (any number of pbxhub's own).
_WRITE_LOCK: Final = 0x70627868_63617264  # "pbxhcard"
# How long an update is kept for a resuming connection.
CARD_RETENTION: Final = timedelta(minutes=15)

_listeners: list[Callable[[int], None]] = []
_listeners_lock = threading.Lock()


@dataclass(frozen=True)
class CardEvent:
    """One card update: `card` is its JSON body, `audience` the employee ids it is for."""

    id: int
    card: Mapping[str, Any]
    audience: tuple[int, ...]
    created_at: datetime


def listen_in_process(callback: Callable[[int], None]) -> Callable[[], None]:
    """Call `callback(id)` (from the writing thread) after each card update this process writes;
    returns what stops it."""
    with _listeners_lock:
        _listeners.append(callback)

    def stop() -> None:
        with _listeners_lock:
            if callback in _listeners:
                _listeners.remove(callback)

    return stop


class CardStore(StoreCore):
    """The recent card updates, oldest first by id."""

    def publish_card(self, card: Mapping[str, Any], audience: Sequence[int]) -> int:
        """Keep one card update for `audience`, drop those past the retention; its id."""
        now = utcnow()
        with self._writes.begin() as session:
            if session.get_bind().dialect.name == "postgresql":
                # ids are committed in the order they are taken, so a reader that has seen id N
                # never finds a smaller one committed later (SQLite's write lock does the same)
                session.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": _WRITE_LOCK})
            row = CardEventRow(card=dict(card), audience=sorted(set(audience)), created_at=now)
            session.add(row)
            session.flush()
            session.execute(
                delete(CardEventRow).where(CardEventRow.created_at < now - CARD_RETENTION)
            )
            if session.get_bind().dialect.name == "postgresql":
                session.execute(
                    text("SELECT pg_notify(:channel, :id)"),
                    {"channel": CARD_CHANNEL, "id": str(row.id)},
                )
            card_id = row.id
        with _listeners_lock:
            listeners = list(_listeners)
        for listener in listeners:
            listener(card_id)
        return card_id

    def card_events_after(self, after_id: int, *, limit: int = 500) -> list[CardEvent]:
        """The updates kept after `after_id`, oldest first."""
        query = (
            select(CardEventRow)
            .where(CardEventRow.id > after_id)
            .order_by(CardEventRow.id)
            .limit(limit)
        )
        with self._reads() as session:
            return [
                CardEvent(row.id, row.card, tuple(row.audience), row.created_at)
                for row in session.scalars(query)
            ]

    def last_card_event_id(self) -> int:
        """The newest update's id (0 with none kept)."""
        with self._reads() as session:
            return session.scalar(select(CardEventRow.id).order_by(CardEventRow.id.desc())) or 0

    def card_listen_dsn(self) -> str | None:
        """The libpq address to `LISTEN` on for card updates; None on SQLite (no NOTIFY)."""
        url = self._engine.url
        if url.get_backend_name() != "postgresql":
            return None
        return url.set(drivername="postgresql").render_as_string(hide_password=False)
