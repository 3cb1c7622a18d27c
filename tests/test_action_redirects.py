"""Outbound actions and redirects, sent as activities/pbx.py sends them to PBXs played by real HTTP
servers on 127.0.0.1: a 3xx is an answer like any other unless the action follows redirects;
answer rules read the answer's headers (a Location that is the recording's file); following is
bounded, every hop's address is checked as the first one, and the action's keys never go to
another origin."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from local_server import QuietHandler, local_server
from test_provider_engine import endpoint, event, make_spec

from activities.pbx import send_action
from contracts.messages import ActionCall, ActionEmployee, PbxActionInput, PbxActionResult
from crm import Channel
from providers.spec import ProviderSpec, SpecError

KEY = "pbx-s3cret-key"


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes


@dataclass
class Pbx:
    """A PBX's HTTP API: path → (status, headers, body) to answer; every request kept."""

    answers: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def on(self, path: str, status: int, body: bytes = b"", **headers: str) -> None:
        self.answers[path] = (status, headers, body)

    def paths(self) -> list[str]:
        with self._lock:
            return [r.path for r in self.received]


@pytest.fixture
def pbx() -> Iterator[Pbx]:
    yield from _serving(Pbx())


@pytest.fixture
def elsewhere() -> Iterator[Pbx]:
    """Another server: another origin (another port) than the PBX's."""
    yield from _serving(Pbx())


