"""The generic call API's requests (`telephony_api` channels, seed 002): read a create_call or
update_call as a PBX sends it (form, multipart or JSON), check it field by field, and say it as
call events.

No provider spec describes this API: its answer carries ids that only the call's workflow knows
(see docs/providers/telephony_api.md), so it has its own route and this module.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from starlette.datastructures import UploadFile

from api.bounds import MAX_ID
from contracts.api_requests import ACTIONS, CALL_STATUSES, FINAL_STATUSES
from contracts.events import CallEvent, Direction, EventKind
from providers.canonical import MAX_SESSION_ID_BYTES, session_id_problem, text_problem
from recordings.uploads import AudioUpload

PROVIDER: Final = "telephony_api"
PATH: Final = "/api/v2/telephony/calls/{channel_key}"
DIRECTIONS: Final = {"incoming": Direction.IN, "outgoing": Direction.OUT}
# Calls created without a pbx_call_id get a session id of ours, which never goes back as one.
_OWN_SESSION_PREFIX: Final = "pbxhub-"
_ARRAYS: Final = ("user_ids", "group_ids", "pbx_user_ids")
_SINGLES: Final = ("user_id", "pbx_user_id")
_KNOWN: Final = frozenset(
    {"action", "direction", "phone", "call_status", "pbx_call_id", "call_id", "comment"}
    | {"audio_record", *_ARRAYS, *_SINGLES}
)
# `user_ids[]`, `user_ids[0]` (PHP's http_build_query) and `user_ids` all name one parameter.
_KEY: Final = re.compile(r"^(?P<name>[^\[\]]+)(?:\[\d*\])?$")
_MAX_TEXT: Final = 10_000


def telephony_url(base_url: str, channel_key: str) -> str:
    """The one URL a PBX of a `telephony_api` channel sends everything to."""
    return base_url + PATH.format(channel_key=channel_key)


class ApiRequestError(Exception):
    """A request the API refuses; `problems` name each field and what is wrong with it."""

    def __init__(self, status: int, problems: Sequence[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{name}: {error}" for name, error in problems))
        self.status = status
        self.problems = list(problems)

    @classmethod
    def one(cls, status: int, name: str, error: str) -> ApiRequestError:
        return cls(status, [(name, error)])

    def content(self) -> dict[str, Any]:
        # The shape of every other 422 of pbxhub's API.
        return {"detail": [{"field": name, "error": error} for name, error in self.problems]}


@dataclass(frozen=True)
class TelephonyRequest:
    """A create_call/update_call with its parameters checked and typed (ids not yet resolved)."""

    action: str
    call_status: str
    direction: str | None = None
    phone: str | None = None
    pbx_call_id: str | None = None
    call_id: int | None = None
    user_id: int | None = None
    pbx_user_id: str | None = None
    user_ids: list[int] = field(default_factory=list)
    group_ids: list[int] = field(default_factory=list)
    pbx_user_ids: list[str] = field(default_factory=list)
    comment: str | None = None
    audio: AudioUpload | None = None
    extra: dict[str, str] = field(default_factory=dict)


def collect_params(pairs: Sequence[tuple[str, Any]]) -> dict[str, list[Any]]:
    """Form fields (repeated keys, `name[]`, `name[0]`) as one list of values per name."""
    params: dict[str, list[Any]] = {}
    for key, value in pairs:
        match = _KEY.match(key)
        name = match["name"] if match else key
        params.setdefault(name, []).append(value)
    return params


def json_params(body: Any) -> dict[str, list[Any]]:
    """A JSON object's members as lists of values (an array is its elements)."""
    if not isinstance(body, dict):
        raise ApiRequestError.one(422, "body", "must be a JSON object of the API's parameters")
    pairs: list[tuple[str, Any]] = []
    for key, value in body.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((key, item))
    return collect_params(pairs)


