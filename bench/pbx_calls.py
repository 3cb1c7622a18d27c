"""Whole calls as PBXs deliver them, made from the test fixtures, for the load and fault runs.

Every scenario under tests/fixtures/<provider>/ becomes a template; `CallCopy`s of it carry fresh
PBX session ids (found by mapping each body through the provider's own spec, then replaced in
every body), so many copies of one call are many calls. How a PBX posts (which URL per request,
which header signs it, what its channel needs) is the PBX's side of the protocol, written down
here as the tests do; `Sender` posts over real HTTP and retries on 5xx and connection errors as
a PBX does.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

import httpx

from contracts.events import CallEvent
from providers.engine import ChannelContext, IncomingRequest, handle_request
from providers.spec import ProviderSpec

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
FORM = "application/x-www-form-urlencoded"

# What Zadarma signs per notification (its SDK's getSignatureString), as tests/ writes it.
_ZADARMA_SIGNED = {
    "NOTIFY_START": ("caller_id", "called_did", "call_start"),
    "NOTIFY_INTERNAL": ("caller_id", "called_did", "call_start"),
    "NOTIFY_END": ("caller_id", "called_did", "call_start"),
    "NOTIFY_IVR": ("caller_id", "called_did", "call_start"),
    "NOTIFY_ANSWER": ("caller_id", "destination", "call_start"),
    "NOTIFY_OUT_START": ("internal", "destination", "call_start"),
    "NOTIFY_OUT_END": ("internal", "destination", "call_start"),
    "NOTIFY_RECORD": ("pbx_call_id", "call_id_with_rec"),
}
ZADARMA_SECRET = "bench-zadarma-secret"
PLANFIX_TOKEN = "303cb962ac59075b964b07152d234b70"  # the fixtures' planfix_token


def _event_name(file: str) -> str:
    return file.split("_", 1)[1].rsplit(".", 1)[0]


def _binotel_endpoint(file: str) -> str:
    event = _event_name(file)
    return {"api_call_settings": "settings", "api_call_completed": "completed"}.get(event, "push")


def _phonet_endpoint(file: str) -> str:
    return {"lookup": "lookup", "call_record": "completed"}.get(_event_name(file), "events")


def _zadarma_signature(body: bytes, channel: Mapping[str, Any]) -> dict[str, str]:
    fields = dict(parse_qsl(body.decode(), keep_blank_values=True))
    signed = _ZADARMA_SIGNED.get(fields.get("event", ""))
    if signed is None:
        return {}
    text = "".join(fields.get(name, "") for name in signed)
    digest = hmac.new(ZADARMA_SECRET.encode(), text.encode(), hashlib.sha1).hexdigest()
    return {"Signature": base64.b64encode(digest.encode()).decode()}


# call_start is signed and checked for freshness: every call of a run started two minutes
# before it, on the Kyiv cabinet's clock (one moment, so copies of a call compare equal).
_CALL_START = (
    (datetime.now(UTC) - timedelta(minutes=2)).astimezone(ZoneInfo("Europe/Kyiv"))
).strftime("%Y-%m-%d %H:%M:%S")


def _zadarma_live(body: bytes) -> bytes:
    started = _CALL_START
    pairs = parse_qsl(body.decode(), keep_blank_values=True)
    return urlencode([(k, started if k == "call_start" else v) for k, v in pairs]).encode()


def _unitalk_token(body: bytes, channel: Mapping[str, Any]) -> dict[str, str]:
    return {"X-Pbxhub-Token": str(channel["settings"]["secrets"]["webhook_token"])}


@dataclass(frozen=True)
class PbxLine:
    """How one provider's PBX posts a call, and the channel and staff it posts to."""

    provider: str
    staff: Mapping[str, Mapping[str, str]]
    channel: Mapping[str, Any]
    endpoint: Callable[[str], str] = lambda _file: "notify"
    sign: Callable[[bytes, Mapping[str, Any]], dict[str, str]] | None = None
    # Makes a fixture body what the PBX would send now (a signed start time that must be fresh).
    live: Callable[[bytes], bytes] | None = None
    # Scenarios left out: they need a PBX to answer pbxhub's own requests.
    skip: frozenset[str] = frozenset()


