"""PBX APIs pbxhub calls, for tests: real HTTP servers on 127.0.0.1 that check each request the way
the PBX does (its signature or keys, its parameters) and answer in the PBX's own format, from
answers the test queued per recording (e.g. "not ready" twice, then a link)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote_plus, urlsplit

from local_server import QuietHandler, answer, local_server

# (status, JSON body) a simulator answers with
Answer = tuple[int, dict[str, Any]]


@dataclass(frozen=True)
class ApiRequest:
    """One request pbxhub sent, as the PBX saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class ApiSimulator:
    """Answers queued per key, in turn (the last one repeating); every request kept."""

    url: str = ""
    answers: dict[str, list[Answer]] = field(default_factory=dict)
    received: list[ApiRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def queue(self, key: str, *answers: Answer) -> None:
        with self._lock:
            self.answers[key] = list(answers)

    def next_answer(self, key: str, missing: Answer) -> Answer:
        with self._lock:
            queued = self.answers.get(key)
            if not queued:
                return missing
            return queued.pop(0) if len(queued) > 1 else queued[0]

    def requests(self) -> list[ApiRequest]:
        with self._lock:
            return list(self.received)

    def handle(self, request: ApiRequest) -> Answer:
        raise NotImplementedError

    def _take(self, request: ApiRequest) -> Answer:
        with self._lock:
            self.received.append(request)
        return self.handle(request)


# -- Zadarma -------------------------------------------------------------------------------------


def php_query(params: dict[str, str]) -> str:
    """PHP's http_build_query (RFC 1738) of the params sorted by name, as Zadarma's SDK signs."""

    def quote(text: str) -> str:
        return quote_plus(text).replace("~", "%7E")

    return "&".join(f"{quote(k)}={quote(v)}" for k, v in sorted(params.items()))


def zadarma_signature(method_path: str, params: dict[str, str], secret: str) -> str:
    """base64(hex(HMAC-SHA1(secret, method . query . md5(query)))) (protocols-3.2)."""
    query = php_query(params)
    signed = method_path + query + hashlib.md5(query.encode()).hexdigest()
    hexed = hmac.new(secret.encode(), signed.encode(), hashlib.sha1).hexdigest()
    return base64.b64encode(hexed.encode()).decode()


@dataclass
class ZadarmaApi(ApiSimulator):
    """Zadarma's API: GET /v1/pbx/record/request/ signed with the account's key pair; answers
    queued by call_id (call_id_with_rec) or pbx_call_id."""

    key: str = "zadarma-test-key"
    secret: str = "zadarma-test-secret"

    def handle(self, request: ApiRequest) -> Answer:
        given = request.headers.get("authorization", "")
        expected = f"{self.key}:{zadarma_signature(request.path, request.query, self.secret)}"
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return 401, {"status": "error", "message": "Not authorized"}
        if request.method == "GET" and request.path == "/v1/request/callback/":
            return self._callback(request)
        if request.method != "GET" or request.path != "/v1/pbx/record/request/":
            return 404, {"status": "error", "message": "Method not found"}
        if request.query.get("format") != "json":
            return 400, {"status": "error", "message": "Wrong parameter format"}
        lifetime = int(request.query.get("lifetime", "1800"))
        if not 180 <= lifetime <= 5184000:
            return 400, {"status": "error", "message": "Wrong parameter lifetime"}
        key = request.query.get("call_id") or request.query.get("pbx_call_id") or ""
        return self.next_answer(key, (200, {"status": "error", "message": "Record not found"}))

    def _callback(self, request: ApiRequest) -> Answer:
        """GET /v1/request/callback/ (protocols-3.2): `from` and `to` required; answers queued
        by "callback:<from>", by default the success Zadarma documents."""
        given = request.query
        if given.get("format") != "json":
            return 400, {"status": "error", "message": "Wrong parameter format"}
        if not given.get("from"):
            return 400, {"status": "error", "message": "Wrong parameter from"}
        if not given.get("to", "").isdigit():
            return 400, {"status": "error", "message": "Wrong parameter to"}
        done = {"status": "success", "from": given["from"], "to": given["to"], "time": 1710231300}
        return self.next_answer(f"callback:{given['from']}", (200, done))


# -- Binotel -------------------------------------------------------------------------------------


@dataclass
class BinotelApi(ApiSimulator):
    """Binotel's REST API: POST /api/4.0/stats/call-record.json, a JSON body carrying the account's
    key and secret beside generalCallID (protocols-2.2); answers queued by generalCallID. Errors
    are Binotel's {"status": "error", "code", "message"}; the codes and messages themselves are
    stand-ins, Binotel's own being in no source we read."""

    key: str = "binotel-test-key"
    secret: str = "binotel-test-secret"

    @staticmethod
    def error(code: int, message: str) -> Answer:
        return 200, {"status": "error", "code": code, "message": message}

    def handle(self, request: ApiRequest) -> Answer:
        known = ("/api/4.0/stats/call-record.json", _BINOTEL_CALL)
        if request.method != "POST" or request.path not in known:
            return 404, {"status": "error", "code": 404, "message": "Method not found"}
        try:
            body = json.loads(request.body)
        except ValueError:
            return self.error(1, "Request is not JSON")
        if not isinstance(body, dict):
            return self.error(1, "Request is not JSON")
        if not (_same(body.get("key"), self.key) and _same(body.get("secret"), self.secret)):
            return self.error(100, "Wrong key or secret")
        if request.path == _BINOTEL_CALL:
            return self._call(body)
        call_id = str(body.get("generalCallID") or "").strip()
        if not call_id.isdigit():
            return self.error(101, "Wrong parameter generalCallID")
        return self.next_answer(call_id, self.error(201, "Call record not found"))

    def _call(self, body: dict[str, Any]) -> Answer:
        """calls/internal-number-to-external-number (protocols-2.2): internalNumber and a
        10-character externalNumber required; answers queued by "call:<internalNumber>", by
        default a success naming the new call's generalCallID."""
        internal = str(body.get("internalNumber") or "")
        external = str(body.get("externalNumber") or "")
        if not internal.isdigit():
            return self.error(110, "Wrong parameter internalNumber")
        if not (external.isdigit() and len(external) == 10):
            return self.error(111, "Wrong parameter externalNumber")
        done: Answer = (200, {"status": "success", "generalCallID": "4510000777"})
        return self.next_answer(f"call:{internal}", done)


_BINOTEL_CALL = "/api/4.0/calls/internal-number-to-external-number.json"


def _same(given: Any, expected: str) -> bool:
    return isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode())


