"""The reference analytics of a call, field by field (api.analytics): order, local times, line
names, custom fields; and CSV cells a spreadsheet will not run (api.csv_export)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import pytest

from api.analytics import (
    CALL_FIELDS,
    MISSED_CALL_FIELDS,
    Line,
    call_analytics,
    check_analytics_settings,
    custom_value,
    line_of,
)
from api.csv_export import BOM, csv_cell, csv_chunks
from crm import Channel, StoredCall

T0 = datetime(2024, 3, 12, 7, 15, tzinfo=UTC)  # 10:15 in Moscow


def channel(**settings: Any) -> Channel:
    return Channel(
        id=1,
        provider="uis",
        name="line",
        secret_key="k",
        default_country="RU",
        timezone="Europe/Moscow",
        settings=settings,
        created_at=T0,
    )


def call(kind: str = "call", **fields: Any) -> StoredCall:
    values: dict[str, Any] = {
        "id": 7,
        "channel_id": 1,
        "session_id": "s",
        "provider": "uis",
        "kind": kind,
        "direction": "in",
        "contact_id": 3,
        "contact_phone": "+79161234567",
        "contact_phone_raw": "89161234567",
        "virtual_number": "+74950000001",
        "employee_id": 5,
        "started_at": T0,
        "answered_at": datetime(2024, 3, 12, 7, 15, 7, tzinfo=UTC),
        "ended_at": datetime(2024, 3, 12, 7, 16, 12, tzinfo=UTC),
        "talk_seconds": 65,
        "created_at": T0,
        "updated_at": T0,
    }
    return StoredCall(**{**values, **fields})


def as_dict(fields: list[Any]) -> dict[str, Any]:
    return {field.name: field.value for field in fields}


def test_a_call_has_the_reference_fields_in_order_in_the_channels_time() -> None:
    fields = call_analytics(call(), channel(), employee_name="Anna", contact_name="Ivan")
    assert [(f.name, f.value) for f in fields] == [
        ("date", "2024-03-12"),
        ("time", "10:15:00 - 10:16:12"),
        ("type", "incoming"),
        ("duration", 65),
        ("employee", "Anna"),
        ("contact", "Ivan"),
        ("external_line", "+74950000001"),
        ("contact_number", "+79161234567"),
        ("external_line_name", "+74950000001"),
    ]


def test_a_missed_call_has_no_employee_and_no_duration() -> None:
    missed = call("missed", direction="out", talk_seconds=0, answered_at=None)
    fields = call_analytics(missed, channel(), employee_name="Anna", contact_name=None)
    assert [f.name for f in fields] == list(MISSED_CALL_FIELDS)
    assert as_dict(fields) == {
        "date_time": "2024-03-12 10:15:00",
        "type": "outgoing",
        # a contact with no name is shown by its number
        "contact": "+7 (916) 123-45-67",
        "external_line": "+74950000001",
        "contact_number": "+79161234567",
        "external_line_name": "+74950000001",
    }


def test_the_day_is_the_channels_day_not_utcs() -> None:
    late = call(started_at=datetime(2024, 3, 12, 22, 30, tzinfo=UTC), ended_at=None)
    fields = as_dict(call_analytics(late, channel(), employee_name=None, contact_name=None))
    assert (fields["date"], fields["time"]) == ("2024-03-13", "01:30:00 -")


def test_without_a_talk_count_the_duration_runs_from_the_answer_to_the_end() -> None:
    fields = call_analytics(
        call(talk_seconds=None), channel(), employee_name=None, contact_name=None
    )
    assert as_dict(fields)["duration"] == 65


def test_custom_fields_follow_in_their_declared_order_and_undeclared_stay_in_extra() -> None:
    extra = {"utm_source": "google", "utm_campaign": "spring", "gclid": "abc"}
    with_extra = call(extra=extra)
    fields = call_analytics(
        with_extra,
        channel(custom_fields=["utm_campaign", "utm_source", "utm_term"]),
        employee_name=None,
        contact_name=None,
    )
    names = [f.name for f in fields]
    assert names == [*CALL_FIELDS, "utm_campaign", "utm_source", "utm_term"]
    assert [f.value for f in fields][-3:] == ["spring", "google", None]
    assert with_extra.extra["gclid"] == "abc"


def test_a_custom_field_takes_a_nested_parameter_by_its_last_part() -> None:
    extra = {
        "callDetails.callTrackingData.utm_source": "google",
        "callDetails.callTrackingData.utm_medium": "cpc",
        "utm_medium": "the flat one wins",
    }
    assert custom_value(extra, "utm_source") == "google"
    assert custom_value(extra, "utm_medium") == "the flat one wins"
    assert custom_value(extra, "utm_term") is None


def test_the_line_name_of_the_channel_wins_over_the_pbxs_and_the_number_comes_last() -> None:
    lines = {"+74950000001": {"name": "Hotline", "color": "#ff8800"}}
    assert line_of(channel(lines=lines), "+74950000001", "PBX name") == Line(
        "+74950000001", "Hotline", "#ff8800"
    )
    assert line_of(channel(lines=lines), "+74950000002", "PBX name") == Line(
        "+74950000002", "PBX name", None
    )
    assert line_of(channel(), "+74950000002", None) == Line("+74950000002", "+74950000002")
    # a PBX that sends the line without "+" still finds the channel's name for it
    assert line_of(channel(lines=lines), "74950000001", None) == Line(
        "74950000001", "Hotline", "#ff8800"
    )
    assert line_of(channel(), None, "Main") == Line(None, "Main")
    assert line_of(channel(), None, None) is None


def test_the_display_settings_are_checked_naming_the_bad_entry() -> None:
    check_analytics_settings(
        {
            "custom_fields": ["utm_source"],
            "lines": {"+74950000001": {"name": "Hotline", "color": "orange"}},
            "phone_masks": {"RU": {"mobile": "+# (###) ###-##-##"}},
        }
    )
    check_analytics_settings({"lines": {"+74950000001": None}}, patch=True)
    bad_settings: list[tuple[dict[str, Any], str]] = [
        ({"custom_fields": "utm_source"}, "custom_fields"),
        ({"custom_fields": ["a", "a"]}, "twice"),
        ({"lines": {"74950000001": {"name": "x"}}}, "E.164"),
        ({"lines": {"+74950000001": {"name": 5}}}, r"\+74950000001"),
        ({"lines": {"+74950000001": None}}, r"\+74950000001"),
        ({"phone_masks": {"RU": {"mobile": "none"}}}, "RU.mobile"),
    ]
    for bad, named in bad_settings:
        with pytest.raises(ValueError, match=named):
            check_analytics_settings(bad)


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (None, ""),
        (65, "65"),
        ("+79161234567", "+79161234567"),
        ("+7 (916) 123-45-67,123", "+7 (916) 123-45-67,123"),
        ("-5", "-5"),
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("Іван Петренко", "Іван Петренко"),
    ],
)
def test_a_csv_cell_never_runs_as_a_formula(value: object, cell: str) -> None:
    assert csv_cell(value) == cell


def test_csv_has_a_bom_crlf_and_quotes_what_needs_it() -> None:
    text = "".join(csv_chunks(["a", "b"], [["x, y", 'say "hi"'], ["line\nbreak", None]]))
    assert text.startswith(BOM)
    assert text[len(BOM) :].split("\r\n")[0] == "a,b"
    assert list(csv.reader(io.StringIO(text.removeprefix(BOM), newline=""))) == [
        ["a", "b"],
        ["x, y", 'say "hi"'],
        ["line\nbreak", ""],
    ]
    semicolons = "".join(csv_chunks(["a", "b"], [["1,5", "2"]], delimiter=";"))
    assert semicolons.removeprefix(BOM).split("\r\n")[1] == "1,5;2"
