"""UIS notifications as UIS POSTs them (tests/fixtures/uis) through providers/uis.yaml: each is
recognised, validates against its event's schema and maps to the canonical event it should."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from providers.canonical import event_to_json
from providers.engine import ChannelContext, IncomingRequest, Outcome, handle_request
from providers.rejections import RequestRejected
from providers.spec import ProviderSpec
from providers.spec_loader import DEFAULT_SPECS_DIR, load_spec
from schemas import CALL_EVENT_SCHEMA, load_schema

FIXTURES = Path(__file__).parent / "fixtures" / "uis"
SCENARIOS = sorted(p for p in FIXTURES.iterdir() if p.is_dir())
FIXTURE_FILES = sorted(FIXTURES.glob("*/*.json"))
MOSCOW = ChannelContext(channel_id=3, timezone="Europe/Moscow", country="RU")

# what each UIS notification is, in pbxhub's words
KIND_OF = {
    "incoming_call": "call_started",
    "waiting_for_answer": "ringing",
    "outbound_call": "call_started",
    "talk_started": "talk_started",
    "talk_finished": "talk_finished",
    "call_finished": "call_finished",
    "call_recording": "recording_ready",
    "lost_call": "call_lost",
}


@pytest.fixture(scope="module")
def uis() -> ProviderSpec:
    return load_spec(DEFAULT_SPECS_DIR / "uis.yaml")


def notify(spec: ProviderSpec, body: Any, channel: ChannelContext = MOSCOW) -> Outcome:
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    request = IncomingRequest("POST", {"content-type": "application/json"}, {}, raw)
    return handle_request(spec, "notify", request, channel)


def fixture(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def notification_of(path: Path) -> str:
    return path.stem.split("_", 1)[1]


def scenario(name: str) -> list[dict[str, Any]]:
    return [fixture(p) for p in sorted((FIXTURES / name).glob("*.json"))]


# --- every fixture ------------------------------------------------------------------------------


def test_the_four_scenarios_of_the_end_to_end_tests_exist() -> None:
    assert [p.name for p in SCENARIOS] == [
        "inbound_answered",
        "inbound_lost",
        "outbound_answered",
        "unknown_employee",
    ]


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_fixture_validates_against_its_events_schema(uis: ProviderSpec, path: Path) -> None:
    [event] = [e for e in uis.endpoints["notify"].events if e.name == notification_of(path)]
    assert event.schema_name == f"uis/{event.name}.json"
    assert list(event.validator.iter_errors(fixture(path))) == []


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_fixture_is_recognised_and_maps_to_its_canonical_kind(
    uis: ProviderSpec, path: Path
) -> None:
    outcome = notify(uis, path.read_bytes())
    assert outcome.event_name == notification_of(path)
    [mapped] = outcome.events
    assert mapped.kind == KIND_OF[notification_of(path)]
    assert mapped.provider == "uis" and mapped.channel_id == 3
    assert mapped.session_id == str(fixture(path)["call_session_id"])
    assert outcome.reply.status == 200
    assert json.loads(outcome.reply.body) == {"ok": True, "event": notification_of(path)}
    call_event = Draft202012Validator(load_schema(CALL_EVENT_SCHEMA))
    assert list(call_event.iter_errors(event_to_json(mapped))) == []
    assert all(isinstance(v, str) and v for v in mapped.extra.values())


def test_a_scenario_keeps_one_session_and_scenarios_do_not_share_one() -> None:
    sessions = [{body["call_session_id"] for body in scenario(p.name)} for p in SCENARIOS]
    assert all(len(s) == 1 for s in sessions)
    assert len(set.union(*sessions)) == len(SCENARIOS)


@pytest.mark.parametrize("name", [p.name for p in SCENARIOS])
def test_every_notification_of_a_call_has_its_own_idempotency_key_and_a_redelivery_the_same(
    uis: ProviderSpec, name: str
) -> None:
    keys = [notify(uis, body).events[0].idempotency_key for body in scenario(name)]
    assert len(set(keys)) == len(keys)
    again = [notify(uis, body).events[0].idempotency_key for body in scenario(name)]
    assert again == keys


def test_notification_times_are_moscow_local_and_ordered() -> None:
    for directory in SCENARIOS:
        times = [body["notification_time"] for body in scenario(directory.name)]
        assert times == sorted(times)


# --- the scenarios, as the workflow will see them ----------------------------------------------


def test_inbound_answered_call(uis: ProviderSpec) -> None:
    events = [notify(uis, body).events[0] for body in scenario("inbound_answered")]
    started, ringing, talk, talk_end, finished, recording = events
    assert started.direction == "in"
    assert started.contact_phone == "+79161234567"
    assert started.contact_phone_raw == "79161234567"
    assert started.virtual_number == "+74950000001"
    assert started.occurred_at == datetime(2024, 3, 12, 7, 15, tzinfo=UTC)
    assert (ringing.employee_pbx_id, ringing.leg_id) == ("28511", "810000102")
    assert talk.answered_at == datetime(2024, 3, 12, 7, 15, 7, tzinfo=UTC)
    assert talk_end.talk_seconds == 65
    assert (finished.wait_seconds, finished.talk_seconds, finished.total_seconds) == (7, 65, 72)
    assert finished.answered is True and finished.employee_pbx_id == "28511"
    assert finished.ended_at == datetime(2024, 3, 12, 7, 16, 12, tzinfo=UTC)
    assert recording.recording_url == "http://127.0.0.1:9/records/3410000101/1.mp3"
    assert recording.recording_duration == 65


def test_inbound_lost_call_names_every_employee_it_rang(uis: ProviderSpec) -> None:
    events = [notify(uis, body).events[0] for body in scenario("inbound_lost")]
    kinds = [e.kind for e in events]
    assert kinds == ["call_started", "ringing", "ringing", "call_lost", "call_finished"]
    lost, finished = events[3], events[4]
    assert lost.rang_pbx_ids == ["28511", "28512"]
    assert (lost.wait_seconds, lost.answered, lost.direction) == (31, False, "in")
    assert (finished.talk_seconds, finished.answered, finished.employee_pbx_id) == (0, False, None)


def test_outbound_answered_call(uis: ProviderSpec) -> None:
    events = [notify(uis, body).events[0] for body in scenario("outbound_answered")]
    started = events[0]
    assert (started.kind, started.direction) == ("call_started", "out")
    assert started.employee_pbx_id == "28511"
    assert started.employee_phone == "+79031234567"
    assert started.contact_phone == "+79161234567"
    assert all(e.direction == "out" for e in events[:4])


def test_a_call_answered_by_an_employee_unknown_to_the_crm_still_names_the_pbx_user(
    uis: ProviderSpec,
) -> None:
    events = [notify(uis, body).events[0] for body in scenario("unknown_employee")]
    assert {e.employee_pbx_id for e in events[1:]} == {"99999"}


# --- quirks and rejections -----------------------------------------------------------------------


def finished_body(**changes: Any) -> dict[str, Any]:
    return {**fixture(FIXTURES / "inbound_answered" / "05_call_finished.json"), **changes}


def test_numbers_as_strings_map_like_numbers(uis: ProviderSpec) -> None:
    as_numbers = notify(uis, finished_body()).events[0]
    as_strings = notify(
        uis,
        finished_body(
            call_session_id="3410000101",
            employee_id="28511",
            talk_time_duration="65",
            total_time_duration="72",
            wait_time_duration="7",
        ),
    ).events[0]
    assert as_strings == as_numbers


def test_a_missing_call_session_id_is_422_naming_it(uis: ProviderSpec) -> None:
    body = finished_body()
    del body["call_session_id"]
    with pytest.raises(RequestRejected) as caught:
        notify(uis, body)
    assert (caught.value.status, caught.value.field) == (422, "call_session_id")


def test_a_talk_time_that_is_not_a_number_is_422_naming_it(uis: ProviderSpec) -> None:
    with pytest.raises(RequestRejected) as caught:
        notify(uis, finished_body(talk_time_duration="abc"))
    assert (caught.value.status, caught.value.field) == (422, "talk_time_duration")


def test_a_bad_id_in_employee_ids_is_422_naming_its_index(uis: ProviderSpec) -> None:
    body = fixture(FIXTURES / "inbound_lost" / "04_lost_call.json")
    with pytest.raises(RequestRejected) as caught:
        notify(uis, {**body, "employee_ids": [28511, "x"]})
    assert caught.value.field == "employee_ids[1]"


def test_a_direction_other_than_in_or_out_is_422(uis: ProviderSpec) -> None:
    with pytest.raises(RequestRejected) as caught:
        notify(uis, finished_body(direction="sideways"))
    assert caught.value.field == "direction"


def test_an_unrecognised_body_is_422(uis: ProviderSpec) -> None:
    with pytest.raises(RequestRejected) as caught:
        notify(uis, {"call_session_id": 1})
    assert (caught.value.status, caught.value.field) == (422, None)


def test_a_get_to_the_notification_url_is_405(uis: ProviderSpec) -> None:
    request = IncomingRequest("GET", {}, {"call_session_id": "1"}, b"")
    with pytest.raises(RequestRejected) as caught:
        handle_request(uis, "notify", request, MOSCOW)
    assert caught.value.status == 405


def test_a_recording_arriving_before_anything_else_maps_on_its_own(uis: ProviderSpec) -> None:
    # order of delivery is the workflow's business; each notification maps independently
    recording = fixture(FIXTURES / "inbound_answered" / "06_call_recording.json")
    assert notify(uis, recording).events[0].kind == "recording_ready"


@pytest.mark.parametrize(
    ("zone", "local", "utc"),
    [
        ("Europe/Moscow", "2024-01-15 12:00:00", datetime(2024, 1, 15, 9, 0, tzinfo=UTC)),
        ("Europe/Moscow", "2024-07-15 12:00:00", datetime(2024, 7, 15, 9, 0, tzinfo=UTC)),
        ("Europe/Kyiv", "2024-01-15 12:00:00", datetime(2024, 1, 15, 10, 0, tzinfo=UTC)),
        ("Europe/Kyiv", "2024-07-15 12:00:00", datetime(2024, 7, 15, 9, 0, tzinfo=UTC)),
    ],
)
def test_notification_time_is_read_in_the_channels_zone_with_dst(
    uis: ProviderSpec, zone: str, local: str, utc: datetime
) -> None:
    channel = ChannelContext(channel_id=3, timezone=zone, country="RU")
    mapped = notify(uis, finished_body(notification_time=local), channel).events[0]
    assert mapped.occurred_at == utc and mapped.ended_at == utc


def test_parameters_the_customer_added_land_in_extra(uis: ProviderSpec) -> None:
    mapped = notify(uis, finished_body(utm_campaign="spring", visitor_country="RU")).events[0]
    assert mapped.extra["utm_campaign"] == "spring"
    assert mapped.extra["visitor_country"] == "RU"
    assert "call_session_id" not in mapped.extra and "talk_time_duration" not in mapped.extra
