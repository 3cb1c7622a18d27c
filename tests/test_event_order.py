"""A call whose events share a timestamp is folded the same whatever order they arrived in: a
redelivered or reordered call is written the same (workflows/summary.py's canonical order)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from contracts.events import CallEvent
from workflows.summary import summarize

AT = datetime(2024, 3, 12, 8, 15, 7, tzinfo=UTC)


def event(kind: str, key: str, **fields: Any) -> CallEvent:
    return CallEvent(
        kind=kind, provider="acme", session_id="s1", idempotency_key=key, occurred_at=AT, **fields
    )


def group_call() -> list[CallEvent]:
    """Two employees rung in the same second; one talks; the PBX's notes disagree on the queue."""
    return [
        event("call_started", "start", direction="in", contact_phone="+380441234567"),
        event("ringing", "ring:101", employee_extension="101", extra={"queue": "sales"}),
        event("ringing", "ring:102", employee_extension="102", extra={"queue": "support"}),
        event("talk_started", "talk:102", employee_extension="102"),
        event("status_update", "cancel:101", employee_extension="101", answered=False),
        event("call_finished", "finish", answered=True, talk_seconds=9, tags=["vip"]),
    ]


def test_the_same_call_in_every_arrival_order_adds_up_to_the_same_summary() -> None:
    first = summarize(group_call())
    for order in itertools.permutations(group_call()):
        assert summarize(list(order)) == first


def test_events_of_the_same_moment_fold_in_the_order_of_a_call_s_life() -> None:
    summary = summarize(group_call()[::-1])

    assert [leg.employee.extension for leg in summary.legs] == ["101", "102"]
    assert summary.extra == {"queue": "support"}
    assert summary.employee is not None and summary.employee.extension == "102"


def test_runs_from_before_the_canonical_order_still_fold_in_arrival_order() -> None:
    reversed_call = summarize(group_call()[::-1], canonical=False)
    assert reversed_call.extra == {"queue": "sales"}
