"""Click-to-call through each PBX that can place a call, end to end: POST /api/v1/click-to-call,
PbxActionWorkflow on the real Temporal dev server, the request to a local simulator of the PBX's
API on 127.0.0.1 (its envelope, its keys or signature, its error shapes). A refusal reaches the
employee as pbxhub's sentence, never the PBX's own text, and nothing is recorded either way."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from conftest import Pbxhub
from pbx_api_simulators import (
    ApiSimulator,
    BinotelApi,
    UisCallApi,
    ZadarmaApi,
    serving,
    zadarma_signature,
)


def host_port(simulator: ApiSimulator) -> str:
    """The simulator's host:port, as a channel's allowed_pbx_hosts lists an on-premises PBX."""
    return urlsplit(simulator.url).netloc


async def click(hub: Pbxhub, channel: dict[str, Any], employee: dict[str, Any], phone: str) -> Any:
    return await hub.http.post(
        "/api/v1/click-to-call",
        json={"channel_id": channel["id"], "employee_id": employee["id"], "phone": phone},
        headers=hub.admin,
    )


def refused(response: Any, status: int) -> str:
    """The sentence the employee reads of a refusal the PBX answered with `status`."""
    assert response.status_code == 502, response.text
    body = response.json()
    assert body["ok"] is False and body["pbx_status"] == status
    assert body["pbx_answer"] == f"the PBX refused: HTTP {status}"
    detail: str = body["detail"]
    return detail


async def test_uis_places_a_call_with_start_employee_call(pbxhub: Pbxhub) -> None:
    with serving(UisCallApi()) as uis:
        channel, (anna,) = await pbxhub.create_line(
            "uis",
            {"Anna": {"extension": "101", "pbx_user_id": "28511"}},
            settings={
                "call_api_url": uis.url,
                "virtual_phone_number": "+7 499 372-06-92",
                "allowed_pbx_hosts": [host_port(uis)],
                "secrets": {"call_api_token": uis.access_token},
            },
        )

        ok = await click(pbxhub, channel, anna, "8 (926) 000-00-00")
        assert ok.status_code == 200, ok.text
        assert ok.json() == {
            "ok": True,
            "phone": "+79260000000",
            "pbx_status": 200,
            "pbx_answer": "the PBX accepted: HTTP 200",
        }
        (sent,) = uis.requests()
        assert (sent.method, sent.path) == ("POST", "/v4.0")
        assert sent.headers["content-type"] == "application/json; charset=UTF-8"
        call = json.loads(sent.body)
        assert call["jsonrpc"] == "2.0" and call["method"] == "start.employee_call"
        assert call["params"] == {
            "access_token": "uis-call-token",
            "first_call": "employee",
            "virtual_phone_number": "74993720692",
            "direction": "out",
            "contact": "79260000000",
            "employee": {"id": 28511},
        }

        busy = {
            "code": -32008,
            "message": "Employee 28511 is busy right now",
            "data": {"mnemonic": "employee_busy"},
        }
        uis.queue("employee:28511", (200, {"error": busy}))
        said = refused(await click(pbxhub, channel, anna, "+79260000000"), 200)
        assert (
            said
            == "UIS could not ring you: your line is busy. Finish the current call and try again."
        )

        uis.queue(
            "employee:28511", (200, {"error": {"code": -32603, "message": "secret internals"}})
        )
        said = refused(await click(pbxhub, channel, anna, "+79260000000"), 200)
        assert "error -32603" in said and "secret internals" not in said

        # a token UIS does not know: the simulator checks it as the Call API does
        await pbxhub.http.patch(
            f"/api/v1/channels/{channel['id']}",
            json={"settings": {"secrets": {"call_api_token": "stale"}}},
            headers=pbxhub.admin,
        )
        said = refused(await click(pbxhub, channel, anna, "+79260000000"), 200)
        assert "Call API key" in said and "call_api_token" in said
        assert len(uis.requests()) == 4
        assert await pbxhub.calls_and_missed() == ([], [])


async def test_callgear_uses_its_own_call_api_for_the_same_request(pbxhub: Pbxhub) -> None:
    with serving(UisCallApi(access_token="callgear-token")) as callgear:
        channel, (omar,) = await pbxhub.create_line(
            "callgear",
            {"Omar": {"extension": "201", "pbx_user_id": "25"}},
            default_country="AE",
            settings={
                "call_api_url": callgear.url,
                "virtual_phone_number": "971028160531",
                "allowed_pbx_hosts": [host_port(callgear)],
                "secrets": {"call_api_token": "callgear-token"},
            },
        )
        callgear.queue(
            "employee:25",
            (
                200,
                {
                    "error": {
                        "code": -32602,
                        "message": "x",
                        "data": {"mnemonic": "employee_not_found", "field": "employee"},
                    }
                },
            ),
        )
        said = refused(await click(pbxhub, channel, omar, "050 926 7545"), 200)
        assert said == (
            "UIS does not know you as employee 25: the admin should set your UIS employee id "
            "on you in pbxhub."
        )
        (sent,) = callgear.requests()
        assert json.loads(sent.body)["params"]["contact"] == "971509267545"


async def test_uis_without_the_employees_pbx_id_sends_nothing_and_says_what_to_set(
    pbxhub: Pbxhub,
) -> None:
    with serving(UisCallApi()) as uis:
        channel, (anna,) = await pbxhub.create_line(
            "uis",
            {"Anna": {"extension": "101"}},
            settings={
                "call_api_url": uis.url,
                "virtual_phone_number": "74993720692",
                "allowed_pbx_hosts": [host_port(uis)],
                "secrets": {"call_api_token": uis.access_token},
            },
        )
        response = await click(pbxhub, channel, anna, "+79260000000")
        assert response.status_code == 422
        assert response.json()["detail"] == (
            "the employee has no pbx_user_id in this channel: set it on the employee"
        )
        assert uis.requests() == []


async def test_binotel_places_a_call_from_the_short_number_to_the_10_digit_number(
    pbxhub: Pbxhub,
) -> None:
    with serving(BinotelApi()) as binotel:
        channel, (olena,) = await pbxhub.create_line(
            "binotel",
            {"Olena": {"extension": "901"}},
            default_country="UA",
            settings={
                "api_url": binotel.url,
                "allowed_pbx_hosts": [host_port(binotel)],
                "secrets": {"api_key": binotel.key, "api_secret": binotel.secret},
            },
        )
        ok = await click(pbxhub, channel, olena, "067 123 45 67")
        assert ok.status_code == 200, ok.text
        assert ok.json()["phone"] == "+380671234567"
        (sent,) = binotel.requests()
        assert sent.path == "/api/4.0/calls/internal-number-to-external-number.json"
        assert json.loads(sent.body) == {
            "key": "binotel-test-key",
            "secret": "binotel-test-secret",
            "internalNumber": "901",
            "externalNumber": "0671234567",
        }

        binotel.queue("call:901", BinotelApi.error(120, "Internal number 901 is busy"))
        said = refused(await click(pbxhub, channel, olena, "+380671234567"), 200)
        assert said.startswith("Binotel could not ring you: short number 901 is busy.")

        await pbxhub.http.patch(
            f"/api/v1/channels/{channel['id']}",
            json={"settings": {"secrets": {"api_key": binotel.key, "api_secret": "wrong"}}},
            headers=pbxhub.admin,
        )
        said = refused(await click(pbxhub, channel, olena, "+380671234567"), 200)
        assert said.startswith("Binotel refused pbxhub's API key")
        assert "Wrong key or secret" not in said  # Binotel's own words are the log's
        assert await pbxhub.calls_and_missed() == ([], [])


async def test_zadarma_places_a_signed_callback(pbxhub: Pbxhub) -> None:
    with serving(ZadarmaApi()) as zadarma:
        channel, (olena,) = await pbxhub.create_line(
            "zadarma",
            {"Olena": {"extension": "101"}},
            default_country="UA",
            settings={
                "api_url": zadarma.url,
                "allowed_pbx_hosts": [host_port(zadarma)],
                "secrets": {"api_key": zadarma.key, "api_secret": zadarma.secret},
            },
        )
        ok = await click(pbxhub, channel, olena, "+380 67 123 4567")
        assert ok.status_code == 200, ok.text
        (sent,) = zadarma.requests()
        assert (sent.method, sent.path) == ("GET", "/v1/request/callback/")
        assert sent.query == {"format": "json", "from": "101", "to": "380671234567"}
        signature = zadarma_signature(sent.path, sent.query, zadarma.secret)
        assert sent.headers["authorization"] == f"zadarma-test-key:{signature}"

        zadarma.queue("callback:101", (200, {"status": "error", "message": "Wrong parameter from"}))
        said = refused(await click(pbxhub, channel, olena, "+380671234567"), 200)
        assert said.startswith("Zadarma does not know extension 101")

        # a secret Zadarma does not know: the simulator's signature check refuses it with 401
        await pbxhub.http.patch(
            f"/api/v1/channels/{channel['id']}",
            json={"settings": {"secrets": {"api_key": zadarma.key, "api_secret": "other"}}},
            headers=pbxhub.admin,
        )
        said = refused(await click(pbxhub, channel, olena, "+380671234567"), 401)
        assert said.startswith("Zadarma refused pbxhub's API key")
        assert await pbxhub.calls_and_missed() == ([], [])


async def test_a_pbx_address_on_loopback_not_allow_listed_is_never_asked(pbxhub: Pbxhub) -> None:
    with serving(ZadarmaApi()) as zadarma:
        channel, (olena,) = await pbxhub.create_line(
            "zadarma",
            {"Olena": {"extension": "101"}},
            default_country="UA",
            settings={
                "api_url": zadarma.url,
                "secrets": {"api_key": zadarma.key, "api_secret": zadarma.secret},
            },
        )
        response = await click(pbxhub, channel, olena, "+380671234567")
        assert response.status_code == 422
        assert "the PBX's address is refused" in response.json()["detail"]
        assert zadarma.requests() == []
