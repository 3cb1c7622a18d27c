"""Each spec's recording_link action against its PBX's API simulator: the request the spec renders
goes over loopback to a server that checks it the way the PBX does, and the answer read back is a
link, "not yet" (asked again later) or a refusal saying what to fix."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from pbx_api_simulators import ApiSimulator, BinotelApi, UisDataApi, ZadarmaApi, serving

from providers.actions import ActionAnswer, read_answer, render_action
from providers.engine import ChannelContext
from providers.spec import ProviderSpec
from providers.spec_loader import load_specs

ZADARMA_CALL: dict[str, Any] = {
    "session_id": "in_3f9a1c7e52b84d0f9e6a2b1c4d8e7f01",
    "started_at": "2024-03-12T08:15:00+00:00",
    "recording_url": None,
    "extra": {"call_id_with_rec": "1710231300.2345678"},
}
BINOTEL_CALL: dict[str, Any] = {
    "session_id": "4510000101",
    "started_at": "2024-03-12T08:15:00+00:00",
    "recording_url": "https://my.binotel.ua/?module=cdrs&action=generateFile&fileName=1.mp3",
    "extra": {},
}
UIS_CALL: dict[str, Any] = {
    "session_id": "3401000101",
    "started_at": "2024-03-12T07:15:00+00:00",
    "recording_url": None,
    "extra": {},
}


@pytest.fixture(scope="module")
def specs() -> dict[str, ProviderSpec]:
    return load_specs()


def ask(
    spec: ProviderSpec,
    *,
    call: Mapping[str, Any],
    settings: Mapping[str, Any],
    secrets: Mapping[str, str],
    timezone: str = "Europe/Moscow",
) -> ActionAnswer:
    """The recording link the spec's action asks for, sent as activities/pbx.py sends it."""
    action = spec.actions["recording_link"]
    channel = ChannelContext.from_stored(
        1, timezone=timezone, country="RU", settings={**settings, "secrets": dict(secrets)}
    )
    args = {"call": dict(call), "lifetime_seconds": 1800}
    request = render_action(action, channel=channel, provider=spec.id, args=args)
    # no proxy from the environment: the simulator is on 127.0.0.1
    with httpx.Client(trust_env=False, follow_redirects=False) as client:
        response = client.request(
            request.method,
            request.url,
            headers=dict(request.headers),
            content=request.body,
            timeout=request.timeout_seconds,
        )
    return read_answer(
        action,
        status=response.status_code,
        text=response.text,
        channel=channel,
        provider=spec.id,
        args=args,
    )


def sent_json(api: ApiSimulator) -> dict[str, Any]:
    """The JSON body of the last request the simulator received."""
    return json.loads(api.requests()[-1].body)


# -- Zadarma -------------------------------------------------------------------------------------

ZADARMA_LINK = "https://api.zadarma.com/v1/pbx/record/download/NjM0/1.mp3"


def ask_zadarma(spec: ProviderSpec, api: ZadarmaApi, *, secret: str | None = None) -> ActionAnswer:
    secrets = {"api_key": api.key, "api_secret": secret or api.secret}
    return ask(spec, call=ZADARMA_CALL, settings={"api_url": api.url}, secrets=secrets)


def test_zadarma_gives_a_link_once_the_recording_is_saved(specs: dict[str, ProviderSpec]) -> None:
    not_found = (200, {"status": "error", "message": "Record not found"})
    link = (200, {"status": "success", "link": ZADARMA_LINK, "lifetime_till": "2024-03-12"})
    with serving(ZadarmaApi()) as api:
        api.queue("1710231300.2345678", not_found, link)
        early = ask_zadarma(specs["zadarma"], api)
        later = ask_zadarma(specs["zadarma"], api)

    assert (early.ok, early.retry, early.link) == (False, True, None)
    assert later == ActionAnswer(ok=True, status=200, text=later.text, link=ZADARMA_LINK)
    assert api.requests()[0].query == {
        "call_id": "1710231300.2345678",
        "format": "json",
        "lifetime": "1800",
    }


