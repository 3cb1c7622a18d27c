"""The reference analytics of every provider's answered and missed calls, end to end: the
fixtures' webhooks over HTTP → the real Temporal server → `analytics` on /api/v1/calls and
/api/v1/missed-calls, in the documented order, and the same as CSV; custom fields, line names
and phone masks per channel."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import test_binotel_calls as binotel
import test_callgear_calls as callgear
import test_planfix_calls as planfix
import test_uis_calls as uis
import test_zadarma_calls as zadarma
from conftest import Pbxhub, running_pbxhub, scenario
from pbx_simulator import scenario as planfix_scenario
from temporalio.testing import WorkflowEnvironment

from api.csv_export import BOM

CALL: tuple[str, ...] = ("date", "time", "type", "duration", "employee", "contact")
CALL += ("external_line", "contact_number", "external_line_name")
MISSED: tuple[str, ...] = ("date_time", "type", "contact", "external_line", "contact_number")
MISSED += ("external_line_name",)
# Where a PBX gives no time of its own, pbxhub's time of receipt is stored: the field must then
# show the stored time in the channel's zone.
STORED = object()


@pytest.fixture
async def hub(temporal_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Pbxhub]:
    # Zadarma sends no recording link: an answered call waits for one only briefly here.
    async with running_pbxhub(temporal_env, tmp_path, recording_wait_seconds=1) as running:
        yield running


@dataclass(frozen=True)
class Provider:
    line: Callable[[Pbxhub], Awaitable[tuple[Any, ...]]]
    deliver: Callable[[Pbxhub, dict[str, Any], str], Awaitable[None]]
    # a parameter the PBX sends that a custom field of the same name takes
    custom_field: str


async def _planfix_line(hub: Pbxhub) -> tuple[Any, ...]:
    channel, staff = await planfix.planfix_line(hub)
    return (channel, *staff)


async def _planfix_deliver(hub: Pbxhub, channel: dict[str, Any], name: str) -> None:
    endpoint = "ats" if name == "outgoing_answered" else "api"
    await planfix.deliver(hub, channel, planfix_scenario(name), endpoint=endpoint)


def _webhooks(module: Any, provider: str) -> Callable[..., Awaitable[None]]:
    async def deliver(hub: Pbxhub, channel: dict[str, Any], name: str) -> None:
        await module.deliver(hub, channel, scenario(provider, name))

    return deliver


PROVIDERS = {
    "uis": Provider(uis.uis_line, _webhooks(uis, "uis"), "scenario_name"),
    "binotel": Provider(binotel.binotel_line, _webhooks(binotel, "binotel"), "utm_source"),
    "zadarma": Provider(
        zadarma.zadarma_line_taking_fixture_times, _webhooks(zadarma, "zadarma"), "disposition"
    ),
    "callgear": Provider(callgear.callgear_line, _webhooks(callgear, "callgear"), "scenario_name"),
    "planfix_api": Provider(_planfix_line, _planfix_deliver, "utm_source"),
}

UIS_LINE, UA_LINE, DUBAI_LINE = "+74950000001", "+380443334455", "+97143334455"
# provider, scenario, session id, kind: the analytics in order, then the custom field's value
CASES: list[tuple[str, str, str | int, str, tuple[Any, ...]]] = [
    # UIS, Moscow (UTC+3): the PBX's own clock
    ("uis", "inbound_answered", uis.ANSWERED, "call",
     ("2024-03-12", "10:15:00 - 10:16:12", "incoming", 65, "Anna Smirnova", "Иван Петров",
      UIS_LINE, "+79161234567", UIS_LINE, "Основной")),
    ("uis", "inbound_lost", uis.LOST, "missed",
     ("2024-03-12 11:00:00", "incoming", "Иван Петров", UIS_LINE, "+79161234567", UIS_LINE,
      "Основной")),
    ("uis", "outbound_answered", uis.OUTBOUND, "call",
     ("2024-03-12", "12:00:00 - 12:01:39", "outgoing", 90, "Anna Smirnova", "Иван Петров",
      UIS_LINE, "+79161234567", UIS_LINE, "Основной")),
    # Binotel, Kyiv (UTC+2 in March): the line's name is Binotel's own (pbxNumberData.name),
    # the custom field takes call tracking's callDetails.callTrackingData.utm_source
    ("binotel", "inbound_answered", binotel.ANSWERED, "call",
     ("2024-03-12", "10:15:00 - 10:16:50", "incoming", 103, "Тарас Шевчук", "Іван Петренко",
      UA_LINE, "+380671234567", "Головна лінія", "google")),
    ("binotel", "inbound_missed", binotel.MISSED, "missed",
     ("2024-03-12 11:00:00", "incoming", "Іван Петренко", UA_LINE, "+380671234567",
      "Головна лінія", None)),
    ("binotel", "outbound_answered", binotel.OUTBOUND, "call",
     ("2024-03-12", "12:00:00 - 12:01:39", "outgoing", 90, "Олена Коваль", "Іван Петренко",
      UA_LINE, "+380671234567", "Головна лінія", None)),
    ("binotel", "outbound_not_answered", binotel.OUTBOUND_MISSED, "missed",
     ("2024-03-12 12:30:00", "outgoing", "Іван Петренко", UA_LINE, "+380671234567",
      "Головна лінія", None)),
    # Zadarma, Kyiv: call_start is the PBX's; the end is when it was notified. Zadarma names
    # no contact: the contact is shown by its number
    ("zadarma", "inbound_answered", zadarma.TRANSFER, "call",
     ("2024-03-12", STORED, "incoming", 95, "Boris Melnyk", "+380 (67) 123-45-67",
      zadarma.LINE, "+380671234567", zadarma.LINE, "answered")),
    ("zadarma", "inbound_missed", zadarma.MISSED, "missed",
     ("2024-03-12 11:00:00", "incoming", "+380 (67) 123-45-67", zadarma.LINE, "+380671234567",
      zadarma.LINE, "cancel")),
    ("zadarma", "outbound_answered", zadarma.OUTBOUND, "call",
     ("2024-03-12", STORED, "outgoing", 42, "Anna Koval", "+380 (67) 123-45-67", zadarma.LINE,
      "+380671234567", zadarma.LINE, "answered")),
    ("zadarma", "outbound_missed", zadarma.OUTBOUND_MISSED, "missed",
     ("2024-03-12 12:30:00", "outgoing", "+380 (67) 123-45-67", zadarma.LINE, "+380671234567",
      zadarma.LINE, "no answer")),
    # CallGear, Dubai (UTC+4)
    ("callgear", "inbound_answered", callgear.ANSWERED, "call",
     ("2024-03-12", "10:15:00 - 10:16:50", "incoming", 103, "Omar Haddad",
      "Khalid Al Mansoori", DUBAI_LINE, "+971501234567", DUBAI_LINE, "Main")),
    ("callgear", "inbound_missed", callgear.MISSED, "missed",
     ("2024-03-12 11:00:00", "incoming", "Khalid Al Mansoori", DUBAI_LINE, "+971501234567",
      DUBAI_LINE, "Main")),
    ("callgear", "outbound_answered", callgear.OUTBOUND, "call",
     ("2024-03-12", "12:00:00 - 12:01:39", "outgoing", 90, "Aisha Rahman",
      "Khalid Al Mansoori", DUBAI_LINE, "+971501234567", DUBAI_LINE, "Main")),
    ("callgear", "outbound_not_answered", callgear.OUTBOUND_MISSED, "missed",
     ("2024-03-12 12:30:00", "outgoing", "Khalid Al Mansoori", DUBAI_LINE, "+971501234567",
      DUBAI_LINE, "Main")),
    # The CRM telephony API sends no times: every one is pbxhub's. data_utm_source fills the
    # custom field utm_source
    ("planfix_api", "inbound_answered", "pf-1001", "call",
     (STORED, STORED, "incoming", 65, "Anna", "+7 (916) 123-45-67", planfix.LINE,
      "+79161234567", planfix.LINE, "yandex")),
    ("planfix_api", "inbound_missed", "pf-3001", "missed",
     (STORED, "incoming", "+7 (916) 123-45-67", planfix.LINE, "+79161234567", planfix.LINE,
      None)),
    ("planfix_api", "outgoing_answered", "pf-4001", "call",
     (STORED, STORED, "outgoing", 90, "Boris", "+7 (916) 123-45-67", planfix.LINE,
      "+79161234567", planfix.LINE, None)),
    ("planfix_api", "outgoing_busy", "pf-4002", "missed",
     (STORED, "outgoing", "+7 (916) 123-45-67", planfix.LINE, "+79161234567", planfix.LINE,
      None)),
]  # fmt: skip


async def a_line(hub: Pbxhub, provider: str, **settings: Any) -> dict[str, Any]:
    """The provider's test channel and employees, with these settings patched in."""
    channel: dict[str, Any] = (await PROVIDERS[provider].line(hub))[0]
    if settings:
        response = await hub.http.patch(
            f"/api/v1/channels/{channel['id']}", json={"settings": settings}, headers=hub.admin
        )
        assert response.status_code == 200, response.text
        channel = response.json()
    return channel


