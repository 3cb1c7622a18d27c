"""A signature's freshness, on Zadarma: it signs only caller_id, called_did and call_start, so a
captured signature fits any event of any call between the same numbers. pbxhub refuses a signed
call_start older than the longest call it waits for (or too far ahead of its clock), first in the
engine, then over HTTP with the real Temporal server and store."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from conftest import FORM, Pbxhub, running_pbxhub
from temporalio.testing import WorkflowEnvironment
from test_zadarma_calls import SECRET, signature

from providers.engine import ChannelContext, IncomingRequest, Outcome, handle_request
from providers.rejections import RequestRejected
from providers.spec import ProviderSpec
from providers.spec_loader import DEFAULT_SPECS_DIR, load_spec

KYIV = ZoneInfo("Europe/Kyiv")
CALLER, LINE = "380671234567", "380441234567"
NOW = datetime(2026, 7, 1, 9, 30, tzinfo=UTC)  # summer: Kyiv is UTC+3


def cabinet_time(moment: datetime) -> str:
    """A moment as Zadarma writes call_start: the cabinet's wall clock, no offset."""
    return moment.astimezone(KYIV).strftime("%Y-%m-%d %H:%M:%S")


def notification(event: str, pbx_call_id: str, started: datetime, **fields: str) -> bytes:
    body = {
        "event": event,
        "call_start": cabinet_time(started),
        "pbx_call_id": pbx_call_id,
        "caller_id": CALLER,
        "called_did": LINE,
        **fields,
    }
    return urlencode(body).encode()


END = {
    "internal": "101",
    "duration": "60",
    "disposition": "answered",
    "status_code": "16",
    "is_recorded": "0",
}


@pytest.fixture(scope="module")
def zadarma() -> ProviderSpec:
    return load_spec(DEFAULT_SPECS_DIR / "zadarma.yaml")


def channel(**settings: Any) -> ChannelContext:
    return ChannelContext(
        channel_id=5,
        timezone="Europe/Kyiv",
        country="UA",
        settings=settings,
        secrets={"api_secret": SECRET},
        max_call_seconds=14400,
    )


def received(
    spec: ProviderSpec,
    body: bytes,
    *,
    at: datetime = NOW,
    signed_with: bytes | None = None,
    on: ChannelContext | None = None,
) -> Outcome:
    """`body` received at `at`, carrying the signature of `signed_with` (default: its own)."""
    headers = {"content-type": FORM, "signature": signature(signed_with or body)}
    request = IncomingRequest("POST", headers, {}, body, received_at=at)
    return handle_request(spec, "notify", request, on or channel())


def refused(spec: ProviderSpec, body: bytes, **options: Any) -> str:
    with pytest.raises(RequestRejected) as caught:
        received(spec, body, **options)
    assert caught.value.status == 401
    return caught.value.message


# --- the engine -----------------------------------------------------------------------------------


def test_a_notification_of_a_call_that_started_minutes_ago_is_accepted(
    zadarma: ProviderSpec,
) -> None:
    body = notification("NOTIFY_START", "in_fresh_1", NOW - timedelta(minutes=2))
    [started] = received(zadarma, body).events
    assert started.session_id == "in_fresh_1"


def test_the_end_of_a_call_as_long_as_pbxhub_waits_for_is_still_accepted(
    zadarma: ProviderSpec,
) -> None:
    body = notification("NOTIFY_END", "in_long_1", NOW - timedelta(hours=3, minutes=59), **END)
    assert received(zadarma, body).event_name == "notify_end"


def test_a_captured_signature_replayed_hours_later_as_another_event_of_another_call_is_401(
    zadarma: ProviderSpec,
) -> None:
    started = NOW - timedelta(hours=5)
    captured = notification("NOTIFY_START", "in_captured_1", started)
    # the same numbers and call_start: the signature fits, nothing else is signed
    forged = notification("NOTIFY_END", "in_forged_2", started, **END)

    reason = refused(zadarma, forged, signed_with=captured)

    assert "body.call_start | local_time" in reason
    assert "5:00:00 old" in reason and "replayed" in reason
    # received while its call could still be going on, the same signature is accepted
    assert received(zadarma, forged, signed_with=captured, at=started + timedelta(hours=1)).events


def test_the_age_limit_is_the_longest_call_pbxhub_waits_for(zadarma: ProviderSpec) -> None:
    body = notification("NOTIFY_START", "in_limit_1", NOW - timedelta(minutes=90))
    one_hour = ChannelContext(
        channel_id=5, timezone="Europe/Kyiv", secrets={"api_secret": SECRET}, max_call_seconds=3600
    )
    assert received(zadarma, body).events  # within the default 4 h
    assert "more than the 1:00:00" in refused(zadarma, body, on=one_hour)