_UA = {"timezone": "Europe/Kyiv", "default_country": "UA"}
LINES: tuple[PbxLine, ...] = (
    PbxLine(
        "uis",
        {
            "Anna": {"extension": "101", "pbx_user_id": "28511"},
            "Boris": {"extension": "102", "pbx_user_id": "28512"},
        },
        {"timezone": "Europe/Moscow", "default_country": "RU"},
    ),
    PbxLine(
        "binotel",
        {"Olena": {"extension": "901"}, "Taras": {"extension": "902"}},
        {**_UA, "settings": {"allowed_sources": ["127.0.0.1/32"]}},
        endpoint=_binotel_endpoint,
    ),
    PbxLine(
        "callgear",
        {
            "Aisha": {"extension": "101", "pbx_user_id": "38511"},
            "Omar": {"extension": "102", "pbx_user_id": "38512"},
        },
        {"timezone": "Asia/Dubai", "default_country": "AE"},
    ),
    PbxLine(
        "phonet",
        {
            "Olena": {"extension": "101", "pbx_user_id": "36"},
            "Taras": {"extension": "102", "pbx_user_id": "37"},
        },
        _UA,
        endpoint=_phonet_endpoint,
    ),
    PbxLine(
        "unitalk",
        {"Olena": {"extension": "101"}, "Taras": {"extension": "102"}},
        _UA,
        endpoint=lambda _file: "events",
        sign=_unitalk_token,
    ),
    PbxLine(
        "zadarma",
        {"Anna": {"extension": "101"}, "Boris": {"extension": "102"}},
        {**_UA, "settings": {"secrets": {"api_secret": ZADARMA_SECRET}}},
        sign=_zadarma_signature,
        live=_zadarma_live,
    ),
    PbxLine(
        "planfix_api",
        {"Anna": {"extension": "101"}, "Boris": {"extension": "102"}, "Vera": {"extension": "103"}},
        {"settings": {"secrets": {"planfix_token": PLANFIX_TOKEN}}},
        endpoint=lambda _file: "api",
        # its outgoing calls go to `ats` as makeCall's own; the recording is fetched from the PBX
        skip=frozenset({"outgoing_answered", "outgoing_busy", "inbound_record_later"}),
    ),
)


@dataclass(frozen=True)
class Request:
    """One webhook as the PBX posts it (signed when it is sent: the channel holds the key)."""

    endpoint: str
    body: bytes
    content_type: str


@dataclass(frozen=True)
class Template:
    """One fixture scenario: its requests in order and the PBX session ids they carry."""

    line: PbxLine
    name: str
    requests: tuple[Request, ...]
    session_ids: tuple[str, ...]


@dataclass(frozen=True)
class CallCopy:
    """A template with fresh session ids: `renamed` maps each fresh id to the template's."""

    template: Template
    requests: tuple[Request, ...]
    renamed: Mapping[str, str]


def templates(
    specs: Mapping[str, ProviderSpec], providers: Iterable[str] | None = None
) -> list[Template]:
    """Every scenario of every provider (or of `providers`) that leads to one call session."""
    chosen = None if providers is None else set(providers)
    found = []
    for line in LINES:
        if chosen is not None and line.provider not in chosen:
            continue
        for folder in sorted(p for p in (FIXTURES / line.provider).iterdir() if p.is_dir()):
            if folder.name in line.skip:
                continue
            requests = tuple(
                _request(line, path)
                for path in sorted(folder.iterdir())
                if path.suffix in (".json", ".txt")
            )
            ids = _session_ids(specs[line.provider], line, requests)
            if ids:
                found.append(Template(line, folder.name, requests, ids))
    return found


def _request(line: PbxLine, path: Path) -> Request:
    body = path.read_bytes()
    if path.suffix == ".txt":
        body = body.rstrip(b"\r\n")
    return Request(
        line.endpoint(path.name), body, FORM if path.suffix == ".txt" else "application/json"
    )


def _session_ids(spec: ProviderSpec, line: PbxLine, requests: Iterable[Request]) -> tuple[str, ...]:
    ids: dict[str, None] = {}
    for request in requests:
        for event in mapped_events(spec, line, request):
            ids.setdefault(event.session_id)
    return tuple(ids)


def mapped_events(spec: ProviderSpec, line: PbxLine, request: Request) -> list[CallEvent]:
    """The canonical events the provider's spec makes of `request` (none for a request the
    bench's context cannot map: a routing question that needs the store)."""
    settings = dict(line.channel.get("settings", {}))
    settings["secrets"] = {**settings.get("secrets", {}), "webhook_token": "t"}
    context = ChannelContext.from_stored(
        1,
        timezone=line.channel.get("timezone", "Europe/Moscow"),
        country=line.channel.get("default_country", "RU"),
        settings=settings,
    )
    body = line.live(request.body) if line.live else request.body
    headers = {"content-type": request.content_type}
    if line.sign is not None:
        signed = line.sign(body, {"settings": {"secrets": {"webhook_token": "t"}}})
        headers |= {k.lower(): v for k, v in signed.items()}
    received = IncomingRequest("POST", headers, {}, body, "127.0.0.1", datetime.now(UTC))
    try:
        return list(handle_request(spec, request.endpoint, received, context).events)
    except Exception:
        return []


