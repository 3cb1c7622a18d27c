"""The events a call's workflow has heard, each once, and what they add up to, folded once per
new event (not at every condition the workflow waits on)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from contracts.events import CallEvent
from workflows.summary import CallSummary, summarize


class CallEvents:
    """A call's events in arrival order; the same webhook delivered twice counts once."""

    def __init__(self, carried: Iterable[CallEvent] = (), *, canonical: bool = True) -> None:
        # Whether the summary folds events in canonical order (runs from before: arrival order).
        self._canonical = canonical
        self._events: list[CallEvent] = []
        self._keys: set[str] = set()
        self._summary: CallSummary | None = None
        for event in carried:
            self.add(event)

    def add(self, event: CallEvent) -> bool:
        """Keep `event`; False (and nothing changes) when its key was heard already."""
        if not self.remember(event.idempotency_key):
            return False
        self._events.append(event)
        self._summary = None
        return True

    def remember(self, key: str) -> bool:
        """Note a request's key; False when it was heard already."""
        if key in self._keys:
            return False
        self._keys.add(key)
        return True

    @property
    def summary(self) -> CallSummary:
        """What the events add up to, folded again only after a new event."""
        if self._summary is None:
            self._summary = summarize(self._events, canonical=self._canonical)
        return self._summary

    def __iter__(self) -> Iterator[CallEvent]:
        return iter(self._events)

    def news_since(self, count: int) -> Callable[[], bool]:
        """A condition to wait on: an event came after the first `count`."""
        return lambda: len(self._events) != count

    def since(self, count: int) -> list[CallEvent]:
        """The events that came after the first `count`."""
        return self._events[count:]

    def __len__(self) -> int:
        return len(self._events)