def parse_request(params: Mapping[str, list[Any]]) -> TelephonyRequest:
    """Check every parameter of the seed's tables; ApiRequestError names each bad one."""
    reader = _Reader(params)
    action = reader.choice("action", ACTIONS, required=True)
    if action is None:
        # What else is required depends on the action.
        raise ApiRequestError(422, reader.problems)
    creating = action == "create_call"
    status = reader.choice("call_status", CALL_STATUSES, required=not creating) or "ringing"
    direction = reader.choice("direction", tuple(DIRECTIONS), required=creating)
    request = TelephonyRequest(
        action=action,
        call_status=status,
        direction=DIRECTIONS[direction] if direction else None,
        phone=reader.text("phone", required=creating, limit=64),
        pbx_call_id=reader.session_id("pbx_call_id"),
        call_id=reader.integer("call_id"),
        user_id=reader.integer("user_id"),
        pbx_user_id=reader.text("pbx_user_id", limit=128),
        user_ids=reader.integers("user_ids"),
        group_ids=reader.integers("group_ids"),
        pbx_user_ids=reader.texts("pbx_user_ids", limit=128),
        comment=reader.text("comment", limit=_MAX_TEXT),
        audio=reader.file("audio_record"),
        extra=reader.extra(),
    )
    reader.problems += _exclusivity_problems(request, creating, reader.given("call_id"))
    if reader.problems:
        raise ApiRequestError(422, reader.problems)
    return request


def _exclusivity_problems(
    request: TelephonyRequest, creating: bool, call_id_given: bool
) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    given_arrays = [f"{name}[]" for name in _ARRAYS if getattr(request, name)]
    given_singles = [name for name in _SINGLES if getattr(request, name) is not None]
    if len(given_arrays) > 1:
        problems.append(
            (", ".join(given_arrays), "only one of user_ids[], group_ids[], pbx_user_ids[]")
        )
    if len(given_singles) > 1:
        problems.append((", ".join(given_singles), "only one of user_id, pbx_user_id"))
    if given_arrays and given_singles:
        problems.append(
            (", ".join(given_arrays + given_singles), "name the employees one way only")
        )
    if creating and request.call_id is not None:
        problems.append(("call_id", "create_call makes the call; use update_call to change it"))
    if not creating:
        if request.call_id is not None and request.pbx_call_id is not None:
            problems.append(("call_id, pbx_call_id", "only one of call_id, pbx_call_id"))
        elif not call_id_given and request.pbx_call_id is None:
            problems.append(("call_id", "required (or pbx_call_id)"))
    return problems


class _Reader:
    """Takes typed values out of the raw parameters, noting what is wrong instead of stopping."""

    def __init__(self, params: Mapping[str, list[Any]]) -> None:
        self._params = params
        self.problems: list[tuple[str, str]] = []

    def _values(self, name: str) -> list[Any]:
        # Empty form fields and JSON nulls say nothing (PHP clients send every field).
        return [v for v in self._params.get(name, []) if v is not None and v != ""]

    def given(self, name: str) -> bool:
        return bool(self._values(name))

    def _scalar(self, name: str, *, required: bool = False) -> Any:
        values = self._values(name)
        if not values:
            if required:
                self.problems.append((name, "required"))
            return None
        value = values[-1]
        if isinstance(value, dict | list | UploadFile):
            self.problems.append((name, "must be a single value"))
            return None
        return value

    def choice(self, name: str, allowed: Sequence[str], *, required: bool = False) -> str | None:
        value = self._scalar(name, required=required)
        if value is None:
            return None
        text = str(value).strip().lower()
        if text not in allowed:
            self.problems.append((name, f"{value!r} is not one of {', '.join(allowed)}"))
            return None
        return text

    def text(self, name: str, *, required: bool = False, limit: int) -> str | None:
        value = self._scalar(name, required=required)
        if value is None:
            return None
        return self._as_text(name, value, limit)

    def texts(self, name: str, *, limit: int) -> list[str]:
        found = [self._as_text(f"{name}[]", value, limit) for value in self._values(name)]
        return list(dict.fromkeys(text for text in found if text is not None))

    def _as_text(self, name: str, value: Any, limit: int) -> str | None:
        if isinstance(value, bool) or not isinstance(value, str | int):
            self.problems.append((name, "must be a string or a number"))
            return None
        text = str(value).strip()
        if len(text) > limit:
            self.problems.append((name, f"longer than {limit} characters"))
            return None
        problem = text_problem(text)
        if problem is not None:
            self.problems.append((name, problem))
            return None
        return text or None

    def session_id(self, name: str) -> str | None:
        text = self.text(name, limit=MAX_SESSION_ID_BYTES)
        problem = None if text is None else session_id_problem(text)
        if problem is not None:
            self.problems.append((name, problem))
            return None
        return text

    def integer(self, name: str) -> int | None:
        value = self._scalar(name)
        return None if value is None else self._as_integer(name, value)

    def integers(self, name: str) -> list[int]:
        found = [self._as_integer(f"{name}[]", value) for value in self._values(name)]
        return list(dict.fromkeys(number for number in found if number is not None))

    def _as_integer(self, name: str, value: Any) -> int | None:
        number = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str):
            digits = value.strip()
            # ASCII digits only ("²" is a digit to isdigit), and never thousands of them to int()
            if digits.isascii() and digits.isdigit() and len(digits) <= len(str(MAX_ID)):
                number = int(digits)
        if number is not None and 0 < number <= MAX_ID:
            return number
        shown = repr(value) if len(str(value)) <= 40 else f"{str(value)[:40]!r}…"
        self.problems.append((name, f"{shown} is not an id (an integer from 1 to {MAX_ID})"))
        return None

    def file(self, name: str) -> AudioUpload | None:
        files: list[UploadFile] = []
        for value in self._values(name):
            if not isinstance(value, UploadFile):
                self.problems.append((name, "must be a file uploaded as multipart/form-data"))
                return None
            # A form's empty file input arrives as a part with no file name and no bytes.
            if value.filename or value.size:
                files.append(value)
        if len(files) > 1:
            self.problems.append((name, "give one file"))
            return None
        return AudioUpload(file=files[0].file, filename=files[0].filename) if files else None

    def extra(self) -> dict[str, str]:
        """Every further parameter the PBX sent, as strings (they fill custom fields)."""
        extra: dict[str, str] = {}
        for name, values in self._params.items():
            if name in _KNOWN:
                continue
            texts = [str(v) for v in values if isinstance(v, str | int | float)]
            problem = text_problem(name + "".join(texts))
            if problem is not None:
                self.problems.append((name, problem))
            elif texts:
                extra[name] = texts[-1]
        return extra


