"""A call's legs cross the workflow boundary as a frozen dataclass, in the JSON running calls'
histories already hold: the same keys, times in ISO 8601, and the store keeps them so."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from temporalio.converter import DataConverter

from contracts.messages import CallLeg, CallRecord

RANG = datetime(2024, 3, 12, 8, 16, 0, tzinfo=UTC)
ANSWERED = datetime(2024, 3, 12, 8, 16, 10, tzinfo=UTC)

# one leg of save_call's argument as tests/histories/ recorded it (before legs had a type)
RECORDED_LEG = {
    "answered": True,
    "answered_at": "2024-03-12T08:16:10+00:00",
    "closed": False,
    "closed_at": None,
    "employee_extension": "901",
    "employee_name": None,
    "employee_pbx_id": None,
    "leg_id": None,
    "rang_at": "2024-03-12T08:16:00+00:00",
    "talk_ended_at": None,
    "talk_seconds": 58,
}
LEG = CallLeg(
    employee_extension="901", rang_at=RANG, answered_at=ANSWERED, talk_seconds=58, answered=True
)


def test_a_leg_goes_to_the_activity_as_the_histories_recorded_it() -> None:
    record = CallRecord(1, "s-1", "binotel", "call", "in", legs=[LEG])

    (payload,) = DataConverter.default.payload_converter.to_payloads([record])

    assert json.loads(payload.data)["legs"] == [RECORDED_LEG]


def test_a_recorded_leg_is_read_back_as_the_leg() -> None:
    (payload,) = DataConverter.default.payload_converter.to_payloads([RECORDED_LEG])

    (leg,) = DataConverter.default.payload_converter.from_payloads([payload], [CallLeg])

    assert leg == LEG


def test_the_store_keeps_a_leg_as_the_histories_recorded_it() -> None:
    assert LEG.as_json() == RECORDED_LEG
    assert CallLeg.from_json(RECORDED_LEG) == LEG