def test_a_wrong_zadarma_secret_is_refused_with_what_to_fix(
    specs: dict[str, ProviderSpec],
) -> None:
    with serving(ZadarmaApi()) as api:
        answer = ask_zadarma(specs["zadarma"], api, secret="not-the-secret")

    assert (answer.ok, answer.status, answer.retry) == (False, 401, False)
    assert answer.message == (
        "Zadarma refused pbxhub's API key (HTTP 401: Not authorized): copy the key pair from "
        "Zadarma's \"Ключи и API\" into the channel's secrets api_key and api_secret."
    )


# -- Binotel -------------------------------------------------------------------------------------

BINOTEL_LINK = "https://cdn0993.s3.eu-west-1.amazonaws.com/4510000101.mp3?X-Amz-Expires=900"


def ask_binotel(spec: ProviderSpec, api: BinotelApi, *, secret: str | None = None) -> ActionAnswer:
    secrets = {"api_key": api.key, "api_secret": secret or api.secret}
    return ask(spec, call=BINOTEL_CALL, settings={"api_url": api.url}, secrets=secrets)


def test_binotel_gives_a_link_once_the_recording_is_saved(specs: dict[str, ProviderSpec]) -> None:
    saving = (200, {"status": "success"})
    saved = (200, {"status": "success", "url": BINOTEL_LINK})
    with serving(BinotelApi()) as api:
        api.queue("4510000101", saving, saved)
        early = ask_binotel(specs["binotel"], api)
        later = ask_binotel(specs["binotel"], api)

    assert (early.ok, early.retry, early.link) == (False, True, None)
    assert later == ActionAnswer(ok=True, status=200, text=later.text, link=BINOTEL_LINK)
    assert sent_json(api) == {
        "key": "binotel-test-key",
        "secret": "binotel-test-secret",
        "generalCallID": "4510000101",
    }


def test_a_binotel_record_not_found_yet_is_asked_again(
    specs: dict[str, ProviderSpec],
) -> None:
    with serving(BinotelApi()) as api:
        answer = ask_binotel(specs["binotel"], api)

    assert (answer.ok, answer.retry) == (False, True)
    assert answer.message == "Binotel has no recording yet (Call record not found)"


def test_a_binotel_call_without_a_record_is_said_so_and_not_asked_again(
    specs: dict[str, ProviderSpec],
) -> None:
    with serving(BinotelApi()) as api:
        api.queue("4510000101", BinotelApi.error(202, "Call has no recording"))
        answer = ask_binotel(specs["binotel"], api)

    assert (answer.ok, answer.retry) == (False, False)
    assert answer.message == "Binotel gave no recording link (202: Call has no recording)"


def test_a_wrong_binotel_secret_is_refused_with_what_to_fix(
    specs: dict[str, ProviderSpec],
) -> None:
    with serving(BinotelApi()) as api:
        api.queue("4510000101", (200, {"status": "success", "url": BINOTEL_LINK}))
        answer = ask_binotel(specs["binotel"], api, secret="not-the-secret")

    assert (answer.ok, answer.retry, answer.link) == (False, False, None)
    assert answer.message == (
        "Binotel refused pbxhub's API key (HTTP 200: Wrong key or secret): set the channel's "
        "secrets api_key and api_secret to the REST API key and secret Binotel support issued, "
        "and have support allow pbxhub's address."
    )


# -- UIS and CallGear (one Data API) -------------------------------------------------------------

DATA_API_KEY_REFUSED = (
    "The Data API refused pbxhub's access key (HTTP 200: -32001 Access token is invalid): set "
    "the channel's secret data_api_token to a key of a user with access to the calls report (the "
    "cabinet's user management), and add pbxhub's address to the cabinet's API IP whitelist."
)


