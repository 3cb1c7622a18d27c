"""A seeded week of calls with known totals, shared by the reports' API tests
(tests/test_reports.py) and their pages' tests (tests/test_report_pages*.py).

ISO week 2026-W13 (Monday 23 to Sunday 29 March 2026) is the week Europe/Berlin goes to summer
time (Sunday 29, 02:00 → 03:00). Three channels keep three zones: Berlin (CET, then CEST),
Moscow (UTC+3) and New York (EDT, UTC-4). Calls sit on the edges: a Monday 00:30 in Berlin that
is Sunday in UTC, a Sunday 23:30 CEST that an hour's offset of CET would still count, a Monday
00:30 CEST that is next week, a call from 23:50 to 00:20, a Moscow call after midnight that is
the day before in Berlin, and a New York Sunday evening that is Monday in UTC.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from contracts.messages import CallRecord
from crm import Employee, EmployeeLink, Store

WEEK = "2026-W13"

# name, channel, kind, direction, employee, contact, start (UTC), wait, talk seconds
CALLS: list[tuple[str, str, str, str, str | None, str, str, int | None, int | None]] = [
    ("b_mon_early", "berlin", "call", "in", "anna", "clara", "2026-03-22T23:30", 5, 60),
    ("b_mon", "berlin", "call", "in", "anna", "clara", "2026-03-23T08:00", 10, 125),
    ("b_mon_out", "berlin", "call", "out", "anna", "clara", "2026-03-23T12:00", None, 49),
    ("b_midnight", "berlin", "call", "in", "anna", "eve", "2026-03-24T22:50", 30, 1800),
    ("b_missed", "berlin", "missed", "in", "anna", "clara", "2026-03-25T09:00", None, None),
    ("b_callback", "berlin", "call", "out", "anna", "clara", "2026-03-25T09:30", None, 90),
    ("b_dst_before", "berlin", "call", "in", "anna", "clara", "2026-03-29T00:30", 15, 30),
    ("b_dst_after", "berlin", "call", "in", "anna", "clara", "2026-03-29T01:30", 20, 30),
    ("b_sun_late", "berlin", "call", "out", "anna", "clara", "2026-03-29T21:30", None, 60),
    ("b_next_mon", "berlin", "call", "in", "anna", "clara", "2026-03-29T22:30", 5, 60),
    ("m_late", "moscow", "call", "in", "boris", "dmitri", "2026-03-25T21:30", 8, 240),
    ("m_missed", "moscow", "missed", "in", None, "dmitri", "2026-03-26T07:00", None, None),
    ("m_callback", "moscow", "call", "out", "boris", "dmitri", "2026-03-26T07:45", None, 120),
    ("m_lost", "moscow", "missed", "in", None, "nameless", "2026-03-27T09:00", None, None),
    ("m_not_reached", "moscow", "missed", "out", "boris", "dmitri", "2026-03-27T10:00", None, None),
    ("n_sun", "ny", "call", "in", "carl", "eve", "2026-03-30T02:00", 25, 300),
    ("n_prev", "ny", "call", "in", "carl", "eve", "2026-03-23T03:00", 3, 100),
    ("ringing", "berlin", "active", "in", "anna", "clara", "2026-03-26T10:00", None, None),
]
RECORDED = {"b_mon", "b_midnight"}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text + ":00+00:00")


def seed(store: Store) -> tuple[dict[str, Employee], dict[str, int]]:
    zones = {"berlin": "Europe/Berlin", "moscow": "Europe/Moscow", "ny": "America/New_York"}
    channels = {
        name: store.create_channel(provider="uis", name=name, timezone=zone)
        for name, zone in zones.items()
    }
    employees = {
        "anna": store.create_employee(
            name="Anna",
            links=[EmployeeLink(channels["berlin"].id, extension="101")],
            working_hours={"timezone": "Europe/Berlin", "days": {}},
            hears_recordings=True,
        ),
        "boris": store.create_employee(
            name="Boris",
            links=[EmployeeLink(channels["moscow"].id, extension="201")],
            working_hours={"timezone": "Europe/Moscow", "days": {}},
        ),
        # no working hours: his days are his channel's
        "carl": store.create_employee(
            name="Carl", links=[EmployeeLink(channels["ny"].id, extension="301")]
        ),
    }
    contacts = {}
    for name, phone, responsible in [
        ("clara", "+4930123456", ["anna"]),
        ("dmitri", "+74951234567", ["anna", "boris"]),
        ("eve", "+12125550100", []),
        ("nameless", "+74957654321", []),
    ]:
        contact, _ = store.find_or_create_contact(
            phone=phone,
            name=None if name == "nameless" else name.capitalize(),
            responsible_employee_ids=[employees[who].id for who in responsible],
        )
        contacts[name] = contact
    ids = {}
    for name, channel, kind, direction, who, with_whom, start, wait, talk in CALLS:
        started = utc(start)
        answered = started + timedelta(seconds=wait or 0) if kind == "call" else None
        ended = (answered or started) + timedelta(seconds=talk or 40)
        call, _ = store.save_call(
            CallRecord(
                channel_id=channels[channel].id,
                session_id=name,
                provider="uis",
                kind=kind,
                direction=direction,
                contact_id=contacts[with_whom].id,
                contact_phone=contacts[with_whom].phones[0].phone,
                employee_id=employees[who].id if who else None,
                started_at=started,
                answered_at=answered,
                ended_at=None if kind == "active" else ended,
                wait_seconds=wait,
                talk_seconds=talk,
                recording_url=f"https://pbx.example/{name}.mp3" if name in RECORDED else None,
            )
        )
        ids[name] = call.id
    return employees, ids