def _serving(pbx: Pbx) -> Iterator[Pbx]:
    def respond(handler: QuietHandler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        body = handler.rfile.read(length) if length else b""
        with pbx._lock:
            pbx.received.append(
                Received(
                    handler.command,
                    handler.path,
                    {k.lower(): v for k, v in handler.headers.items()},
                    body,
                )
            )
        status, headers, answer = pbx.answers.get(handler.path, (404, {}, b"no such path"))
        handler.send_response(status)
        for name, value in {"Content-Length": str(len(answer)), **headers}.items():
            handler.send_header(name.replace("_", "-"), value)
        handler.end_headers()
        handler.wfile.write(answer)

    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            respond(self)

        def do_POST(self) -> None:  # noqa: N802
            respond(self)

    with local_server(Handler) as port:
        pbx.url = f"http://127.0.0.1:{port}"
        yield pbx


def acme(tmp_path: Path, action: str, request: dict[str, Any], **rest: Any) -> ProviderSpec:
    """A spec whose one action sends `request` (method, format… filled in) to the PBX's url."""
    document = {
        "request": {
            "method": "POST",
            "url": "{{ channel.settings.pbx_url }}" + request.pop("path", ""),
            "format": "form",
            "headers": {"Authorization": "Bearer {{ channel.secrets.key }}"},
            "timeout_seconds": 5,
            **request,
        },
        **rest,
    }
    return make_spec(tmp_path, endpoint(event("start")), actions={action: document})


def channel(pbx: Pbx, *also: Pbx) -> Channel:
    """The PBX's channel; the test servers are on loopback, so they are allowed by their exact
    host:port, as an on-premises PBX would be."""
    allowed = [server.url.removeprefix("http://") for server in (pbx, *also)]
    return Channel(
        id=1,
        provider="acme",
        name="ACME office",
        secret_key="channel-key",
        default_country="RU",
        timezone="Europe/Moscow",
        settings={"pbx_url": pbx.url, "secrets": {"key": KEY}, "allowed_pbx_hosts": allowed},
        created_at=datetime.now(UTC),
    )


def click_to_call(spec: ProviderSpec, pbx: Pbx) -> PbxActionResult:
    data = PbxActionInput(
        channel_id=1,
        action="click_to_call",
        employee=ActionEmployee(id=3, name="Anna", extension="101"),
        phone="+79161234567",
    )
    return send_action(channel(pbx), spec, data)


CALL_FIELDS = {"from": "{{ args.employee.extension }}", "to": "{{ args.phone }}"}


# --- a redirect is an answer, unless the action follows it ---------------------------------------


def test_a_recording_link_is_read_from_the_location_of_a_302_without_following_it(
    tmp_path: Path, pbx: Pbx
) -> None:
    spec = acme(
        tmp_path,
        "recording_link",
        {"method": "GET", "format": "query", "path": "/records/{{ args.call.session_id }}"},
        answers=[{"when": "status == 302", "ok": True, "link": "headers.location"}],
    )
    pbx.on("/records/3401", 302, Location="/files/3401.mp3?expires=1800")
    data = PbxActionInput(channel_id=1, action="recording_link", call=ActionCall(session_id="3401"))

    result = send_action(channel(pbx), spec, data)

    assert (result.ok, result.status) == (True, 302)
    # a relative Location is made absolute against the address asked
    assert result.link == f"{pbx.url}/files/3401.mp3?expires=1800"
    assert pbx.paths() == ["/records/3401"]  # the file itself was not fetched here


def test_by_default_a_redirect_is_not_followed_and_says_what_the_pbx_answered(
    tmp_path: Path, pbx: Pbx
) -> None:
    spec = acme(tmp_path, "click_to_call", {"path": "/call", "fields": CALL_FIELDS})
    pbx.on("/call", 302, Location="/login")

    result = click_to_call(spec, pbx)

    assert (result.ok, result.status) == (False, 302)
    assert result.message == "the PBX answered HTTP 302"
    assert pbx.paths() == ["/call"]


def test_a_307_is_followed_with_the_same_post_its_body_and_keys(tmp_path: Path, pbx: Pbx) -> None:
    spec = acme(
        tmp_path,
        "click_to_call",
        {"path": "/v1/call", "fields": CALL_FIELDS, "follow_redirects": True},
        answers=[{"when": "status == 200 and body.result == 'ok'", "ok": True}],
    )
    pbx.on("/v1/call", 307, Location="/v2/call")
    pbx.on("/v2/call", 200, b'{"result": "ok"}', Content_Type="application/json")

    result = click_to_call(spec, pbx)

    assert (result.ok, result.status) == (True, 200)
    first, moved = pbx.received
    assert (moved.method, moved.path, moved.body) == ("POST", "/v2/call", first.body)
    assert first.body == b"from=101&to=%2B79161234567"
    assert moved.headers["authorization"] == f"Bearer {KEY}"  # the same origin: the same keys


def test_a_302_after_a_post_is_followed_with_a_get_without_the_body(
    tmp_path: Path, pbx: Pbx
) -> None:
    spec = acme(
        tmp_path,
        "click_to_call",
        {"path": "/call", "fields": CALL_FIELDS, "follow_redirects": True},
    )
    pbx.on("/call", 302, Location="/call/accepted")
    pbx.on("/call/accepted", 200, b"queued")

    result = click_to_call(spec, pbx)

    assert result.ok and result.answer == "the PBX accepted: HTTP 200"  # of the last answer
    moved = pbx.received[1]
    assert (moved.method, moved.body) == ("GET", b"")
    assert "content-type" not in moved.headers


def test_a_redirect_to_another_origin_carries_none_of_the_actions_keys(
    tmp_path: Path, pbx: Pbx, elsewhere: Pbx
) -> None:
    spec = acme(
        tmp_path,
        "recording_link",
        {"method": "GET", "format": "query", "path": "/records/1", "follow_redirects": True},
        answers=[{"when": "status == 200", "ok": True, "link": "body.link"}],
    )
    pbx.on("/records/1", 302, Location=f"{elsewhere.url}/cdn/1")
    elsewhere.on("/cdn/1", 200, b'{"link": "https://files.example/1.mp3"}')
    data = PbxActionInput(channel_id=1, action="recording_link", call=ActionCall(session_id="1"))

    result = send_action(channel(pbx, elsewhere), spec, data)

    assert result.link == "https://files.example/1.mp3"
    assert pbx.received[0].headers["authorization"] == f"Bearer {KEY}"
    [there] = elsewhere.received
    assert "authorization" not in there.headers
    assert KEY not in str(there.headers)


def test_a_redirect_to_an_address_the_channel_does_not_allow_is_not_followed(
    tmp_path: Path, pbx: Pbx, elsewhere: Pbx
) -> None:
    spec = acme(
        tmp_path,
        "recording_link",
        {"method": "GET", "format": "query", "path": "/records/1", "follow_redirects": True},
        answers=[{"when": "status == 200", "ok": True, "link": "body.link"}],
    )
    pbx.on("/records/1", 302, Location=f"{elsewhere.url}/cdn/1")
    elsewhere.on("/cdn/1", 200, b'{"link": "https://files.example/1.mp3"}')
    data = PbxActionInput(channel_id=1, action="recording_link", call=ActionCall(session_id="1"))

    result = send_action(channel(pbx), spec, data)

    assert not result.ok and result.link is None
    assert result.message is not None and "refused" in result.message
    assert elsewhere.received == []


# --- following is bounded, and every address is checked ------------------------------------------


def test_a_redirect_loop_stops_after_max_redirects_and_says_so(tmp_path: Path, pbx: Pbx) -> None:
    spec = acme(
        tmp_path,
        "click_to_call",
        {"path": "/a", "fields": CALL_FIELDS, "follow_redirects": True, "max_redirects": 2},
    )
    pbx.on("/a", 302, Location="/b")
    pbx.on("/b", 302, Location="/a")

    result = click_to_call(spec, pbx)

    assert (result.ok, result.status) == (False, 302)
    assert result.message == "the PBX redirected more than 2 times (last to GET http://127.0.0.1/b)"
    assert pbx.paths() == ["/a", "/b", "/a"]


@pytest.mark.parametrize(
    "location", ["file:///etc/passwd", "gopher://127.0.0.1:70/", "ftp://127.0.0.1/x.mp3"]
)
def test_a_redirect_to_an_address_that_is_not_http_is_refused_unsent(
    tmp_path: Path, pbx: Pbx, location: str
) -> None:
    spec = acme(
        tmp_path,
        "click_to_call",
        {"path": "/call", "fields": CALL_FIELDS, "follow_redirects": True},
    )
    pbx.on("/call", 302, Location=location)

    result = click_to_call(spec, pbx)

    assert (result.ok, result.status) == (False, 302)
    assert result.message is not None and "does not follow" in result.message
    assert "passwd" not in result.message  # names the scheme, not the address
    assert pbx.paths() == ["/call"]


def test_max_redirects_is_bounded_by_the_meta_schema(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        acme(tmp_path, "click_to_call", {"follow_redirects": True, "max_redirects": 50})
    assert caught.value.path == "actions.click_to_call.request.max_redirects"
