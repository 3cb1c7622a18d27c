"""Zadarma calls: the fixtures against providers/zadarma.yaml (schemas, signatures, keys), then
whole calls end to end: signed form posts over HTTP → the real Temporal server → the store."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

import pytest
from conftest import FIXTURES, FORM, Pbxhub, running_pbxhub, scenario, wall_clock
from jsonschema import Draft202012Validator
from temporalio.testing import WorkflowEnvironment

from providers.bodies import parse_body
from providers.canonical import event_to_json
from providers.engine import ChannelContext, IncomingRequest, Outcome, handle_request
from providers.spec import ProviderSpec
from providers.spec_loader import DEFAULT_SPECS_DIR, load_spec
from schemas import CALL_EVENT_SCHEMA, load_schema

SECRET = "zadarma-test-secret"
TRANSFER = "in_3f9a1c7e52b84d0f9e6a2b1c4d8e7f01"
MISSED = "in_7c2e9b41d05a4f8c8e1d3a6b2f9c0e02"
OUTBOUND = "out_9d4b2a7f1e3c4b5a9f8e7d6c5b4a3f03"
OUTBOUND_MISSED = "out_1e8f3c5a7b9d4e2f8a6c4e2d0b8f6a04"
CALLER = "+380671234567"
LINE = "+380441234567"
SCENARIOS = ["inbound_answered", "inbound_missed", "outbound_answered", "outbound_missed"]

# What each notification is signed over (zadarma/user-api-v1, Notify*::getSignatureString):
# written here again, apart from the spec, so that a mistake in either shows.
SIGNED_FIELDS = {
    "NOTIFY_START": ("caller_id", "called_did", "call_start"),
    "NOTIFY_INTERNAL": ("caller_id", "called_did", "call_start"),
    "NOTIFY_END": ("caller_id", "called_did", "call_start"),
    "NOTIFY_IVR": ("caller_id", "called_did", "call_start"),
    "NOTIFY_ANSWER": ("caller_id", "destination", "call_start"),
    "NOTIFY_OUT_START": ("internal", "destination", "call_start"),
    "NOTIFY_OUT_END": ("internal", "destination", "call_start"),
    "NOTIFY_RECORD": ("pbx_call_id", "call_id_with_rec"),
}
KIND_OF = {
    "notify_start": "call_started",
    "notify_ivr": "status_update",
    "notify_internal": "ringing",
    "notify_answer": "talk_started",
    "notify_end": "call_finished",
    "notify_out_start": "call_started",
    "notify_out_end": "call_finished",
    "notify_record": "recording_ready",
}


def form(body: bytes) -> dict[str, str]:
    return dict(parse_qsl(body.decode(), keep_blank_values=True))


def signature(body: bytes, secret: str = SECRET, *, raw_digest: bool = False) -> str:
    """PHP's base64_encode(hash_hmac('sha1', $string, $secret)): base64 of the hex text (or,
    with `raw_digest`, the encoding Zadarma does not use: base64 of the 20 bytes)."""
    fields = form(body)
    text = "".join(fields.get(name, "") for name in SIGNED_FIELDS[fields["event"]])
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha1)
    return base64.b64encode(digest.digest() if raw_digest else digest.hexdigest().encode()).decode()


def signed(body: bytes) -> dict[str, str]:
    """The header Zadarma signs a notification with."""
    return {"Signature": signature(body)}


def event_of(name: str) -> str:
    """01_notify_start.txt → notify_start (the spec's event name)."""
    return Path(name).stem.split("_", 1)[1]


def kyiv(text: str) -> datetime:
    """A Kyiv wall-clock time of these March fixtures as a UTC instant (UTC+2, winter)."""
    return wall_clock(text, 2)


# --- the fixtures against the spec, no server ---------------------------------------------------

KYIV = ChannelContext(
    channel_id=5, timezone="Europe/Kyiv", country="UA", secrets={"api_secret": SECRET}
)
FIXTURE_FILES = [(name, item) for name in SCENARIOS for item in scenario("zadarma", name)]


@pytest.fixture(scope="module")
def zadarma() -> ProviderSpec:
    return load_spec(DEFAULT_SPECS_DIR / "zadarma.yaml")


def notify(spec: ProviderSpec, body: bytes, **headers: str) -> Outcome:
    """The notification received a minute after its call started, as a live one would be (its
    signed call_start is checked for freshness)."""
    sent = {"content-type": FORM, "signature": signature(body), **headers}
    call_start = form(body).get("call_start")
    received_at = kyiv(call_start) + timedelta(minutes=1) if call_start else datetime.now(UTC)
    request = IncomingRequest("POST", sent, {}, body, received_at=received_at)
    return handle_request(spec, "notify", request, KYIV)


def test_the_four_scenarios_of_the_end_to_end_tests_exist() -> None:
    folders = sorted(p.name for p in (FIXTURES / "zadarma").iterdir() if p.is_dir())
    assert folders == SCENARIOS


def fixture_id(value: Any) -> str:
    return value if isinstance(value, str) else str(value[0])


@pytest.mark.parametrize(("folder", "item"), FIXTURE_FILES, ids=fixture_id)
def test_every_fixture_validates_against_its_events_schema(
    zadarma: ProviderSpec, folder: str, item: tuple[str, bytes]
) -> None:
    name, body = item
    endpoint = zadarma.endpoints["notify"]
    [event] = [e for e in endpoint.events if e.name == event_of(name)]
    assert event.schema_name == f"zadarma/{event.name}.json"
    # read as the endpoint reads it: wait_dtmf[name]=… becomes an object
    parsed = parse_body(endpoint.body, body=body, content_type=FORM, query={})
    assert list(event.validator.iter_errors(parsed)) == []


@pytest.mark.parametrize(("folder", "item"), FIXTURE_FILES, ids=fixture_id)
def test_every_signed_fixture_is_recognised_and_maps_to_its_canonical_kind(
    zadarma: ProviderSpec, folder: str, item: tuple[str, bytes]
) -> None:
    name, body = item
    outcome = notify(zadarma, body)
    assert outcome.event_name == event_of(name)
    [mapped] = outcome.events
    assert mapped.kind == KIND_OF[event_of(name)]
    assert (mapped.provider, mapped.channel_id) == ("zadarma", 5)
    assert mapped.session_id == form(body)["pbx_call_id"]
    assert outcome.reply.status == 200 and outcome.reply.body == ""
    call_event = Draft202012Validator(load_schema(CALL_EVENT_SCHEMA))
    assert list(call_event.iter_errors(event_to_json(mapped))) == []
    assert all(isinstance(v, str) and v for v in mapped.extra.values())


def test_a_scenario_keeps_one_call_id_and_scenarios_do_not_share_one() -> None:
    ids = [{form(body)["pbx_call_id"] for _, body in scenario("zadarma", n)} for n in SCENARIOS]
    assert all(len(one) == 1 for one in ids)
    assert len(set.union(*ids)) == len(SCENARIOS)


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_notification_of_a_call_has_its_own_key_and_a_redelivery_the_same(
    zadarma: ProviderSpec, name: str
) -> None:
    bodies = [body for _, body in scenario("zadarma", name)]
    keys = [notify(zadarma, body).events[0].idempotency_key for body in bodies]
    assert len(set(keys)) == len(keys)
    # delivered again later: received at another moment, the same keys
    assert [notify(zadarma, body).events[0].idempotency_key for body in bodies] == keys


# --- whole calls, end to end --------------------------------------------------------------------

KYIV_ZONE = ZoneInfo("Europe/Kyiv")
# pbxhub's default longest call (PBXHUB_MAX_CALL_SECONDS): how old a signed call_start may be
MAX_CALL_SECONDS = 14_400


def recently() -> datetime:
    """A moment two minutes ago whose Kyiv wall clock reads back as itself (not in the repeated
    hour of the autumn clock change, which the cabinet's clock cannot tell apart)."""
    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    while _wall_clock(moment).replace(tzinfo=KYIV_ZONE).astimezone(UTC) != moment:
        moment -= timedelta(minutes=30)
    return moment


def _wall_clock(moment: datetime) -> datetime:
    return moment.astimezone(KYIV_ZONE).replace(tzinfo=None)


def live(name: str, started: datetime | None = None) -> list[tuple[str, bytes]]:
    """The scenario's notifications as Zadarma sends them for a call that started `started`
    (default: recently): their signed call_start is the Kyiv cabinet's wall clock then, so the
    channel checks their freshness as in production (test_signature_freshness.py refuses stale
    ones). Signed as sent, by `signed`."""
    wall = _wall_clock(started or recently()).strftime("%Y-%m-%d %H:%M:%S")
    sent = []
    for file, body in scenario("zadarma", name):
        pairs = [
            (key, wall if key == "call_start" else value)
            for key, value in parse_qsl(body.decode(), keep_blank_values=True)
        ]
        sent.append((file, urlencode(pairs).encode()))
    return sent


@pytest.fixture
def started() -> datetime:
    """When the test's call started (its notifications' call_start)."""
    return recently()


@pytest.fixture
async def hub(temporal_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Pbxhub]:
    # Zadarma's notifications carry no recording link (it is fetched from Zadarma's API): an
    # answered call waits for one only briefly here.
    async with running_pbxhub(
        temporal_env, tmp_path, recording_wait_seconds=1, max_call_seconds=MAX_CALL_SECONDS
    ) as running:
        yield running


async def zadarma_line(
    hub: Pbxhub, **settings: Any
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A Zadarma channel (Kyiv cabinet, API secret set) with Anna at 101 and Boris at 102; its
    signatures are checked for freshness by default (the fixtures are sent `live`)."""
    channel, (anna, boris) = await hub.create_line(
        "zadarma",
        {"Anna Koval": {"extension": "101"}, "Boris Melnyk": {"extension": "102"}},
        timezone="Europe/Kyiv",
        default_country="UA",
        settings={"secrets": {"api_secret": SECRET}, **settings},
    )
    return channel, anna, boris


async def zadarma_line_taking_fixture_times(
    hub: Pbxhub, **settings: Any
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """`zadarma_line` for tests that read the fixtures' own March 2024 times back: its
    signatures are not checked for freshness (`signature_max_age_seconds: 0`, a channel's own
    setting), which test_signature_freshness.py and the `live` calls above cover."""
    return await zadarma_line(hub, signature_max_age_seconds=0, **settings)


async def post(hub: Pbxhub, channel: dict[str, Any], body: bytes, **headers: str) -> Any:
    sent = {**signed(body), **headers}
    return await hub.post_hook(channel, "notify", body, content_type=FORM, headers=sent)


async def deliver(hub: Pbxhub, channel: dict[str, Any], bodies: list[tuple[str, bytes]]) -> None:
    """Zadarma posts every notification to the one `notify` URL, as a signed form."""
    await hub.deliver(channel, bodies, sign=signed)


async def the_one_contact(hub: Pbxhub) -> dict[str, Any]:
    return await hub.the_one_contact(CALLER, raw="380671234567")


def assert_transferred_call(
    call: dict[str, Any], boris: dict[str, Any], contact_id: int, since: datetime, started: datetime
) -> None:
    """The transfer: one call, owned by Boris (102, who talked last), both legs kept."""
    assert call["kind"] == "call"
    assert call["direction"] == "in"
    assert call["session_id"] == TRANSFER
    assert (call["employee_id"], call["employee_extension"]) == (boris["id"], "102")
    assert call["contact_id"] == contact_id
    assert (call["contact_phone"], call["contact_phone_raw"]) == (CALLER, "380671234567")
    assert call["virtual_number"] == LINE
    # call_start, the Kyiv wall clock, read in the channel's zone; the answer and the end are
    # when they were notified
    assert datetime.fromisoformat(call["started_at"]) == started
    assert since <= datetime.fromisoformat(call["answered_at"]) <= datetime.now(UTC)
    assert since <= datetime.fromisoformat(call["ended_at"]) <= datetime.now(UTC)
    assert call["talk_seconds"] == 95
    assert call["recording_url"] is None  # the link comes from Zadarma's API, not a webhook
    assert call["incomplete"] is False
    legs = call["legs"]
    assert [leg["employee_extension"] for leg in legs] == ["101", "102"]
    assert all(leg["answered"] for leg in legs)
    assert legs[0]["answered_at"] < legs[1]["answered_at"]
    assert call["extra"] == {
        "disposition": "answered",
        "duration": "95",
        "status_code": "16",
        "is_recorded": "1",
        "call_id_with_rec": "1710231300.2345678",
    }


async def test_an_inbound_call_transferred_from_101_to_102_is_one_call_owned_by_102(
    hub: Pbxhub, started: datetime
) -> None:
    channel, _, boris = await zadarma_line(hub)
    since = datetime.now(UTC)

    await deliver(hub, channel, live("inbound_answered", started))

    result = await hub.call_result(channel, TRANSFER)
    assert (result.outcome, result.events) == ("call", 7)
    call = await hub.the_one_record("call")
    assert_transferred_call(call, boris, (await the_one_contact(hub))["id"], since, started)
    assert result.call_id == call["id"]


async def test_an_inbound_call_that_rang_101_and_102_and_was_lost_is_one_missed_call(
    hub: Pbxhub, started: datetime
) -> None:
    channel, _, _ = await zadarma_line(hub)

    await deliver(hub, channel, live("inbound_missed", started))

    result = await hub.call_result(channel, MISSED)
    assert result.outcome == "missed"
    lost = await hub.the_one_record("missed")
    assert lost["direction"] == "in"
    assert lost["contact_id"] == (await the_one_contact(hub))["id"]
    assert lost["employee_id"] is None
    assert lost["talk_seconds"] == 0
    assert datetime.fromisoformat(lost["started_at"]) == started
    assert sorted(leg["employee_extension"] for leg in lost["legs"]) == ["101", "102"]
    assert not any(leg["answered"] for leg in lost["legs"])
    # the PBX's verdict and the caller's menu choice (NOTIFY_IVR) stay with the call
    assert lost["extra"]["disposition"] == "cancel"
    assert lost["extra"]["wait_dtmf.name"] == "main_menu"
    assert lost["extra"]["wait_dtmf.digits"] == "1"


async def test_an_outbound_call_answered(hub: Pbxhub, started: datetime) -> None:
    channel, anna, _ = await zadarma_line(hub)

    await deliver(hub, channel, live("outbound_answered", started))

    result = await hub.call_result(channel, OUTBOUND)
    assert result.outcome == "call"
    call = await hub.the_one_record("call")
    assert (call["direction"], call["employee_id"], call["employee_extension"]) == (
        "out",
        anna["id"],
        "101",
    )
    assert (call["contact_phone"], call["virtual_number"]) == (CALLER, LINE)
    assert call["contact_id"] == (await the_one_contact(hub))["id"]
    assert datetime.fromisoformat(call["started_at"]) == started
    assert call["talk_seconds"] == 42
    assert call["extra"]["call_id_with_rec"] == "1710237600.3456789"


async def test_an_outbound_call_nobody_answered_is_a_missed_outbound_call(hub: Pbxhub) -> None:
    channel, anna, _ = await zadarma_line(hub)

    await deliver(hub, channel, live("outbound_missed"))

    result = await hub.call_result(channel, OUTBOUND_MISSED)
    assert result.outcome == "missed"
    call = await hub.the_one_record("missed")
    assert (call["direction"], call["employee_id"], call["contact_phone"]) == (
        "out",
        anna["id"],
        CALLER,
    )
    assert call["talk_seconds"] == 0
    assert call["extra"]["disposition"] == "no answer"
    assert call["contact_id"] == (await the_one_contact(hub))["id"]


async def test_every_notification_delivered_twice_is_recorded_once(
    hub: Pbxhub, started: datetime
) -> None:
    channel, _, boris = await zadarma_line(hub)
    bodies = live("inbound_answered", started)
    since = datetime.now(UTC)

    await deliver(hub, channel, [item for item in bodies for _ in range(2)])

    result = await hub.call_result(channel, TRANSFER)
    assert result.events == len(bodies)
    call = await hub.the_one_record("call")
    assert_transferred_call(call, boris, (await the_one_contact(hub))["id"], since, started)


async def test_shuffled_the_end_and_the_recording_first_it_is_still_one_call_owned_by_102(
    hub: Pbxhub,
) -> None:
    # Zadarma says nothing of when an answer happened: the order the two NOTIFY_ANSWERs arrive
    # in is the evidence of who talked last, so this shuffle keeps theirs (see the next test).
    channel, _, boris = await zadarma_line(hub)
    by_name = dict(live("inbound_answered"))
    shuffled = [
        "07_notify_record.txt",
        "06_notify_end.txt",
        "02_notify_internal.txt",
        "03_notify_answer.txt",
        "01_notify_start.txt",
        "05_notify_answer.txt",
        "04_notify_internal.txt",
    ]
    since = datetime.now(UTC)

    await deliver(hub, channel, [(name, by_name[name]) for name in shuffled])

    await hub.call_result(channel, TRANSFER)
    call = await hub.the_one_record("call")
    assert (call["employee_id"], call["employee_extension"]) == (boris["id"], "102")
    assert sorted(leg["employee_extension"] for leg in call["legs"]) == ["101", "102"]
    assert call["talk_seconds"] == 95
    assert since <= datetime.fromisoformat(call["answered_at"])


async def test_the_two_answers_delivered_in_reverse_order_still_leave_the_call_to_102(
    hub: Pbxhub,
) -> None:
    channel, _, boris = await zadarma_line(hub)
    by_name = dict(live("inbound_answered"))
    order = ["01", "02", "04", "05", "03", "06", "07"]
    names = [next(n for n in by_name if n.startswith(nn)) for nn in order]

    await deliver(hub, channel, [(name, by_name[name]) for name in names])

    await hub.call_result(channel, TRANSFER)
    calls, _ = await hub.calls_and_missed()
    assert calls[0]["employee_id"] == boris["id"]


async def test_the_whole_call_delivered_again_after_it_closed_changes_nothing(
    hub: Pbxhub,
) -> None:
    channel, _, _ = await zadarma_line(hub)
    bodies = live("outbound_answered")
    await deliver(hub, channel, bodies)
    await hub.call_result(channel, OUTBOUND)
    before, _ = await hub.calls_and_missed()

    await deliver(hub, channel, bodies[-1:] + bodies[:-1])

    assert (await hub.call_result(channel, OUTBOUND)).outcome == "amended"
    after, missed = await hub.calls_and_missed()
    assert (after, missed) == (before, [])


# --- signatures, the URL check, routing ----------------------------------------------------------


WRONG_SIGNATURES = {
    "missing": lambda body: {},
    "garbage": lambda body: {"Signature": "d3Jvbmc="},
    "another secret": lambda body: {"Signature": signature(body, secret="another-secret")},
    "raw digest": lambda body: {"Signature": signature(body, raw_digest=True)},
}


@pytest.mark.parametrize("how", list(WRONG_SIGNATURES))
async def test_a_missing_or_wrong_signature_gets_401_and_starts_nothing(
    hub: Pbxhub, how: str
) -> None:
    channel, _, _ = await zadarma_line(hub)

    for name, body in live("inbound_answered"):
        headers = WRONG_SIGNATURES[how](body)
        response = await hub.post_hook(channel, "notify", body, content_type=FORM, headers=headers)
        assert response.status_code == 401, f"{name}: {response.text}"
        assert "signature" in response.json()["error"].lower()

    await hub.assert_no_workflow(channel, TRANSFER)
    assert await hub.calls_and_missed() == ([], [])
    assert await hub.get("/api/v1/contacts") == []


async def test_a_channel_without_the_api_secret_refuses_even_signed_notifications(
    hub: Pbxhub,
) -> None:
    channel = await hub.create_channel("zadarma", timezone="Europe/Kyiv", default_country="UA")
    _, body = live("inbound_answered")[0]

    response = await post(hub, channel, body)

    assert response.status_code == 401
    assert "no secret" in response.json()["error"]
    await hub.assert_no_workflow(channel, TRANSFER)


async def test_the_url_check_echoes_zd_echo_as_plain_text_without_a_signature(
    hub: Pbxhub,
) -> None:
    channel, _, _ = await zadarma_line(hub)

    response = await hub.http.get(
        f"/hooks/zadarma/{channel['secret_key']}/notify", params={"zd_echo": "a1B2c3D4e5"}
    )

    assert response.status_code == 200
    assert response.text == "a1B2c3D4e5"
    assert response.headers["content-type"].startswith("text/plain")
    assert await hub.calls_and_missed() == ([], [])


async def test_the_api_secret_shows_in_no_answer_but_the_admins_and_in_no_log_line(
    hub: Pbxhub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    channel, _, _ = await zadarma_line(hub)
    bodies = live("outbound_missed")

    wrong = await post(hub, channel, bodies[0][1], Signature="d3Jvbmc=")
    await deliver(hub, channel, bodies)
    await hub.call_result(channel, OUTBOUND_MISSED)

    assert wrong.status_code == 401 and SECRET not in wrong.text
    assert SECRET not in caplog.text
    assert (await hub.http.get(f"/api/v1/channels/{channel['id']}")).status_code == 401
    shown = await hub.get(f"/api/v1/channels/{channel['id']}")
    assert shown["settings"]["secrets"] == {"api_secret": SECRET}


async def test_notify_start_routes_a_known_caller_to_the_responsibles_extension(
    hub: Pbxhub,
) -> None:
    channel, _, boris = await zadarma_line(hub, forward_to_responsible="on")
    contact, _ = hub.store.find_or_create_contact(phone=CALLER, phone_raw="380671234567")
    hub.store.set_contact_responsibles(contact.id, [boris["id"]])
    bodies = live("inbound_answered")

    response = await post(hub, channel, bodies[0][1])

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert json.loads(response.text) == {"redirect": "102"}
    # the start was recorded all the same: the rest of the call completes it
    await deliver(hub, channel, bodies[1:])
    assert (await hub.call_result(channel, TRANSFER)).outcome == "call"


async def test_notify_start_from_an_unknown_caller_is_answered_with_nothing(
    hub: Pbxhub,
) -> None:
    channel, _, _ = await zadarma_line(hub, forward_to_responsible="on")
    bodies = live("inbound_missed")

    response = await post(hub, channel, bodies[0][1])

    assert (response.status_code, response.text) == (200, "")
    await deliver(hub, channel, bodies[1:])
    assert (await hub.call_result(channel, MISSED)).outcome == "missed"


async def test_notify_start_with_forwarding_off_is_answered_with_nothing(hub: Pbxhub) -> None:
    channel, anna, _ = await zadarma_line(hub)  # forward_to_responsible defaults to off
    contact, _ = hub.store.find_or_create_contact(phone=CALLER, phone_raw="380671234567")
    hub.store.set_contact_responsibles(contact.id, [anna["id"]])
    bodies = live("inbound_missed")

    response = await post(hub, channel, bodies[0][1])

    assert (response.status_code, response.text) == (200, "")
    await deliver(hub, channel, bodies[1:])
    await hub.call_result(channel, MISSED)
