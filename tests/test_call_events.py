"""A call's workflow folds its events once per new event, not at every condition it waits on;
the same webhook delivered twice changes nothing."""

from __future__ import annotations

from contracts.events import CallEvent, EventKind
from workflows.call_events import CallEvents


def event(kind: EventKind, key: str) -> CallEvent:
    return CallEvent(kind=kind, provider="uis", session_id="s-1", idempotency_key=key)


def test_the_summary_is_folded_again_only_after_a_new_event() -> None:
    events = CallEvents([event(EventKind.CALL_STARTED, "start")])
    first = events.summary

    assert events.summary is first
    assert not events.add(event(EventKind.CALL_STARTED, "start"))  # the same webhook again
    assert events.summary is first

    assert events.add(event(EventKind.CALL_FINISHED, "finish"))
    assert events.summary is not first
    assert events.summary.over and not first.over
    assert len(events) == 2


def test_a_request_key_counts_once_beside_the_events() -> None:
    events = CallEvents()

    assert events.remember("api-1")
    assert not events.remember("api-1")
    assert len(events) == 0