# -- UIS / CallGear Data API ---------------------------------------------------------------------

# Every time the Data API reads or writes (protocols-1.4, data-api)
_DATA_API_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


@dataclass
class UisDataApi(ApiSimulator):
    """The UIS / CallGear Data API: JSON-RPC 2.0 by POST to /v2.0, get.calls_report with the
    access_token among the params and the required date_from/date_till (protocols-1.4). Only a
    filter on the session id is understood; answers (a `result` or an `error`) are queued by that
    id, and nothing queued is an empty report. Error codes follow JSON-RPC and the one real
    Data API error seen (-32001 for the access token, in a public UIS client's tests); the
    others' messages and mnemonics are stand-ins."""

    access_token: str = "uis-test-token"

    @staticmethod
    def session(session_id: str, *record_ids: str) -> Answer:
        """The report's answer for one call session with these records."""
        row = {"id": int(session_id), "call_records": list(record_ids)}
        return 200, {"result": {"data": [row], "metadata": {"total_items": 1}}}

    def handle(self, request: ApiRequest) -> Answer:
        if request.method != "POST" or request.path != "/v2.0":
            return 404, {"jsonrpc": "2.0", "id": None, "error": _rpc(-32600, "Invalid Request")}
        try:
            call = json.loads(request.body)
        except ValueError:
            return 200, {"jsonrpc": "2.0", "id": None, "error": _rpc(-32700, "Parse error")}
        if not isinstance(call, dict) or call.get("jsonrpc") != "2.0" or "method" not in call:
            return 200, {"jsonrpc": "2.0", "id": None, "error": _rpc(-32600, "Invalid Request")}
        status, body = self._report(call)
        return status, {"jsonrpc": "2.0", "id": call.get("id"), **body}

    def _report(self, call: dict[str, Any]) -> Answer:
        if call["method"] != "get.calls_report":
            return 200, {"error": _rpc(-32601, "Method not found", "method_not_found")}
        params = call.get("params")
        if not isinstance(params, dict):
            return 200, {"error": _rpc(-32602, "Invalid params", "invalid_parameter_value")}
        if not _same(params.get("access_token"), self.access_token):
            return 200, {"error": _rpc(-32001, "Access token is invalid", "access_token_invalid")}
        moments = []
        for name in ("date_from", "date_till"):
            value = params.get(name)
            if value is None:
                text = f"Required parameter {name} is missed"
                return 200, {"error": _rpc(-32602, text, "required_parameter_missed", name)}
            if not isinstance(value, str) or not _DATA_API_TIME.fullmatch(value):
                text = f"Invalid value of the parameter {name}"
                return 200, {"error": _rpc(-32602, text, "invalid_parameter_value", name)}
            moments.append(datetime.strptime(value, "%Y-%m-%d %H:%M:%S"))
        if moments[0] > moments[1]:
            text = "date_from is later than date_till"
            return 200, {"error": _rpc(-32602, text, "invalid_parameter_value", "date_from")}
        wanted = params.get("filter")
        if not (
            isinstance(wanted, dict)
            and wanted.get("field") == "id"
            and wanted.get("operator") == "="
            and isinstance(wanted.get("value"), int)
        ):
            text = "Invalid value of the parameter filter"
            return 200, {"error": _rpc(-32602, text, "invalid_parameter_value", "filter")}
        fields = params.get("fields")
        if fields is not None and not (
            isinstance(fields, list) and all(isinstance(f, str) for f in fields)
        ):
            text = "Invalid value of the parameter fields"
            return 200, {"error": _rpc(-32602, text, "invalid_parameter_value", "fields")}
        empty: Answer = (200, {"result": {"data": [], "metadata": {"total_items": 0}}})
        return self.next_answer(str(wanted["value"]), empty)


