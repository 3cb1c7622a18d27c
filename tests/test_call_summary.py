"""workflows.summary on the event sequences of a PBX that reports each employee's leg: a leg
closed without an answer, the PBX's word on a coming recording, and a call it says not to keep."""

from __future__ import annotations

from typing import Any

from contracts.events import CallEvent
from workflows.summary import summarize


def event(kind: str, key: str, **fields: Any) -> CallEvent:
    return CallEvent(kind=kind, provider="acme", session_id="s1", idempotency_key=key, **fields)


def ring(ext: str) -> CallEvent:
    return event("ringing", f"ring:{ext}", direction="in", employee_extension=ext)


def cancel(ext: str) -> CallEvent:
    return event("status_update", f"cancel:{ext}", employee_extension=ext, answered=False)


def test_a_leg_closed_without_an_answer_does_not_end_the_call() -> None:
    summary = summarize([ring("101"), ring("102"), cancel("101")])

    assert not summary.over
    assert [(leg.employee.extension, leg.closed, leg.answered) for leg in summary.legs] == [
        ("101", True, False),
        ("102", False, False),
    ]
    assert summary.legs[0].as_call_leg().closed is True


def test_a_group_call_is_owned_by_the_employee_who_talked_whatever_the_order() -> None:
    talk = event("talk_started", "talk:102", employee_extension="102")
    finish = event(
        "call_finished", "finish:102", employee_extension="102", answered=True, talk_seconds=9
    )
    events = [finish, cancel("103"), ring("101"), talk, ring("103"), cancel("101"), ring("102")]

    summary = summarize(events)

    assert summary.over and summary.answered
    assert summary.employee is not None and summary.employee.extension == "102"
    closed = {leg.employee.extension: leg.closed for leg in summary.legs}
    assert closed == {"101": True, "102": False, "103": True}


def test_a_status_update_that_says_nothing_of_an_answer_closes_no_leg() -> None:
    note = event("status_update", "ivr", employee_extension="101")
    summary = summarize([ring("101"), note])
    assert [leg.closed for leg in summary.legs] == [False]


def test_recording_expected_is_what_the_pbx_said() -> None:
    def expected(*values: bool | None) -> bool | None:
        events = [
            event("call_finished", f"f{i}", answered=True, recording_expected=value)
            for i, value in enumerate(values)
        ]
        return summarize(events).recording_expected

    assert expected(None) is None
    assert expected(False) is False
    assert expected(False, True) is True  # one leg's "no recording" does not speak for the call


def test_a_call_is_skipped_only_when_every_event_that_ended_it_says_so() -> None:
    said = "missed calls are recorded only from the special request"
    missed = event("call_lost", "lost", answered=False, skip_reason=said)
    notify = event("call_lost", "notify", answered=False, rang_extensions=["101"])

    assert summarize([ring("101"), missed]).skip_reason == said
    assert summarize([ring("101"), missed, notify]).skip_reason is None
    assert summarize([ring("101")]).skip_reason is None
