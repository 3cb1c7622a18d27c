"""The card bus: one per API process, it hands each live call card update (crm.store.cards) to
the SSE connections of the employees it is for (api/routes/cards.py).

Every replica reads the same table, woken up by PostgreSQL's `NOTIFY`, by a card this very
process wrote (`listen_in_process`), or by a short poll (the only way to hear a worker process
writing into the same SQLite file). Each update is read and made ready to send once per process,
then shared by every connection; it runs only while someone is connected.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import psycopg

from api.analytics import line_of
from api.phone_display import MASK_SETTING, display_phone
from crm import Store
from crm.records import Channel
from crm.store.cards import CARD_CHANNEL, CardEvent, listen_in_process

log = logging.getLogger(__name__)

# How often the table is read with no news: quickly on SQLite (another process may be writing),
# seldom on PostgreSQL (NOTIFY says when), as a safety net for a dropped LISTEN connection.
SQLITE_POLL_SECONDS: Final = 0.2
POSTGRES_POLL_SECONDS: Final = 5.0
# A connection that lets this many updates pile up is closed: its browser resumes from its
# last event id.
QUEUE_LIMIT: Final = 256
_CHANNEL_CACHE_SECONDS: Final = 30.0


@dataclass(frozen=True)
class SentCard:
    """One card update ready to send: its SSE frame, and the employees it is for."""

    id: int
    key: str
    stage: str
    audience: frozenset[int]
    frame: bytes


@dataclass(eq=False)
class Subscription:
    employee_id: int
    queue: asyncio.Queue[SentCard | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_LIMIT)
    )


class CardBus:
    """Fans card updates out to this process's SSE connections."""

    def __init__(self, store: Store, *, poll_seconds: float | None = None) -> None:
        self._store = store
        self._dsn = store.card_listen_dsn()
        self._poll = poll_seconds or (POSTGRES_POLL_SECONDS if self._dsn else SQLITE_POLL_SECONDS)
        self._subscriptions: set[Subscription] = set()
        self._pump: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._last_id = 0
        self._channels: dict[int, tuple[float, Channel | None]] = {}

    @property
    def connections(self) -> int:
        return len(self._subscriptions)

    async def subscribe(self, employee_id: int) -> Subscription:
        """A queue of the updates for `employee_id` from now on (the pump starts if idle)."""
        subscription = Subscription(employee_id)
        self._subscriptions.add(subscription)
        if self._pump is None or self._pump.done():
            self._last_id = await asyncio.to_thread(self._store.last_card_event_id)
            self._wake = asyncio.Event()
            self._pump = asyncio.create_task(self._run())
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    def disconnect_all(self) -> None:
        """End every stream (a replica going away): browsers resume from their last id."""
        for subscription in list(self._subscriptions):
            self._end(subscription)

    def _end(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)
        while not subscription.queue.empty():
            subscription.queue.get_nowait()
        subscription.queue.put_nowait(None)

    async def backlog(self, employee_id: int, after_id: int | None) -> list[SentCard]:
        """What a connection catches up on: every update for the employee after `after_id`
        (a resumed connection), or with none given, the latest of each card still open."""
        events = await asyncio.to_thread(self._read_all, after_id or 0)
        mine = [card for card in events if employee_id in card.audience]
        if after_id is not None:
            return mine
        latest: dict[str, SentCard] = {}
        for card in mine:
            latest[card.key] = card
        return [card for card in latest.values() if card.stage != "finished"]

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        wake = self._wake

        def written_here(_id: int) -> None:
            loop.call_soon_threadsafe(wake.set)

        stop_local = listen_in_process(written_here)
        listener = asyncio.create_task(self._listen(wake)) if self._dsn else None
        try:
            while self._subscriptions:
                try:
                    await asyncio.wait_for(wake.wait(), self._poll)
                except TimeoutError:
                    pass
                wake.clear()
                try:
                    cards = await asyncio.to_thread(self._read_all, self._last_id)
                except Exception:  # the database away for a moment: the next round tries again
                    log.warning("card updates could not be read", exc_info=True)
                    await asyncio.sleep(self._poll)
                    continue
                for card in cards:
                    self._last_id = max(self._last_id, card.id)
                    self._deliver(card)
        finally:
            stop_local()
            if listener is not None:
                listener.cancel()

    def _deliver(self, card: SentCard) -> None:
        for subscription in list(self._subscriptions):
            if subscription.employee_id not in card.audience:
                continue
            try:
                subscription.queue.put_nowait(card)
            except asyncio.QueueFull:
                # too slow a reader: end its stream, its browser resumes from its last id
                self._end(subscription)

    async def _listen(self, wake: asyncio.Event) -> None:
        """LISTEN for NOTIFY on PostgreSQL, reconnecting after a failure (polls fill the gap)."""
        assert self._dsn is not None
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._dsn,
                    autocommit=True,
                    application_name=f"pbxhub-cards-{os.getpid()}",  # for the admin (and tests)
                    # a connection gone silent (no reset) is found dead within ~25 s
                    keepalives=1,
                    keepalives_idle=10,
                    keepalives_interval=5,
                    keepalives_count=3,
                ) as connection:
                    await connection.execute(f"LISTEN {CARD_CHANNEL}")
                    wake.set()  # anything written while we were not listening
                    async for _ in connection.notifies():
                        wake.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("LISTEN for card updates failed; retrying", exc_info=True)
                await asyncio.sleep(1.0)

    # -- in a worker thread: the store, and each update made ready to send once --

    def _read_all(self, after_id: int) -> list[SentCard]:
        cards: list[SentCard] = []
        while True:
            events = self._store.card_events_after(after_id)
            cards += [self._ready(event) for event in events]
            if len(events) < 500:
                return cards
            after_id = events[-1].id

    def _ready(self, event: CardEvent) -> SentCard:
        card = dict(event.card)
        channel = self._channel(int(card["channel_id"]))
        card["id"] = event.id
        card.update(_shown(card, channel))
        data = json.dumps(card, ensure_ascii=False, separators=(",", ":"))
        frame = f"id: {event.id}\nevent: card\ndata: {data}\n\n".encode()
        return SentCard(
            event.id, str(card["key"]), str(card["stage"]), frozenset(event.audience), frame
        )

    def _channel(self, channel_id: int) -> Channel | None:
        now = time.monotonic()
        cached = self._channels.get(channel_id)
        if cached is None or now - cached[0] > _CHANNEL_CACHE_SECONDS:
            cached = (now, self._store.get_channel(channel_id))
            self._channels[channel_id] = cached
        return cached[1]


def _shown(card: Mapping[str, Any], channel: Channel | None) -> dict[str, Any]:
    """The number through the channel's display mask, the line with its name and colour."""
    masks = channel.settings.get(MASK_SETTING) if channel else None
    phone = display_phone(
        card.get("contact_phone"),
        raw=card.get("contact_phone_raw"),
        country=channel.default_country if channel else "RU",
        masks=masks if isinstance(masks, Mapping) else None,
    )
    line = line_of(channel, card.get("virtual_number"), card.get("line_name")) if channel else None
    return {
        "phone_display": phone,
        "line": {"name": line.name, "color": line.color, "number": line.number}
        if line
        else {"name": channel.name if channel else None, "color": None, "number": None},
    }