def test_a_signed_time_ahead_of_the_clock_is_tolerated_for_minutes_not_hours(
    zadarma: ProviderSpec,
) -> None:
    skewed = notification("NOTIFY_START", "in_skew_1", NOW + timedelta(minutes=3))
    assert received(zadarma, skewed).events
    # a cabinet an hour east of the channel's zone: every time reads an hour ahead
    ahead = notification("NOTIFY_START", "in_skew_2", NOW + timedelta(hours=1))
    assert "ahead of pbxhub's clock" in refused(zadarma, ahead)
    assert "time zone" in refused(zadarma, ahead)


def test_a_channel_setting_replaces_the_age_limit_and_zero_turns_it_off(
    zadarma: ProviderSpec,
) -> None:
    old = notification("NOTIFY_START", "in_old_1", NOW - timedelta(days=800))
    assert received(zadarma, old, on=channel(signature_max_age_seconds=0)).events
    recent = notification("NOTIFY_START", "in_old_2", NOW - timedelta(minutes=20))
    assert refused(zadarma, recent, on=channel(signature_max_age_seconds="600"))
    # a setting that is not a number leaves the limit in place, not none at all
    assert refused(zadarma, old, on=channel(signature_max_age_seconds="forever"))


@pytest.mark.parametrize(
    ("call_start", "reason"),
    [("", "carries no signed time"), ("yesterday", "cannot be read")],
)
def test_a_signed_notification_without_a_readable_time_is_401(
    zadarma: ProviderSpec, call_start: str, reason: str
) -> None:
    body = urlencode(
        {
            "event": "NOTIFY_START",
            "call_start": call_start,
            "pbx_call_id": "in_x_1",
            "caller_id": CALLER,
            "called_did": LINE,
        }
    ).encode()
    assert reason in refused(zadarma, body)


def test_the_recording_notification_signs_no_time_and_is_not_judged_by_one(
    zadarma: ProviderSpec,
) -> None:
    # signed over pbx_call_id . call_id_with_rec: a replay re-announces that very recording
    body = urlencode(
        {"event": "NOTIFY_RECORD", "call_id_with_rec": "1710231300.1", "pbx_call_id": "in_r_1"}
    ).encode()
    assert received(zadarma, body, at=NOW + timedelta(days=900)).event_name == "notify_record"


# --- over HTTP ------------------------------------------------------------------------------------


@pytest.fixture
async def hub(temporal_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Pbxhub]:
    # the longest call this pbxhub waits for: 1 h (PBXHUB_MAX_CALL_SECONDS)
    async with running_pbxhub(
        temporal_env, tmp_path, recording_wait_seconds=1, max_call_seconds=3600
    ) as running:
        yield running


async def zadarma_channel(hub: Pbxhub) -> dict[str, Any]:
    return await hub.create_channel(
        "zadarma",
        timezone="Europe/Kyiv",
        default_country="UA",
        settings={"secrets": {"api_secret": SECRET}},
    )


async def test_over_http_a_fresh_notification_starts_its_call(hub: Pbxhub) -> None:
    line = await zadarma_channel(hub)
    body = notification("NOTIFY_START", "in_http_fresh", datetime.now(UTC))

    response = await hub.post_hook(
        line, "notify", body, content_type=FORM, headers={"Signature": signature(body)}
    )

    assert response.status_code == 200, response.text
    description = await hub.workflow(line, "in_http_fresh").describe()
    assert description.id.endswith("in_http_fresh")


async def test_over_http_a_replayed_signature_is_401_logged_and_starts_nothing(
    hub: Pbxhub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    line = await zadarma_channel(hub)
    started = datetime.now(UTC) - timedelta(hours=2)  # longer ago than the 1 h limit
    captured = notification("NOTIFY_START", "in_http_captured", started)
    forged = notification("NOTIFY_END", "in_http_forged", started, **END)

    response = await hub.post_hook(
        line, "notify", forged, content_type=FORM, headers={"Signature": signature(captured)}
    )

    assert response.status_code == 401
    assert "replayed signature" in response.json()["error"]
    assert "rejected zadarma/" in caplog.text and "replayed signature" in caplog.text
    await hub.assert_no_workflow(line, "in_http_forged")
    assert await hub.calls_and_missed() == ([], [])