async def one_call(
    hub: Pbxhub, channel: dict[str, Any], session_id: str | int, kind: str
) -> dict[str, Any]:
    result = await hub.call_result(channel, session_id)
    assert result.outcome == kind
    listed = await hub.get("/api/v1/calls" if kind == "call" else "/api/v1/missed-calls")
    [call] = listed["items"]
    one: dict[str, Any] = await hub.get(f"/api/v1/calls/{call['id']}")
    assert one == call
    return call


def stored_times(call: dict[str, Any], zone: str) -> dict[str, str]:
    """What the time fields must show for the times the store holds."""

    def local(name: str) -> datetime:
        return datetime.fromisoformat(call[name]).astimezone(ZoneInfo(zone))

    start, end = local("started_at"), local("ended_at")
    return {
        "date": start.date().isoformat(),
        "time": f"{start:%H:%M:%S} - {end:%H:%M:%S}",
        "date_time": f"{start:%Y-%m-%d %H:%M:%S}",
    }


@pytest.mark.parametrize(
    ("provider", "name", "session_id", "kind", "expected"),
    CASES,
    ids=[f"{case[0]}-{case[1]}" for case in CASES],
)
async def test_each_analytics_field_of_each_providers_call(
    hub: Pbxhub, provider: str, name: str, session_id: str | int, kind: str, expected: tuple[Any]
) -> None:
    custom = PROVIDERS[provider].custom_field
    channel = await a_line(hub, provider, custom_fields=[custom, "not_sent"])

    await PROVIDERS[provider].deliver(hub, channel, name)

    call = await one_call(hub, channel, session_id, kind)
    names = [*(CALL if kind == "call" else MISSED), custom, "not_sent"]
    times = stored_times(call, channel["timezone"])
    values = [*expected, None]  # not_sent: declared, never sent
    assert call["analytics"] == [
        {"name": field, "value": times[field] if value is STORED else value}
        for field, value in zip(names, values, strict=True)
    ]