_counter = itertools.count(1)


def fresh_id(template_id: str, number: int) -> str:
    """An id of the template id's shape: its tail replaced by the copy's number (digits fit
    decimal, hex and alphanumeric ids alike)."""
    tail = f"{number:07d}"
    return (
        template_id[: -len(tail)] + tail
        if len(template_id) > len(tail) + 2
        else f"{template_id}{tail}"
    )


def copy_call(template: Template) -> CallCopy:
    """A fresh call from `template` (fresh within this process: one run, one store)."""
    renamed = {fresh_id(old, next(_counter)): old for old in template.session_ids}
    requests = []
    for request in template.requests:
        body = request.body
        for new, old in renamed.items():
            body = body.replace(old.encode(), new.encode())
        requests.append(Request(request.endpoint, body, request.content_type))
    return CallCopy(template, tuple(requests), renamed)


@dataclass
class Sender:
    """Posts webhooks as a PBX does: over HTTP, again on a 5xx or a broken connection (with a
    growing pause, up to `give_up_after` seconds), never on a 4xx."""

    http: httpx.AsyncClient
    channels: Mapping[str, Mapping[str, Any]]  # provider → the channel as the REST API shows it
    give_up_after: float = 120.0
    retries: int = 0
    failures: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    async def post(self, line: PbxLine, request: Request) -> float:
        """Seconds from the first try until pbxhub took the webhook (its latency when once)."""
        channel = self.channels[line.provider]
        body = line.live(request.body) if line.live else request.body
        headers = {"content-type": request.content_type}
        if line.sign is not None:
            headers |= line.sign(body, channel)
        url = f"/hooks/{line.provider}/{channel['secret_key']}/{request.endpoint}"
        started = time.perf_counter()
        pause = 0.1
        while True:
            try:
                sent = time.perf_counter()
                response = await self.http.post(url, content=body, headers=headers)
                if response.status_code < 500:
                    if response.status_code >= 400:
                        self.failures.append(
                            f"{url.split('/', 4)[-1]}: {response.status_code} {response.text[:200]}"
                        )
                    self.latencies.append(time.perf_counter() - sent)
                    return time.perf_counter() - started
            except httpx.TransportError:
                pass
            if time.perf_counter() - started > self.give_up_after:
                self.failures.append(f"{line.provider} {request.endpoint}: gave up after retries")
                return time.perf_counter() - started
            self.retries += 1
            await asyncio.sleep(pause * (0.5 + random.random()))
            pause = min(pause * 2, 2.0)


async def set_up_lines(
    http: httpx.AsyncClient, admin_key: str, lines: Iterable[PbxLine]
) -> dict[str, dict[str, Any]]:
    """A channel and its staff per line, created over REST as an admin does."""
    headers = {"X-API-Key": admin_key}
    channels = {}
    for line in lines:
        response = await http.post(
            "/api/v1/channels",
            json={"provider": line.provider, "name": f"{line.provider} bench", **line.channel},
            headers=headers,
        )
        response.raise_for_status()
        channel = response.json()
        for name, link in line.staff.items():
            created = await http.post(
                "/api/v1/employees",
                json={
                    "name": f"{name} ({line.provider})",
                    "links": [{"channel_id": channel["id"], **link}],
                },
                headers=headers,
            )
            created.raise_for_status()
        channels[line.provider] = channel
    return channels


async def all_records(http: httpx.AsyncClient, admin_key: str) -> list[dict[str, Any]]:
    """Every call and missed-call record pbxhub holds, each with its `list` ("calls"/"missed")."""
    found = []
    for path, kind in (("/api/v1/calls", "calls"), ("/api/v1/missed-calls", "missed")):
        offset = 0
        while True:
            response = await http.get(
                path, params={"limit": 100, "offset": offset}, headers={"X-API-Key": admin_key}
            )
            response.raise_for_status()
            page = response.json()
            found += [{**item, "list": kind} for item in page["items"]]
            offset += len(page["items"])
            if not page["items"] or offset >= page["total"]:
                break
    return found
