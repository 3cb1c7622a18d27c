"""A PBX that speaks the CRM telephony API (Planfix-compatible), for tests: a real HTTP server on
127.0.0.1 taking pbxhub's makeCall and setup as the PBX would (answering as configured, keeping
what it received), and a client that plays whole call scenarios into pbxhub as the PBX does."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
from local_server import QuietHandler, answer, local_server

FIXTURES = Path(__file__).parent / "fixtures" / "planfix_api"
_CONTENT_TYPES = {".txt": "application/x-www-form-urlencoded", ".json": "application/json"}


@dataclass
class Received:
    """One request pbxhub sent the PBX."""

    path: str
    content_type: str
    form: dict[str, str]


@dataclass
class PbxSimulator:
    """The PBX's own endpoint ("Адрес АТС"): every command gets `status` and `body`, per `cmd`
    when `answers` names it."""

    url: str = ""
    status: int = 200
    body: str = ""
    answers: dict[str, tuple[int, str]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, cmd: str, status: int, body: str = "") -> None:
        self.answers[cmd] = (status, body)

    def commands(self, cmd: str) -> list[dict[str, str]]:
        with self._lock:
            return [r.form for r in self.received if r.form.get("cmd") == cmd]

    def _handle(self, path: str, content_type: str, raw: bytes) -> tuple[int, str]:
        form = dict(parse_qsl(raw.decode(), keep_blank_values=True))
        with self._lock:
            self.received.append(Received(path, content_type, form))
        return self.answers.get(form.get("cmd", ""), (self.status, self.body))


@contextmanager
def pbx_simulator() -> Iterator[PbxSimulator]:
    """A simulator listening on a free port of 127.0.0.1 until the block ends."""
    simulator = PbxSimulator()

    class Handler(QuietHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("content-length") or 0)
            status, body = simulator._handle(
                self.path, self.headers.get("content-type", ""), self.rfile.read(length)
            )
            answer(self, status, body.encode())

    with local_server(Handler) as port:
        simulator.url = f"http://127.0.0.1:{port}/planfix_api.php"
        yield simulator


def scenario(name: str) -> list[tuple[str, bytes, str]]:
    """A whole call as the PBX sends it: (file name, raw body, content type), in order."""
    folder = FIXTURES / name
    files = sorted(p for p in folder.iterdir() if p.suffix in _CONTENT_TYPES)
    return [(p.name, p.read_bytes().rstrip(b"\r\n"), _CONTENT_TYPES[p.suffix]) for p in files]


async def send(
    http: httpx.AsyncClient, url: str, body: bytes | dict[str, str], content_type: str = ""
) -> httpx.Response:
    """One command to pbxhub: a dict is form-encoded, bytes go as they are."""
    if isinstance(body, dict):
        return await http.post(url, data=body)
    return await http.post(url, content=body, headers={"content-type": content_type})


def as_json(response: httpx.Response) -> Any:
    return json.loads(response.text) if response.text else None