async def test_the_csv_holds_the_same_fields_in_the_same_order(hub: Pbxhub) -> None:
    channel = await a_line(hub, "binotel", custom_fields=["utm_source", "utm_campaign"])
    for name in binotel.SCENARIOS:
        await PROVIDERS["binotel"].deliver(hub, channel, name)
    for session_id in binotel.SCENARIOS.values():
        await hub.call_result(channel, session_id)
    calls = (await hub.get("/api/v1/calls"))["items"]
    missed = (await hub.get("/api/v1/missed-calls"))["items"]

    exports = [("/api/v1/calls.csv", calls, CALL), ("/api/v1/missed-calls.csv", missed, MISSED)]
    for path, listed, fields in exports:
        response = await hub.http.get(path, headers=hub.admin)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv; charset=utf-8")
        assert response.content.startswith(BOM.encode())  # Excel reads it as UTF-8
        assert response.text.count("\r\n") == len(listed) + 1
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))
        assert rows[0] == [*fields, "utm_source", "utm_campaign", "id"]
        assert len(rows) == len(listed) + 1 == 3
        for row, call in zip(rows[1:], listed, strict=True):
            values = ["" if a["value"] is None else str(a["value"]) for a in call["analytics"]]
            assert row == [*values, str(call["id"])]

    # the same filters as the JSON list, and a semicolon for a comma-decimal spreadsheet
    response = await hub.http.get(
        "/api/v1/calls.csv",
        params={"phone": "067 123 45 67", "country": "UA", "since": "2024-03-12T09:30:00Z"},
        headers=hub.admin,
    )
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))
    assert [row[-1] for row in rows[1:]] == [str(calls[0]["id"])]  # only the 12:00 call
    assert calls[0]["analytics"][1]["value"] == "12:00:00 - 12:01:39"
    response = await hub.http.get(
        "/api/v1/missed-calls.csv", params={"delimiter": ";"}, headers=hub.admin
    )
    header = response.content.decode("utf-8-sig").split("\r\n")[0]
    assert header == ";".join([*MISSED, "utm_source", "utm_campaign", "id"])
    assert (await hub.http.get("/api/v1/calls.csv")).status_code == 401


async def test_csv_of_calls_with_names_that_need_quoting_and_no_calls_at_all(
    hub: Pbxhub,
) -> None:
    channel = await a_line(hub, "uis", custom_fields=["scenario_name"])
    empty = await hub.http.get("/api/v1/calls.csv", headers=hub.admin)
    assert empty.content.decode("utf-8-sig") == ",".join([*CALL, "scenario_name", "id"]) + "\r\n"

    bodies = [
        (name, body.replace("Основной".encode(), b'=1+1, \\"quoted\\"'))
        for name, body in scenario("uis", "inbound_answered")
    ]
    await uis.deliver(hub, channel, bodies)
    await hub.call_result(channel, uis.ANSWERED)

    response = await hub.http.get("/api/v1/calls.csv", headers=hub.admin)
    text = response.content.decode("utf-8-sig")
    assert '"\'=1+1, ""quoted"""' in text  # quoted, and no formula for a spreadsheet
    [_, row] = list(csv.reader(io.StringIO(text, newline="")))
    assert row[len(CALL)] == '\'=1+1, "quoted"'
    [call] = (await hub.get("/api/v1/calls"))["items"]
    assert call["extra"]["scenario_name"] == '=1+1, "quoted"'  # the data itself is untouched


