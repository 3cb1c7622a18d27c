"""Requests to an address an admin set (`pbx_url`, `api_url`, ...) go through the same guard as
recording links: a loopback, private or otherwise non-public address is refused before any
connection, unless the channel lists its exact host:port in `allowed_pbx_hosts` (an on-premises
PBX); the simulators here run on 127.0.0.1, so every test that reaches one allows it that way.
What the PBX answered is shown in pbxhub's words; its own text goes to the log only."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from conftest import Pbxhub
from pbx_simulator import pbx_simulator
from test_planfix_calls import PBX_TOKEN, eventually, pbx_host_port, planfix_line

from activities.pbx import send_action
from contracts.messages import ActionEmployee, PbxActionInput
from crm import Channel, Store
from providers.spec_loader import load_specs
from recordings.url_guard import LinkPolicy, LinkRefused, vet_link

# What an internal service would answer: never to be shown back to whoever asked.
INTERNAL = '{"error": "denied", "internal": "db-password=hunter2 at 10.0.0.7"}'


async def click(hub: Pbxhub, channel: dict[str, Any], anna: dict[str, Any]) -> httpx.Response:
    return await hub.http.post(
        "/api/v1/click-to-call",
        json={"channel_id": channel["id"], "employee_id": anna["id"], "phone": "89161234567"},
        headers=hub.admin,
    )


async def test_a_pbx_url_on_this_machine_is_not_called_unless_the_channel_allows_its_host_port(
    pbxhub: Pbxhub,
) -> None:
    with pbx_simulator() as pbx:
        channel, (anna, _, _) = await planfix_line(
            pbxhub, pbx_url=pbx.url, secrets={"pbx_token": PBX_TOKEN}
        )

        refused = await click(pbxhub, channel, anna)

        assert refused.status_code == 422
        detail = refused.json()["detail"]
        assert "127.0.0.1 is a loopback address" in detail
        assert f'allowed_pbx_hosts: ["{pbx_host_port(pbx.url)}"]' in detail
        # neither the setup sent when the channel was made nor the call reached it
        assert pbx.received == []
        # the admin sees on the channel why its setup was not sent
        error = await eventually(lambda: channel_error(pbxhub, channel))
        assert error["action"] == "channel_setup"
        assert "loopback" in error["message"]

        # the admin allows exactly this host and port: the PBX is called, its key sent
        await patch_settings(pbxhub, channel, allowed_pbx_hosts=[pbx_host_port(pbx.url)])
        allowed = await click(pbxhub, channel, anna)
        assert allowed.status_code == 200, allowed.text
        assert [c["token"] for c in pbx.commands("makeCall")] == [PBX_TOKEN]

        # the same machine on another port is another host
        host, port = pbx_host_port(pbx.url).split(":")
        await patch_settings(pbxhub, channel, allowed_pbx_hosts=[f"{host}:{int(port) + 1}"])
        assert (await click(pbxhub, channel, anna)).status_code == 422
        assert len(pbx.commands("makeCall")) == 1


@pytest.mark.parametrize(
    ("pbx_url", "problem"),
    [
        ("http://10.0.0.5:8080/planfix_api.php", "10.0.0.5 is a private address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://[::ffff:192.168.1.1]/api", "the IPv4-mapped form of a private address"),
        ("http://localhost:8080/api", "localhost names this machine"),
        ("file:///etc/passwd", "is not an http(s) URL"),
    ],
)
async def test_a_pbx_url_at_a_non_public_address_is_refused_before_any_connection(
    pbxhub: Pbxhub, pbx_url: str, problem: str
) -> None:
    # a connection attempt anywhere but loopback would fail the test (conftest.only_this_machine)
    channel, (anna, _, _) = await planfix_line(
        pbxhub, pbx_url=pbx_url, secrets={"pbx_token": PBX_TOKEN}
    )

    refused = await click(pbxhub, channel, anna)

    assert refused.status_code == 422
    assert problem in refused.json()["detail"]


async def test_the_pbx_answer_is_shown_in_pbxhubs_words_and_logged_without_its_keys(
    pbxhub: Pbxhub, caplog: pytest.LogCaptureFixture
) -> None:
    with pbx_simulator() as pbx:
        channel, (anna, _, _) = await planfix_line(
            pbxhub,
            pbx_url=pbx.url,
            allowed_pbx_hosts=[pbx_host_port(pbx.url)],
            secrets={"pbx_token": PBX_TOKEN},
        )
        pbx.answer("makeCall", 200, f"{INTERNAL} {PBX_TOKEN}")
        caplog.set_level(logging.INFO)

        ok = await click(pbxhub, channel, anna)

        assert ok.status_code == 200, ok.text
        assert ok.json()["pbx_answer"] == "the PBX accepted: HTTP 200"
        assert "hunter2" not in ok.text
        # the log keeps what the PBX said, cut short, with the channel's key hidden
        logged = [r.getMessage() for r in caplog.records if "hunter2" in r.getMessage()]
        assert logged, "the PBX's answer is not in the log"
        assert all(PBX_TOKEN not in line and "***" in line for line in logged)


def test_a_name_resolving_to_a_private_address_is_refused_and_a_listed_one_is_pinned(
    store: Store,
) -> None:
    spec = load_specs()["planfix_api"]
    sent: list[httpx.Request] = []

    def pbx(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, text="")

    def resolve(host: str, port: int) -> list[str]:
        return {"pbx.office.lan": ["192.168.10.5"]}[host]

    def ask(channel: Channel) -> Any:
        data = PbxActionInput(
            channel.id, "click_to_call", employee=ActionEmployee(1, "Anna", "101"), phone="+7916"
        )
        return send_action(channel, spec, data, transport=httpx.MockTransport(pbx), resolve=resolve)

    settings = {
        "pbx_url": "http://pbx.office.lan:8080/planfix_api.php",
        "secrets": {"pbx_token": PBX_TOKEN},
    }
    channel = store.create_channel(provider="planfix_api", name="office", settings=settings)

    refused = ask(channel)
    assert (refused.ok, refused.sent) == (False, False)
    assert "pbx.office.lan resolves to 192.168.10.5, a private address" in refused.message
    assert sent == []

    listed = store.update_channel(
        channel.id, settings_patch={"allowed_pbx_hosts": ["pbx.office.lan:8080"]}
    )
    assert listed is not None
    result = ask(listed[1])
    assert (result.ok, result.status) == (True, 200)
    [request] = sent
    # connected to the address vetted, the name in Host: a second lookup cannot move it
    assert (request.url.host, request.url.port) == ("192.168.10.5", 8080)
    assert request.headers["host"] == "pbx.office.lan:8080"


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ("10.0.0.5", "is not host:port"),
        ("http://10.0.0.5:8080", "is not host:port"),
        ("10.0.0.5:8080/api", "is not host:port"),
        ("*.office.lan:8080", "is not a host name or an IP address"),
        ("10.0.0.5:0", "the port must be 1 to 65535"),
    ],
)
async def test_an_allowed_pbx_host_that_is_not_an_exact_host_and_port_is_422(
    pbxhub: Pbxhub, entry: str, words: str
) -> None:
    response = await pbxhub.http.post(
        "/api/v1/channels",
        json={"provider": "uis", "name": "office", "settings": {"allowed_pbx_hosts": [entry]}},
        headers=pbxhub.admin,
    )
    assert response.status_code == 422
    assert "allowed_pbx_hosts" in response.text and words in response.text


async def channel_error(hub: Pbxhub, channel: dict[str, Any]) -> Any:
    return (await hub.get(f"/api/v1/channels/{channel['id']}"))["last_error"]


async def patch_settings(hub: Pbxhub, channel: dict[str, Any], **settings: Any) -> None:
    response = await hub.http.patch(
        f"/api/v1/channels/{channel['id']}", json={"settings": settings}, headers=hub.admin
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("url", "hinted"),
    [
        ("http://10.0.0.5:8080/api", True),
        ("http://127.0.0.1:8080/api", True),
        ("http://100.64.0.9/api", True),
        ("http://169.254.169.254/latest/meta-data/", False),
        ("http://224.0.0.1/api", False),
    ],
)
def test_a_refusal_says_how_to_allow_a_pbx_only_where_a_pbx_may_be(url: str, hinted: bool) -> None:
    with pytest.raises(LinkRefused) as caught:
        vet_link(url, LinkPolicy(any_host=True))
    assert ("settings.allowed_pbx_hosts" in caught.value.reason) is hinted
