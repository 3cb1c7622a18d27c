"""Routing to the responsible employee: UIS interactive call processing over HTTP against the
real store and Temporal server; the forwarding setting and working hours at fixed instants; a
slow or failing store; the source address behind proxies and the channel's allow-list."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from conftest import Gate, Pbxhub, running_pbxhub
from pydantic import ValidationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from api.proxies import client_address, parse_networks
from crm import Store
from crm.responsible_lookup import Responsible, RoutedEmployee
from pbxhub.settings import Settings
from policies.forwarding import forwarding_decision, forwarding_mode

CALLER = "+79161234567"
ANNA_PHONE = "+79031234567"
ALL_WEEK = {
    "timezone": "Europe/Moscow",
    "days": {
        day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    },
}
NEVER = {"timezone": "Europe/Moscow", "days": {}}


async def uis_line(hub: Pbxhub, **settings: Any) -> dict[str, Any]:
    """A UIS channel with Anna (extension 101, her own phone +79031234567) responsible for the
    caller +79161234567, Ivan Petrov."""
    channel = await hub.create_channel("uis", settings=settings)
    await responsible_for(hub, channel, CALLER, "Anna Smirnova", "101", ANNA_PHONE)
    return channel


async def responsible_for(
    hub: Pbxhub,
    channel: dict[str, Any],
    caller: str,
    name: str,
    extension: str,
    phone: str | None,
    working_hours: dict[str, Any] | None = None,
) -> dict[str, Any]:
    employee = await hub.create_employee(
        name,
        phones=[phone] if phone else [],
        links=[{"channel_id": channel["id"], "extension": extension}],
        working_hours=working_hours,
    )
    contact, _ = hub.store.find_or_create_contact(phone=caller, name="Ivan Petrov")
    hub.store.set_contact_responsibles(contact.id, [employee["id"]])
    return employee


def interactive_url(channel: dict[str, Any]) -> str:
    return f"/hooks/uis/{channel['secret_key']}/interactive"


async def ask(hub: Pbxhub, channel: dict[str, Any], numa: str = "79161234567") -> httpx.Response:
    """The question a UIS scenario asks with the parameters seed 001 ticks, POSTed as a form."""
    form = {"call_session_id": "3401000001", "numa": numa, "numb": "74950000001"}
    return await hub.http.post(interactive_url(channel), data=form)


# --- UIS interactive call processing through HTTP ------------------------------------------


async def test_a_caller_whose_responsible_is_anna_is_put_through_to_her_phone(
    pbxhub: Pbxhub,
) -> None:
    channel = await uis_line(pbxhub, forward_to_responsible="on")

    response = await ask(pbxhub, channel)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"phones": ["79031234567"]}
    # a routing question records nothing: the notifications record the call
    with pytest.raises(RPCError):
        await pbxhub.workflow(channel, "3401000001").describe()


async def test_the_admin_makes_boris_responsible_and_the_next_call_goes_to_him(
    pbxhub: Pbxhub,
) -> None:
    channel = await uis_line(pbxhub, forward_to_responsible="on")
    boris = await pbxhub.create_employee(
        "Boris", phones=["+79037654321"], links=[{"channel_id": channel["id"], "extension": "102"}]
    )
    [contact] = await pbxhub.get("/api/v1/contacts")
    anna_id = contact["responsible_employee_ids"][0]
    url = f"/api/v1/contacts/{contact['id']}"

    changed = await pbxhub.http.patch(
        url, json={"responsible_employee_ids": [boris["id"], anna_id]}, headers=pbxhub.admin
    )

    assert changed.status_code == 200, changed.text
    assert changed.json()["responsible_employee_ids"] == [boris["id"], anna_id]
    assert (await ask(pbxhub, channel)).json() == {"phones": ["79037654321"]}
    # an employee who does not exist is named, and nothing changes
    wrong = await pbxhub.http.patch(
        url, json={"responsible_employee_ids": [anna_id, 9999]}, headers=pbxhub.admin
    )
    assert wrong.status_code == 422
    assert wrong.json()["detail"] == "responsible_employee_ids: no employee with id 9999"
    assert (await pbxhub.get(url))["responsible_employee_ids"] == [boris["id"], anna_id]
    not_ids = await pbxhub.http.patch(
        url, json={"responsible_employee_ids": "Boris"}, headers=pbxhub.admin
    )
    assert not_ids.status_code == 422
    assert not_ids.json()["detail"][0]["field"] == "responsible_employee_ids"
    missing = await pbxhub.http.patch(
        "/api/v1/contacts/9999", json={"responsible_employee_ids": []}, headers=pbxhub.admin
    )
    assert missing.status_code == 404
    # the admin's to change: an employee's token cannot
    token = await pbxhub.http.post(f"/api/v1/employees/{anna_id}/token", headers=pbxhub.admin)
    as_anna = {"Authorization": f"Bearer {token.json()['token']}"}
    refused = await pbxhub.http.patch(url, json={"responsible_employee_ids": []}, headers=as_anna)
    assert refused.status_code == 403
    assert (await pbxhub.get(url))["responsible_employee_ids"] == [boris["id"], anna_id]


async def test_the_same_question_asked_by_get_gets_the_same_answer(pbxhub: Pbxhub) -> None:
    channel = await uis_line(pbxhub, forward_to_responsible="on")

    response = await pbxhub.http.get(
        interactive_url(channel),
        params={
            "cdr_id": "123",
            "start_time": "1200",
            "input_result": "None",
            "numa": "89161234567",
        },
    )

    assert response.status_code == 200
    assert response.json() == {"phones": ["79031234567"]}


async def test_a_scenario_dialling_short_numbers_gets_annas_extension(pbxhub: Pbxhub) -> None:
    channel = await uis_line(pbxhub, forward_to_responsible="on", uis_route_to="extension")

    assert (await ask(pbxhub, channel)).json() == {"phones": ["101"]}


async def test_an_unknown_caller_goes_on_by_the_channels_return_code(pbxhub: Pbxhub) -> None:
    channel = await uis_line(pbxhub, forward_to_responsible="on", uis_returned_code=7)

    response = await ask(pbxhub, channel, numa="79990000000")

    assert response.status_code == 200
    assert response.json() == {"returned_code": 7}


async def test_a_caller_without_a_number_goes_on_by_return_code_1(pbxhub: Pbxhub) -> None:
    channel = await uis_line(pbxhub, forward_to_responsible="on")

    response = await pbxhub.http.get(interactive_url(channel), params={"call_session_id": "1"})

    assert response.json() == {"returned_code": 1}


async def test_a_known_caller_nobody_is_responsible_for_goes_on_by_the_return_code(
    pbxhub: Pbxhub,
) -> None:
    channel = await pbxhub.create_channel("uis", settings={"forward_to_responsible": "on"})
    pbxhub.store.find_or_create_contact(phone=CALLER, name="Ivan Petrov")

    assert (await ask(pbxhub, channel)).json() == {"returned_code": 1}


@pytest.mark.parametrize("setting", [None, "off"])
async def test_a_channel_that_does_not_forward_keeps_the_caller_in_its_scenario(
    pbxhub: Pbxhub, setting: str | None
) -> None:
    settings = {"uis_returned_code": 2} | ({"forward_to_responsible": setting} if setting else {})
    channel = await uis_line(pbxhub, **settings)

    assert (await ask(pbxhub, channel)).json() == {"returned_code": 2}


async def test_in_working_hours_mode_only_the_responsible_at_work_gets_the_call(
    pbxhub: Pbxhub,
) -> None:
    channel = await pbxhub.create_channel(
        "uis", settings={"forward_to_responsible": "working_hours", "uis_returned_code": 4}
    )
    await responsible_for(pbxhub, channel, CALLER, "Anna", "101", ANNA_PHONE, ALL_WEEK)
    await responsible_for(pbxhub, channel, "+79160000002", "Boris", "102", "+79030000002", NEVER)
    await responsible_for(pbxhub, channel, "+79160000003", "Vera", "103", "+79030000003", None)

    assert (await ask(pbxhub, channel)).json() == {"phones": ["79031234567"]}
    assert (await ask(pbxhub, channel, "79160000002")).json() == {"returned_code": 4}
    # no working hours set: not at work, rather than ringing someone's own phone at night
    assert (await ask(pbxhub, channel, "79160000003")).json() == {"returned_code": 4}


class HangingStore(Store):
    """A real store whose routing read hangs while its gate is closed (a database under a
    lock)."""

    gate = Gate(seconds=10)

    def responsible_for_phone(self, phone: str, *, channel_id: int) -> Responsible | None:
        self.gate.pass_through()
        return super().responsible_for_phone(phone, channel_id=channel_id)


class FailingStore(Store):
    """A real store whose routing read fails once `fail` is set (the database went away)."""

    fail = threading.Event()

    def responsible_for_phone(self, phone: str, *, channel_id: int) -> Responsible | None:
        if self.fail.is_set():
            raise ConnectionError("database is unreachable")
        return super().responsible_for_phone(phone, channel_id=channel_id)


@pytest.fixture
async def hanging_pbxhub(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> AsyncIterator[Pbxhub]:
    HangingStore.gate.open()
    async with running_pbxhub(
        temporal_env,
        tmp_path,
        store_class=HangingStore,
        routing_timeout=timedelta(seconds=0.3),
    ) as hub:
        try:
            yield hub
        finally:
            HangingStore.gate.open()


async def test_a_store_that_hangs_gets_the_fallback_reply_within_the_deadline(
    hanging_pbxhub: Pbxhub, caplog: pytest.LogCaptureFixture
) -> None:
    channel = await uis_line(hanging_pbxhub, forward_to_responsible="on", uis_returned_code=9)
    HangingStore.gate.close()

    started = time.perf_counter()
    response = await ask(hanging_pbxhub, channel)
    elapsed = time.perf_counter() - started

    assert response.status_code == 200
    assert response.json() == {"returned_code": 9}
    assert HangingStore.gate.reached.is_set()
    assert elapsed >= 0.3, f"answered after {elapsed:.3f} s, before the deadline"
    assert not HangingStore.gate.left.is_set()  # answered at the deadline, the store still hung
    assert "no answer within the deadline" in caplog.text


async def test_a_store_that_fails_gets_the_fallback_reply_at_once(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    FailingStore.fail.clear()
    # a deadline far longer than any answer: one before it shows the failure was not waited out
    deadline = timedelta(seconds=60)
    async with running_pbxhub(
        temporal_env, tmp_path, store_class=FailingStore, routing_timeout=deadline
    ) as hub:
        channel = await uis_line(hub, forward_to_responsible="on", uis_returned_code=9)
        FailingStore.fail.set()

        started = time.perf_counter()
        response = await ask(hub, channel)

        assert time.perf_counter() - started < deadline.total_seconds()
        assert response.json() == {"returned_code": 9}


async def test_a_call_reported_while_the_store_hangs_is_still_delivered_with_the_fallback(
    hanging_pbxhub: Pbxhub, caplog: pytest.LogCaptureFixture
) -> None:
    """Zadarma's NOTIFY_START both starts the call and may route it (PROTOCOLS.md §3.1): the
    call_started event reaches its workflow even when the routing read runs out of time."""
    hub = hanging_pbxhub
    channel = await hub.create_channel(
        "zadarma",
        timezone="Europe/Kyiv",
        default_country="UA",
        settings={"forward_to_responsible": "on", "secrets": {"api_secret": "s3cret"}},
    )
    form = {
        "event": "NOTIFY_START",
        # now, on the cabinet's clock: a signed call_start hours old would be a replay
        "call_start": datetime.now(ZoneInfo("Europe/Kyiv")).strftime("%Y-%m-%d %H:%M:%S"),
        "pbx_call_id": "in_routing_hangs_1",
        "caller_id": "380671234567",
        "called_did": "380441234567",
    }
    # base64 of the hex HMAC-SHA1 of caller_id . called_did . call_start (PROTOCOLS.md §3.1)
    signed = form["caller_id"] + form["called_did"] + form["call_start"]
    digest = hmac.new(b"s3cret", signed.encode(), hashlib.sha1).hexdigest()
    signature = base64.b64encode(digest.encode()).decode()
    HangingStore.gate.close()

    started = time.perf_counter()
    response = await hub.http.post(
        f"/hooks/zadarma/{channel['secret_key']}/notify",
        data=form,
        headers={"Signature": signature},
    )
    elapsed = time.perf_counter() - started

    assert response.status_code == 200, response.text
    assert response.text == ""  # the fallback: Zadarma goes on by its own scenario
    assert elapsed >= 0.3, f"answered after {elapsed:.3f} s, before the deadline"
    assert not HangingStore.gate.left.is_set()  # answered at the deadline, the store still hung
    assert "no answer within the deadline" in caplog.text
    description = await hub.workflow(channel, "in_routing_hangs_1").describe()
    assert description.id.endswith("in_routing_hangs_1")


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"forward_to_responsible": "sometimes"}, "forward_to_responsible"),
        ({"allowed_sources": ["194.88.218.0/33"]}, "194.88.218.0/33"),
        ({"allowed_sources": {"binotel": "194.88.218.0/24"}}, "allowed_sources"),
    ],
)
async def test_a_channel_with_a_misspelt_routing_setting_is_refused_naming_it(
    pbxhub: Pbxhub, settings: dict[str, Any], field: str
) -> None:
    response = await pbxhub.http.post(
        "/api/v1/channels",
        json={"provider": "uis", "name": "typo", "settings": settings},
        headers=pbxhub.admin,
    )

    assert response.status_code == 422
    assert field in response.text


# --- source addresses: the channel's allow-list behind proxies ------------------------------

INCOMING: dict[str, Any] = {
    "notification_time": "2024-03-12 10:15:00",
    "virtual_phone_number": "74950000001",
    "contact_phone_number": "79161234567",
    "call_session_id": 3401000077,
}


async def test_a_source_outside_the_channels_allow_list_gets_403_and_nothing_happens(
    pbxhub: Pbxhub,
) -> None:
    channel = await pbxhub.create_channel("uis", settings={"allowed_sources": ["192.0.2.0/24"]})

    response = await pbxhub.post_hook(channel, "notify", INCOMING)  # from 127.0.0.1

    assert response.status_code == 403
    assert "not allowed" in response.json()["error"]
    with pytest.raises(RPCError):
        await pbxhub.workflow(channel, 3401000077).describe()
    assert await pbxhub.get("/api/v1/contacts") == []


@pytest.fixture
async def proxied_pbxhub(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> AsyncIterator[Pbxhub]:
    # the test client's peer is 127.0.0.1: the proxy on this machine, trusted by default
    async with running_pbxhub(
        temporal_env, tmp_path, trusted_proxy_header="X-Forwarded-For"
    ) as hub:
        yield hub


async def test_behind_a_trusted_proxy_the_forwarded_client_is_the_one_checked(
    proxied_pbxhub: Pbxhub,
) -> None:
    hub = proxied_pbxhub
    channel = await hub.create_channel(
        "uis", settings={"allowed_sources": "192.0.2.0/24", "forward_to_responsible": "on"}
    )
    await responsible_for(hub, channel, CALLER, "Anna", "101", ANNA_PHONE)
    url = interactive_url(channel)
    form = {"call_session_id": "1", "numa": "79161234567"}

    allowed = await hub.http.post(url, data=form, headers={"X-Forwarded-For": "192.0.2.7"})
    assert allowed.status_code == 200 and allowed.json() == {"phones": ["79031234567"]}

    refused = await hub.http.post(url, data=form, headers={"X-Forwarded-For": "198.51.100.9"})
    assert refused.status_code == 403

    # a client that writes an allowed address in front of its own is still itself
    spoofed = {"X-Forwarded-For": "192.0.2.7, 198.51.100.9"}
    assert (await hub.http.post(url, data=form, headers=spoofed)).status_code == 403


async def test_a_forwarded_header_from_a_peer_that_is_not_our_proxy_is_ignored(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_pbxhub(
        temporal_env,
        tmp_path,
        trusted_proxy_header="X-Real-IP",
        trusted_proxies=parse_networks(["10.0.0.0/8"]),
    ) as hub:
        channel = await hub.create_channel("uis", settings={"allowed_sources": ["192.0.2.0/24"]})

        response = await hub.post_hook(
            channel, "notify", INCOMING, headers={"X-Real-IP": "192.0.2.7"}
        )

        assert response.status_code == 403


# --- the client address: a pure function --------------------------------------------------

LOCAL = parse_networks(["127.0.0.1/32", "::1/128"])
PROXIES = parse_networks(["10.0.0.0/8", "127.0.0.1"])


@pytest.mark.parametrize(
    ("peer", "values", "trusted", "client"),
    [
        ("203.0.113.5", [], LOCAL, "203.0.113.5"),
        ("127.0.0.1", ["198.51.100.1"], LOCAL, "198.51.100.1"),
        ("203.0.113.5", ["198.51.100.1"], LOCAL, "203.0.113.5"),
        ("127.0.0.1", ["198.51.100.1, 10.0.0.2, 10.0.0.3"], PROXIES, "198.51.100.1"),
        ("127.0.0.1", ["192.0.2.7, 198.51.100.1, 10.0.0.3"], PROXIES, "198.51.100.1"),
        ("127.0.0.1", ["192.0.2.7", "198.51.100.1"], PROXIES, "198.51.100.1"),
        ("127.0.0.1", ["10.0.0.9, 10.0.0.3"], PROXIES, "10.0.0.9"),
        ("127.0.0.1", ["198.51.100.1:4711"], LOCAL, "198.51.100.1"),
        ("::1", ["[2001:db8::7]:443"], LOCAL, "2001:db8::7"),
        ("::ffff:127.0.0.1", ["198.51.100.1"], LOCAL, "198.51.100.1"),
        ("127.0.0.1", ["unknown"], LOCAL, "unknown"),
        ("127.0.0.1", [" , "], LOCAL, "127.0.0.1"),
        (None, ["198.51.100.1"], LOCAL, "198.51.100.1"),
    ],
    ids=[
        "no header: the peer",
        "one hop through our proxy",
        "a header from a stranger is ignored",
        "the left-most hop behind two proxies",
        "a forged hop on the left is skipped",
        "several header lines form one chain",
        "only proxies: the left-most",
        "a port is dropped",
        "bracketed IPv6 with a port",
        "an IPv4-mapped peer",
        "junk stays junk for the allow-list to refuse",
        "an empty chain: the peer",
        "a Unix socket peer is our proxy",
    ],
)
def test_the_client_address_behind_proxies(
    peer: str | None, values: list[str], trusted: Any, client: str | None
) -> None:
    assert client_address(peer, values, trusted) == client


def test_trusted_proxies_are_read_from_comma_text_and_a_bad_one_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PBXHUB_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.1")
    monkeypatch.setenv("PBXHUB_TRUSTED_PROXY_HEADER", "X-Forwarded-For")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.trusted_proxies == ["10.0.0.0/8", "192.168.1.1"]
    assert settings.routing_timeout_seconds == 0.8
    monkeypatch.setenv("PBXHUB_TRUSTED_PROXIES", '["10.0.0.0/33"]')
    with pytest.raises(ValidationError, match="10.0.0.0/33"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert ipaddress.ip_address("10.1.2.3") in parse_networks(["10.0.0.0/8"])[0]


# --- forwarding and working hours at fixed instants --------------------------------------

NOW = datetime(2024, 3, 12, 9, 0, tzinfo=UTC)


def responsible(
    working_hours: dict[str, Any] | None = None, *, employee: bool = True
) -> Responsible:
    anna = RoutedEmployee(
        id=3, name="Anna", extension="101", phones=(ANNA_PHONE,), working_hours=working_hours
    )
    return Responsible(contact_id=5, contact_name="Ivan", employee=anna if employee else None)


@pytest.mark.parametrize(
    ("mode", "who", "forward", "reason"),
    [
        ("on", responsible(), True, "forwarding_on"),
        ("off", responsible(), False, "forwarding_off"),
        ("on", None, False, "unknown_caller"),
        ("on", responsible(employee=False), False, "no_responsible"),
        ("working_hours", responsible(ALL_WEEK), True, "within_working_hours"),
        ("working_hours", responsible(NEVER), False, "outside_working_hours"),
        ("working_hours", responsible(None), False, "outside_working_hours"),
    ],
)
def test_the_forwarding_decision(
    mode: str, who: Responsible | None, forward: bool, reason: str
) -> None:
    decision = forwarding_decision(mode, who, NOW)
    assert (decision.forward, decision.reason) == (forward, reason)


@pytest.mark.parametrize(
    ("settings", "mode"),
    [
        ({}, "off"),
        ({"forward_to_responsible": "working_hours"}, "working_hours"),
        ({"forward_to_responsible": "ON"}, "off"),
        ({"forward_to_responsible": True}, "on"),
        ({"forward_to_responsible": False}, "off"),
    ],
)
def test_an_unknown_forwarding_setting_means_off(settings: dict[str, Any], mode: str) -> None:
    assert forwarding_mode(settings) == mode


BERLIN_OFFICE = {
    "timezone": "Europe/Berlin",
    "days": {day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
}


@pytest.mark.parametrize(
    ("hours", "instant", "at_work"),
    [
        # 07:30 UTC is 08:30 in Berlin in winter (CET, UTC+1): not yet at work ...
        (BERLIN_OFFICE, "2024-03-29T07:30:00+00:00", False),
        # ... and 09:30 in summer (CEST, UTC+2) after the clocks went forward on 31 March
        (BERLIN_OFFICE, "2024-04-02T07:30:00+00:00", True),
        # 16:30 UTC: 17:30 CET in winter (at work), 18:30 CEST in summer (gone)
        (BERLIN_OFFICE, "2024-03-29T16:30:00+00:00", True),
        (BERLIN_OFFICE, "2024-04-02T16:30:00+00:00", False),
        # autumn: back to CET on 27 October; Monday 28th 08:30 UTC is 09:30 local
        (BERLIN_OFFICE, "2024-10-28T08:30:00+00:00", True),
        (BERLIN_OFFICE, "2024-10-25T07:30:00+00:00", True),  # Friday before: 09:30 CEST
        # the end is exclusive, the start inclusive
        (BERLIN_OFFICE, "2024-04-02T16:00:00+00:00", False),
        (BERLIN_OFFICE, "2024-04-02T07:00:00+00:00", True),
        # Sunday UTC is already Monday morning in Vladivostok (UTC+10): the local weekday counts
        (
            {"timezone": "Asia/Vladivostok", "days": {"mon": [["09:00", "18:00"]]}},
            "2024-03-10T23:30:00+00:00",
            True,
        ),
        # a split day, and "24:00" ending it
        (
            {
                "timezone": "Europe/Moscow",
                "days": {"tue": [["09:00", "13:00"], ["14:00", "24:00"]]},
            },
            "2024-03-12T10:30:00+00:00",  # 13:30 Moscow: lunch
            False,
        ),
        (
            {
                "timezone": "Europe/Moscow",
                "days": {"tue": [["09:00", "13:00"], ["14:00", "24:00"]]},
            },
            "2024-03-12T20:59:00+00:00",  # 23:59 Moscow
            True,
        ),
    ],
)
def test_working_hours_are_read_in_the_employees_own_zone_across_dst(
    hours: dict[str, Any], instant: str, at_work: bool
) -> None:
    decision = forwarding_decision(
        "working_hours", responsible(hours), datetime.fromisoformat(instant)
    )
    assert decision.forward is at_work