async def test_undeclared_parameters_stay_in_extra_and_declared_ones_follow_in_order(
    hub: Pbxhub,
) -> None:
    channel = await a_line(
        hub, "binotel", custom_fields=["utm_campaign", "utm_source", "gaClientId"]
    )
    await PROVIDERS["binotel"].deliver(hub, channel, "inbound_answered")
    call = await one_call(hub, channel, binotel.ANSWERED, "call")

    assert call["analytics"][len(CALL) :] == [
        {"name": "utm_campaign", "value": "spring_sale"},
        {"name": "utm_source", "value": "google"},
        {"name": "gaClientId", "value": "1234567890.1710230000"},
    ]
    # every parameter stays in extra, those no field declares too
    tracking = "callDetails.callTrackingData."
    assert call["extra"][tracking + "utm_medium"] == "cpc"
    assert call["extra"][tracking + "geoipCity"] == "Київ"
    assert call["extra"][tracking + "utm_source"] == "google"


async def test_a_channels_line_name_and_colour_win_and_an_unmapped_line_shows_its_number(
    hub: Pbxhub,
) -> None:
    lines = {UA_LINE: {"name": "Київ, гаряча лінія", "color": "#ff8800"}}
    channel = await a_line(hub, "binotel", lines=lines)
    await PROVIDERS["binotel"].deliver(hub, channel, "inbound_answered")
    call = await one_call(hub, channel, binotel.ANSWERED, "call")
    # the channel's name wins over Binotel's own ("Головна лінія")
    assert call["line"] == {"number": UA_LINE, "name": "Київ, гаряча лінія", "color": "#ff8800"}
    assert call["analytics"][len(CALL) - 1]["value"] == "Київ, гаряча лінія"
    assert call["line_name"] == "Головна лінія"  # what the PBX said is kept beside it

    other = await a_line(hub, "uis", lines={"+74950000009": {"name": "Not this one"}})
    await uis.deliver(hub, other, scenario("uis", "inbound_answered"))
    await hub.call_result(other, uis.ANSWERED)
    [uis_call] = (await hub.get("/api/v1/calls", channel_id=other["id"]))["items"]
    # no name from the channel nor from UIS: the number itself
    assert uis_call["line"] == {"number": UIS_LINE, "name": UIS_LINE, "color": None}
    assert uis_call["analytics"][len(CALL) - 1]["value"] == UIS_LINE


async def test_numbers_are_shown_through_the_channels_masks_and_stored_as_e164(
    hub: Pbxhub,
) -> None:
    channel = await a_line(hub, "zadarma")
    await PROVIDERS["zadarma"].deliver(hub, channel, "inbound_missed")
    call = await one_call(hub, channel, zadarma.MISSED, "missed")
    assert (call["contact_phone"], call["contact_phone_raw"]) == ("+380671234567", "380671234567")
    assert call["contact_phone_display"] == "+380 (67) 123-45-67"
    assert call["virtual_number_display"] == "+380 (44) 123-45-67"

    masks = {"UA": {"mobile": "+### ## ### ## ##"}}
    response = await hub.http.patch(
        f"/api/v1/channels/{channel['id']}",
        json={"settings": {"phone_masks": masks}},
        headers=hub.admin,
    )
    assert response.status_code == 200, response.text
    [call] = (await hub.get("/api/v1/missed-calls"))["items"]
    assert call["contact_phone_display"] == "+380 67 123 45 67"
    assert call["virtual_number_display"] == "+380 (44) 123-45-67"  # a landline: its default
    assert call["contact_phone"] == "+380671234567"


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"custom_fields": "utm_source"}, "custom_fields"),
        ({"lines": {"74950000001": {"name": "Hotline"}}}, "E.164"),
        ({"phone_masks": {"RU": {"mobile": "no digits"}}}, "RU.mobile"),
    ],
)
async def test_a_bad_display_setting_is_refused_naming_it(
    hub: Pbxhub, settings: dict[str, Any], named: str
) -> None:
    response = await hub.http.post(
        "/api/v1/channels",
        json={"provider": "uis", "name": "x", "settings": settings},
        headers=hub.admin,
    )
    assert response.status_code == 422 and named in response.text, response.text
    channel = await a_line(hub, "uis")
    response = await hub.http.patch(
        f"/api/v1/channels/{channel['id']}", json={"settings": settings}, headers=hub.admin
    )
    assert response.status_code == 422 and named in response.text, response.text