# -- sessions and call events -------------------------------------------------------------


def new_session_id() -> str:
    return f"{_OWN_SESSION_PREFIX}{uuid.uuid4().hex}"


def pbx_call_id_of(session_id: str) -> str | None:
    """The PBX's own call id behind a session, or None for a session pbxhub made up."""
    return None if session_id.startswith(_OWN_SESSION_PREFIX) else session_id


def request_key(request: TelephonyRequest, session_id: str, audio_sha256: str | None) -> str:
    """Names a request by what it says: the same request delivered twice has the same key."""
    said = {
        name: value
        for name, value in vars(request).items()
        if name != "audio" and value not in (None, [], {})
    }
    said["session_id"] = session_id
    said["audio_sha256"] = audio_sha256
    text = json.dumps(said, sort_keys=True, default=str)
    return "api-" + hashlib.sha256(text.encode()).hexdigest()[:40]


def call_events(
    request: TelephonyRequest,
    *,
    key: str,
    channel_id: int,
    session_id: str,
    contact_phone: str | None,
    now: datetime,
    recording_url: str | None,
) -> list[CallEvent]:
    """The request as canonical call events, so the workflow folds it like any PBX's webhooks:
    create_call starts the call, a status moves it on, a final one ends it, audio is its
    recording."""

    def event(kind: str, suffix: str, **fields: Any) -> CallEvent:
        return CallEvent(
            kind=kind,
            provider=PROVIDER,
            session_id=session_id,
            idempotency_key=f"{key}:{suffix}",
            channel_id=channel_id,
            occurred_at=now,
            direction=request.direction,
            contact_phone=contact_phone,
            contact_phone_raw=request.phone,
            extra=request.extra,
            **fields,
        )

    events: list[CallEvent] = []
    if request.action == "create_call":
        events.append(event(EventKind.CALL_STARTED, "start", started_at=now))
    status = request.call_status
    if status == "in-progress":
        events.append(event(EventKind.STATUS_UPDATE, status, answered_at=now))
    elif status == "answered":
        events.append(event(EventKind.CALL_FINISHED, status, ended_at=now, answered=True))
    elif status in FINAL_STATUSES:
        # canceled, missed, failed, busy: lost, inbound or outbound alike (a missed call).
        events.append(event(EventKind.CALL_LOST, status, ended_at=now, answered=False))
    elif request.action == "update_call":
        events.append(event(EventKind.STATUS_UPDATE, status))
    if recording_url is not None:
        events.append(event(EventKind.RECORDING_READY, "audio", recording_url=recording_url))
    return events
