"""Calls that are not recorded are never dropped silently: each reason end to end (webhooks →
the real Temporal server → the store), listed by /api/v1/skipped-calls and counted by
/metrics; and the store's side of it on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import test_planfix_calls as planfix
import test_uis_calls as uis
import test_zadarma_calls as zadarma
from conftest import Pbxhub, running_pbxhub, scenario
from pbx_simulator import scenario as planfix_scenario
from temporalio.testing import WorkflowEnvironment

from contracts.messages import CallRecord
from crm import SkippedCallRecord, Store


@pytest.fixture
async def hub(temporal_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Pbxhub]:
    async with running_pbxhub(temporal_env, tmp_path, recording_wait_seconds=1) as running:
        yield running


async def skipped(hub: Pbxhub, **filters: Any) -> list[dict[str, Any]]:
    page = await hub.get("/api/v1/skipped-calls", **filters)
    assert page["total"] == len(page["items"])
    items: list[dict[str, Any]] = page["items"]
    return items


async def nothing_recorded(hub: Pbxhub) -> None:
    assert (await hub.get("/api/v1/calls"))["items"] == []
    assert (await hub.get("/api/v1/missed-calls"))["items"] == []


async def metrics(hub: Pbxhub) -> dict[str, int]:
    """The skipped-call counters of /metrics: {'channel_id=1,provider=uis,reason=x': n}."""
    response = await hub.http.get("/metrics", headers={"Authorization": f"Bearer {hub.admin_key}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    counters = {}
    for line in response.text.splitlines():
        # prometheus-client writes counts as floats ("1.0")
        found = re.fullmatch(r"pbxhub_skipped_calls_total\{(.*)\} (\d+)\.0", line)
        if found:
            counters[found[1].replace('"', "")] = int(found[2])
    return counters


def with_uis_contact(bodies: list[tuple[str, bytes]], number: str) -> list[tuple[str, bytes]]:
    """A UIS scenario whose other party is `number`."""
    changed = []
    for name, body in bodies:
        data = json.loads(body)
        if "contact_phone_number" in data:
            data["contact_phone_number"] = number
        changed.append((name, json.dumps(data, ensure_ascii=False).encode()))
    return changed


async def test_a_call_answered_by_an_unknown_employee_is_kept_with_its_reason(
    hub: Pbxhub,
) -> None:
    channel, _, _ = await uis.uis_line(hub)

    await uis.deliver(hub, channel, scenario("uis", "unknown_employee"))

    result = await hub.call_result(channel, uis.UNKNOWN)
    assert (result.outcome, result.reason_code) == ("skipped", "unknown_employee")
    await nothing_recorded(hub)
    [call] = await skipped(hub)
    assert (call["reason"], call["channel_id"], call["provider"]) == (
        "unknown_employee",
        channel["id"],
        "uis",
    )
    assert call["detail"] == "unknown employee: PBX user id 99999"
    assert call["session_id"] == str(uis.UNKNOWN)
    assert (call["direction"], call["contact_phone"], call["contact_phone_raw"]) == (
        "in",
        uis.CALLER,
        "79161234567",
    )
    assert (call["virtual_number"], call["employee_pbx_id"]) == ("+74950000001", "99999")
    assert datetime.fromisoformat(call["started_at"]) == uis.moscow("2024-03-12 13:00:00")
    assert call["extra"]["scenario_name"] == "Основной"
    assert await metrics(hub) == {
        f"channel_id={channel['id']},provider=uis,reason=unknown_employee": 1
    }


async def test_the_recording_of_a_skipped_call_coming_late_makes_no_call_of_its_own(
    pbxhub_skipping_time: Pbxhub, time_skipping_env: WorkflowEnvironment
) -> None:
    hub = pbxhub_skipping_time
    channel, _, _ = await uis.uis_line(hub)
    *call, recording = scenario("uis", "unknown_employee")
    await uis.deliver(hub, channel, call)
    first = await hub.call_result(channel, uis.UNKNOWN)
    assert (first.outcome, first.reason_code) == ("skipped", "unknown_employee")

    # the PBX's recording notification comes after the skipped call's workflow closed; even
    # once the longest call could have ended, it is no call of its own
    await uis.deliver(hub, channel, [recording])
    await time_skipping_env.sleep(timedelta(hours=1, minutes=1))
    late = await hub.call_result(channel, uis.UNKNOWN)

    assert (late.outcome, late.reason_code) == ("skipped", "unknown_employee")
    await nothing_recorded(hub)
    [kept] = await skipped(hub)
    assert (kept["reason"], kept["session_id"]) == ("unknown_employee", str(uis.UNKNOWN))


async def test_a_typo_in_a_short_number_shows_up_as_skipped_calls_counted_per_channel(
    hub: Pbxhub,
) -> None:
    # Anna's short number is 101 in the PBX, but was typed as 110 in pbxhub
    channel = await hub.create_channel(
        "planfix_api", settings={"secrets": {"planfix_token": planfix.TOKEN}}
    )
    await hub.create_employee("Anna", links=[{"channel_id": channel["id"], "extension": "110"}])

    await planfix.deliver(hub, channel, planfix_scenario("inbound_answered"))

    result = await hub.call_result(channel, "pf-1001")
    assert (result.outcome, result.reason) == ("skipped", "unknown employee: extension 101")
    await nothing_recorded(hub)
    [call] = await skipped(hub, reason="unknown_employee")
    assert (call["employee_extension"], call["contact_phone"]) == ("101", planfix.CALLER)
    # the data_ parameters are kept with it
    assert call["extra"] == {"utm_source": "yandex", "utm_campaign": "spring"}
    assert await metrics(hub) == {
        f"channel_id={channel['id']},provider=planfix_api,reason=unknown_employee": 1
    }


async def test_a_call_with_an_employees_own_phone_is_kept_with_its_reason(hub: Pbxhub) -> None:
    channel, _, _ = await uis.uis_line(hub)
    vera = await hub.create_employee("Vera Orlova", phones=[uis.CALLER])

    await uis.deliver(hub, channel, scenario("uis", "inbound_answered"))

    result = await hub.call_result(channel, uis.ANSWERED)
    assert (result.outcome, result.reason_code) == ("skipped", "employee_phone")
    await nothing_recorded(hub)
    assert await hub.get("/api/v1/contacts") == []  # an employee is no contact
    [call] = await skipped(hub, reason="employee_phone")
    assert call["detail"] == f"the other party is employee {vera['name']}'s own phone"
    assert (call["contact_phone"], call["employee_pbx_id"]) == (uis.CALLER, "28511")


async def test_an_outbound_call_to_a_colleagues_extension_is_internal(hub: Pbxhub) -> None:
    channel, _, _ = await uis.uis_line(hub)

    # Anna (UIS user 28511) dials 102, Boris's extension
    await uis.deliver(hub, channel, with_uis_contact(scenario("uis", "outbound_answered"), "102"))

    result = await hub.call_result(channel, uis.OUTBOUND)
    assert (result.outcome, result.reason_code) == ("skipped", "internal")
    await nothing_recorded(hub)
    assert await hub.get("/api/v1/contacts") == []
    [call] = await skipped(hub, reason="internal")
    assert call["detail"] == "internal call: the other party is extension 102 (Boris Ivanov)"
    assert (call["contact_phone"], call["contact_phone_raw"]) == (None, "102")
    assert (call["direction"], call["employee_pbx_id"]) == ("out", "28511")


async def test_an_internal_zadarma_call_between_101_and_102_is_internal(hub: Pbxhub) -> None:
    channel, _, _ = await zadarma.zadarma_line_taking_fixture_times(hub)
    bodies = [
        (name, body.replace(b"destination=380671234567", b"destination=102"))
        for name, body in scenario("zadarma", "outbound_answered")
    ]

    await zadarma.deliver(hub, channel, bodies)

    result = await hub.call_result(channel, zadarma.OUTBOUND)
    assert (result.outcome, result.reason_code) == ("skipped", "internal")
    await nothing_recorded(hub)
    [call] = await skipped(hub)
    assert call["detail"] == "internal call: the other party is extension 102 (Boris Melnyk)"
    assert call["employee_extension"] == "101"


async def test_a_call_to_a_short_number_nobody_has_is_still_recorded(hub: Pbxhub) -> None:
    # 900 is no extension of the channel: a service number, say; nothing is hidden
    channel, _, _ = await uis.uis_line(hub)
    await uis.deliver(hub, channel, with_uis_contact(scenario("uis", "outbound_answered"), "900"))

    result = await hub.call_result(channel, uis.OUTBOUND)
    assert result.outcome == "call"
    [call] = (await hub.get("/api/v1/calls"))["items"]
    assert (call["contact_phone"], call["contact_phone_raw"], call["contact_id"]) == (
        None,
        "900",
        None,
    )
    assert call["contact_phone_display"] == "900"
    assert await skipped(hub) == []


async def test_a_call_the_pbx_says_not_to_record_is_kept_and_recorded_once_it_is_asked_to(
    hub: Pbxhub,
) -> None:
    channel, _ = await planfix.planfix_line(hub, missed_calls_only_from_special_request=True)
    requests = planfix_scenario("freepbx_missed_notify")

    await planfix.deliver(hub, channel, requests[:2])

    result = await hub.call_result(channel, "1700000000.77")
    assert (result.outcome, result.reason_code) == ("skipped", "pbx")
    [call] = await skipped(hub, reason="pbx")
    assert "callMissedNotify" in call["detail"]
    assert await metrics(hub) == {f"channel_id={channel['id']},provider=planfix_api,reason=pbx": 1}

    # the special request comes: the call is a missed call now, and no longer a skipped one
    await planfix.deliver(hub, channel, requests[2:])
    result = await hub.call_result(channel, "1700000000.77")
    assert result.outcome == "missed"
    assert len((await hub.get("/api/v1/missed-calls"))["items"]) == 1
    assert await skipped(hub) == []
    assert await metrics(hub) == {}


async def test_skipped_calls_are_filtered_like_calls(hub: Pbxhub) -> None:
    channel, _, _ = await uis.uis_line(hub)
    other, _, _ = await uis.uis_line(hub)
    await hub.create_employee("Vera", phones=["+79161234568"])
    await uis.deliver(hub, channel, scenario("uis", "unknown_employee"))
    await uis.deliver(hub, channel, with_uis_contact(scenario("uis", "outbound_answered"), "102"))
    await uis.deliver(
        hub, other, with_uis_contact(scenario("uis", "inbound_answered"), "79161234568")
    )
    await hub.call_result(channel, uis.UNKNOWN)
    await hub.call_result(channel, uis.OUTBOUND)
    await hub.call_result(other, uis.ANSWERED)

    everything = await skipped(hub)
    # newest first: 13:00 (unknown employee), 12:00 (internal), 10:15 (own phone)
    assert [c["reason"] for c in everything] == ["unknown_employee", "internal", "employee_phone"]
    assert [c["reason"] for c in await skipped(hub, channel_id=other["id"])] == ["employee_phone"]
    assert [c["reason"] for c in await skipped(hub, phone="8 916 123-45-68")] == ["employee_phone"]
    window = {"since": "2024-03-12T08:30:00Z", "until": "2024-03-12T09:30:00Z"}
    assert [c["reason"] for c in await skipped(hub, **window)] == ["internal"]
    page = await hub.get("/api/v1/skipped-calls", limit=1, offset=1)
    assert (page["total"], [c["reason"] for c in page["items"]]) == (3, ["internal"])

    bad = await hub.http.get(
        "/api/v1/skipped-calls", params={"reason": "whatever"}, headers=hub.admin
    )
    assert bad.status_code == 422 and "unknown_employee" in bad.text
    assert (await hub.http.get("/api/v1/skipped-calls")).status_code == 401
    assert (await hub.http.get("/metrics")).status_code == 401
    assert await metrics(hub) == {
        f"channel_id={channel['id']},provider=uis,reason=internal": 1,
        f"channel_id={channel['id']},provider=uis,reason=unknown_employee": 1,
        f"channel_id={other['id']},provider=uis,reason=employee_phone": 1,
    }


# --- the store, on SQLite and PostgreSQL ----------------------------------------------------


def a_skip(channel_id: int, session_id: str = "s-1", **fields: Any) -> SkippedCallRecord:
    values: dict[str, Any] = {
        "channel_id": channel_id,
        "session_id": session_id,
        "provider": "uis",
        "reason": "unknown_employee",
        "detail": "unknown employee: extension 115",
        "employee_extension": "115",
        "started_at": datetime(2024, 3, 12, 7, 15, tzinfo=UTC),
        "extra": {"scenario_name": "Основной"},
    }
    return SkippedCallRecord(**{**values, **fields})


def test_a_skipped_call_saved_twice_is_kept_once_and_updated(store: Store) -> None:
    channel = store.create_channel(provider="uis", name="line")
    first, created = store.save_skipped_call(a_skip(channel.id))
    assert created and first.occurred_at == first.started_at
    again, created = store.save_skipped_call(a_skip(channel.id))
    assert not created and again == first
    moved, _ = store.save_skipped_call(a_skip(channel.id, reason="internal", detail="internal"))
    assert (moved.id, moved.reason) == (first.id, "internal")
    assert store.count_skipped_calls() == 1
    assert store.skipped_call_counts() == [(channel.id, "uis", "internal", 1)]
    # found by its session, as a late run of the same call asks
    assert store.get_skipped_call_by_session(channel.id, "s-1") == moved
    assert store.get_skipped_call_by_session(channel.id, "s-2") is None


def test_a_skipped_call_that_is_recorded_later_is_no_longer_skipped(store: Store) -> None:
    channel = store.create_channel(provider="uis", name="line")
    store.save_skipped_call(a_skip(channel.id, "s-1"))
    store.save_skipped_call(a_skip(channel.id, "s-2"))
    store.save_call(CallRecord(channel.id, "s-1", "uis", "missed", "in"))
    assert [call.session_id for call in store.list_skipped_calls()] == ["s-2"]
    assert store.call_counts() == [(channel.id, "uis", "missed", 1)]


def test_a_skipped_call_is_refused_an_unknown_reason_or_a_naive_time(store: Store) -> None:
    channel = store.create_channel(provider="uis", name="line")
    with pytest.raises(ValueError, match="reason"):
        store.save_skipped_call(a_skip(channel.id, reason="because"))
    with pytest.raises(ValueError, match="naive"):
        store.save_skipped_call(a_skip(channel.id, started_at=datetime(2024, 3, 12, 7, 15)))
    with pytest.raises(ValueError, match="channel"):
        store.save_skipped_call(a_skip(channel.id + 1))