@dataclass
class UisCallApi(ApiSimulator):
    """The UIS / CallGear Call API: JSON-RPC 2.0 by POST to /v4.0, start.employee_call with the
    access_token, first_call, virtual_phone_number, contact and employee {id} (protocols-1.3).
    Answers (a `result` or an `error`) are queued by "employee:<id>"; by default the call
    starts. -32001 for the token as the platform's Data API; other codes and mnemonics are
    stand-ins."""

    access_token: str = "uis-call-token"

    def handle(self, request: ApiRequest) -> Answer:
        if request.method != "POST" or request.path != "/v4.0":
            return 404, {"jsonrpc": "2.0", "id": None, "error": _rpc(-32600, "Invalid Request")}
        try:
            call = json.loads(request.body)
        except ValueError:
            return 200, {"jsonrpc": "2.0", "id": None, "error": _rpc(-32700, "Parse error")}
        if not isinstance(call, dict) or call.get("jsonrpc") != "2.0" or "method" not in call:
            return 200, {"jsonrpc": "2.0", "id": None, "error": _rpc(-32600, "Invalid Request")}
        status, body = self._start(call)
        return status, {"jsonrpc": "2.0", "id": call.get("id"), **body}

    def _start(self, call: dict[str, Any]) -> Answer:
        if call["method"] != "start.employee_call":
            return 200, {"error": _rpc(-32601, "Method not found", "method_not_found")}
        params = call.get("params")
        if not isinstance(params, dict):
            return 200, {"error": _rpc(-32602, "Invalid params", "invalid_parameter_value")}
        if not _same(params.get("access_token"), self.access_token):
            return 200, {"error": _rpc(-32001, "Access token is invalid", "access_token_invalid")}
        if params.get("first_call") not in ("employee", "contact"):
            text = "Invalid value of the parameter first_call"
            return 200, {"error": _rpc(-32602, text, "invalid_parameter_value", "first_call")}
        for name in ("virtual_phone_number", "contact"):
            value = params.get(name)
            if not (isinstance(value, str) and value.isdigit()):
                text = f"Invalid value of the parameter {name}"
                return 200, {"error": _rpc(-32602, text, "invalid_parameter_value", name)}
        employee = params.get("employee")
        if not (isinstance(employee, dict) and isinstance(employee.get("id"), int)):
            text = "Invalid value of the parameter employee"
            return 200, {"error": _rpc(-32602, text, "invalid_parameter_value", "employee")}
        started: Answer = (200, {"result": {"data": {"call_session_id": 3401000777}}})
        return self.next_answer(f"employee:{employee['id']}", started)


def _rpc(
    code: int, message: str, mnemonic: str | None = None, field: str | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if mnemonic is not None:
        error["data"] = {"mnemonic": mnemonic, **({"field": field} if field else {})}
    return error


# -- the server ----------------------------------------------------------------------------------

Simulator = TypeVar("Simulator", bound=ApiSimulator)


@contextmanager
def serving(simulator: Simulator) -> Iterator[Simulator]:
    """`simulator` listening on a free port of 127.0.0.1 until the block ends (its `url`)."""

    def respond(handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("content-length") or 0)
        parts = urlsplit(handler.path)
        request = ApiRequest(
            method=method,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=handler.rfile.read(length) if length else b"",
        )
        status, body = simulator._take(request)
        answer(handler, status, json.dumps(body).encode())

    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            respond(self, "GET")

        def do_POST(self) -> None:  # noqa: N802
            respond(self, "POST")

    with local_server(Handler) as port:
        simulator.url = f"http://127.0.0.1:{port}"
        yield simulator