def ask_data_api(
    spec: ProviderSpec,
    api: UisDataApi,
    *,
    token: str | None = None,
    media: bool = True,
    timezone: str = "Europe/Moscow",
    **call: Any,
) -> ActionAnswer:
    """`media`: the recordings' address too is the simulator's (never fetched); otherwise the
    spec's default."""
    settings = {"data_api_url": api.url, **({"media_url": f"{api.url}/media"} if media else {})}
    return ask(
        spec,
        call={**UIS_CALL, **call},
        settings=settings,
        secrets={"data_api_token": token or api.access_token},
        timezone=timezone,
    )


def test_uis_gives_a_link_once_the_call_has_its_record(specs: dict[str, ProviderSpec]) -> None:
    with serving(UisDataApi()) as api:
        api.queue(
            "3401000101",
            UisDataApi.session("3401000101"),  # in the report, its record not yet
            UisDataApi.session("3401000101", "8e1b7f3c2a", "d04c9a51e7"),
        )
        unknown = ask_data_api(specs["uis"], api, session_id="3401000199")
        early = ask_data_api(specs["uis"], api)
        later = ask_data_api(specs["uis"], api)

    assert (unknown.ok, unknown.retry) == (False, True)  # not in the report yet
    assert (early.ok, early.retry, early.link) == (False, True, None)
    assert later == ActionAnswer(
        ok=True, status=200, text=later.text, link=f"{api.url}/media/3401000101/d04c9a51e7"
    )
    params = sent_json(api)["params"]
    assert (params["date_from"], params["date_till"]) == (
        "2024-03-11 10:15:00",  # 07:15 UTC is 10:15 in Moscow, a day either side
        "2024-03-13 10:15:00",
    )
    assert params["filter"] == {"field": "id", "operator": "=", "value": 3401000101}


def test_a_wrong_uis_access_key_is_refused_with_what_to_fix(
    specs: dict[str, ProviderSpec],
) -> None:
    with serving(UisDataApi()) as api:
        api.queue("3401000101", UisDataApi.session("3401000101", "8e1b7f3c2a"))
        answer = ask_data_api(specs["uis"], api, token="not-the-key")

    assert (answer.ok, answer.retry, answer.link) == (False, False, None)
    assert answer.message == DATA_API_KEY_REFUSED


def test_uis_refuses_a_report_without_the_calls_start_and_says_why(
    specs: dict[str, ProviderSpec],
) -> None:
    with serving(UisDataApi()) as api:
        answer = ask_data_api(specs["uis"], api, started_at=None)

    assert (answer.ok, answer.retry) == (False, False)
    assert answer.message == (
        "The Data API gave no recording link (-32602 Required parameter date_from is missed, "
        "required_parameter_missed)"
    )


def test_callgear_gives_a_link_on_its_own_media_host(specs: dict[str, ProviderSpec]) -> None:
    dubai = {"timezone": "Asia/Dubai", "started_at": "2024-03-12T06:15:00+00:00"}
    with serving(UisDataApi(access_token="callgear-test-token")) as api:
        api.queue("5610000101", UisDataApi.session("5610000101", "f3a9c1"))
        answer = ask_data_api(specs["callgear"], api, media=False, session_id="5610000101", **dubai)
        not_yet = ask_data_api(
            specs["callgear"], api, media=False, session_id="5610000102", **dubai
        )

    assert answer == ActionAnswer(
        ok=True,
        status=200,
        text=answer.text,
        link="http://app.callgear.com/system/media/talk/5610000101/f3a9c1",
    )
    assert (not_yet.ok, not_yet.retry) == (False, True)
    assert sent_json(api)["params"]["date_from"] == "2024-03-11 10:15:00"  # Dubai's wall clock


def test_a_wrong_callgear_access_key_is_refused_with_what_to_fix(
    specs: dict[str, ProviderSpec],
) -> None:
    with serving(UisDataApi(access_token="callgear-test-token")) as api:
        answer = ask_data_api(specs["callgear"], api, token="uis-test-token")

    assert (answer.ok, answer.retry) == (False, False)
    assert answer.message == DATA_API_KEY_REFUSED
