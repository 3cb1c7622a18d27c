"""The provider spec model: what a loaded spec is (endpoints, events, emissions, replies, examples,
actions) once providers.spec_loader has read it and providers.spec_compiler has compiled every
template and schema; and SpecError, how a spec that cannot be used says why."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from jsonschema import Draft202012Validator

from providers.actions import ActionSpec
from providers.auth import AuthMechanism
from providers.bodies import BodyFormat
from providers.spec_vars import Vars
from providers.templating import Expression, ExpressionGroup, TextTemplate

__all__ = [
    "ActionExampleSpec",
    "EmissionSpec",
    "EndpointSpec",
    "EventSpec",
    "ExampleSpec",
    "ProviderSpec",
    "RejectionSpec",
    "ReplySpec",
    "SpecError",
    "SpecProblem",
    "display_path",
    "format_path",
]


class SpecProblem(NamedTuple):
    """One thing wrong with a spec: the file, the path inside it, and what is wrong."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path or '(top level)'}: {self.message}"


class SpecError(Exception):
    """A spec cannot be used. `problems` lists everything found; the first is also exposed as
    `file`, `path` and `problem`."""

    def __init__(self, problems: Sequence[SpecProblem]) -> None:
        if not problems:
            raise ValueError("SpecError needs at least one problem")
        self.problems = tuple(problems)
        first = self.problems[0]
        self.file, self.path, self.problem = first.file, first.path, first.message
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class ReplySpec:
    status: int = 200
    content_type: str = "application/json"
    body: TextTemplate | None = None


@dataclass(frozen=True)
class RejectionSpec:
    """How an endpoint answers a request it refuses, when its PBX expects its own wording:
    the status and body replace the engine's default (the status it chose, a JSON error naming
    the field). The body template reads status, message and field."""

    status: int
    content_type: str = "application/json"
    body: TextTemplate | None = None


@dataclass(frozen=True)
class EmissionSpec:
    """One canonical event a recognised request yields."""

    kind: str
    path: str
    when: Expression | None
    fields: tuple[tuple[str, Expression], ...]
    idempotency_key: TextTemplate
    # all of `fields` compiled into one template, evaluated in one pass per request
    values: ExpressionGroup
    # `for_each`: a list expression; one event per item, its templates reading `item` and `index`
    for_each: Expression | None = None


@dataclass(frozen=True)
class EventSpec:
    """One kind of request an endpoint receives (a PBX notification type)."""

    name: str
    path: str
    description: str
    recognize_field: tuple[str, ...] | None
    recognize_values: frozenset[str]
    match: Expression | None
    schema_name: str | None
    validator: Draft202012Validator
    session_id: TextTemplate | None
    emissions: tuple[EmissionSpec, ...]
    reply: ReplySpec
    auth: tuple[AuthMechanism, ...]
    consumed: frozenset[tuple[str, ...]]
    extra_exclude: frozenset[tuple[str, ...]]
    extra_flatten: bool
    # what the reply needs from the CRM: (kind, ((argument, expression), ...)), see
    # providers.lookups; and the reply when it cannot be had in time
    lookups: tuple[tuple[str, tuple[tuple[str, Expression], ...]], ...] = ()
    fallback_reply: ReplySpec | None = None
    # read by the mapping, yet copied to extra as sent (`extra.keep`)
    extra_keep: frozenset[tuple[str, ...]] = frozenset()
    # parameters named <prefix><name> go to extra as <name> (`extra.strip_prefixes`)
    extra_strip_prefixes: tuple[str, ...] = ()
    # the endpoint's and the event's `vars`, in order (providers.spec_vars)
    vars: Vars = ()

    @property
    def extra_skip(self) -> frozenset[tuple[str, ...]]:
        """Body paths that never go to extra: read by the mapping, or excluded."""
        return self._skip[0]

    @property
    def extra_skip_heads(self) -> frozenset[str]:
        """The top-level parameters of `extra_skip`, for the common flat body."""
        return self._skip[1]

    @cached_property
    def _skip(self) -> tuple[frozenset[tuple[str, ...]], frozenset[str]]:
        skip = (self.consumed - self.extra_keep) | self.extra_exclude
        return skip, frozenset(path[0] for path in skip)


@dataclass(frozen=True)
class EndpointSpec:
    name: str
    path: str
    description: str
    methods: frozenset[str]
    body: BodyFormat
    auth: tuple[AuthMechanism, ...]
    events: tuple[EventSpec, ...]
    # (field path, {value: event}) in declaration order: explicit recognition, tried first
    explicit: tuple[tuple[tuple[str, ...], Mapping[str, EventSpec]], ...]
    # every event's `recognize.match`, evaluated in one pass (see engine._recognise)
    matches: ExpressionGroup
    # declared answers to refused requests, by cause: "unauthorized", "invalid"
    rejections: Mapping[str, RejectionSpec] = field(default_factory=dict)
    # where it answers under /hooks/{provider}/{channel_key}/ (`path`, default its name)
    url_path: str = ""


@dataclass(frozen=True)
class ExampleSpec:
    """A request fixture and what it must map to; run by providers.examples."""

    name: str
    path: str
    endpoint: str
    channel: Mapping[str, Any]
    lookups: Mapping[str, Any]
    request: Mapping[str, Any]
    expect: Mapping[str, Any]
    # run as if the lookups could not be answered: the reply is the fallback_reply
    fallback: bool = False


@dataclass(frozen=True)
class ActionExampleSpec:
    """An outbound action rendered for a channel and arguments, and answers read back; run by
    providers.examples."""

    name: str
    path: str
    action: str
    channel: Mapping[str, Any]
    args: Mapping[str, Any]
    expect: Mapping[str, Any]
    answers: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class ProviderSpec:
    id: str
    title: str
    path: Path
    description: str
    extends: str | None
    sources: Mapping[str, Any]
    endpoints: Mapping[str, EndpointSpec]
    examples: tuple[ExampleSpec, ...]
    document: Mapping[str, Any] = field(repr=False, default_factory=dict)
    # outbound requests to the PBX by role (providers.actions.ACTION_ROLES)
    actions: Mapping[str, ActionSpec] = field(default_factory=dict)
    # the secrets a channel of this provider keeps (settings.secrets), and whether pbxhub
    # generates one when the channel is created without it
    channel_secrets: Mapping[str, bool] = field(default_factory=dict)
    action_examples: tuple[ActionExampleSpec, ...] = ()
    # the hosts recording links may be downloaded from (`recordings.hosts`; channels add more)
    recording_hosts: tuple[str, ...] = ()
    # where kept files come from: "link" (the webhooks' link) or "api" (always recording_link)
    recording_files_from: str = "link"

    def endpoint_at(self, url_path: str) -> EndpointSpec | None:
        """The endpoint answering at `url_path` (below the channel's base URL), if one does."""
        return self._by_url_path.get(url_path)

    @cached_property
    def _by_url_path(self) -> Mapping[str, EndpointSpec]:
        return MappingProxyType({ep.url_path: ep for ep in self.endpoints.values()})


def format_path(parts: Iterable[str | int]) -> str:
    """("endpoints", "notify", "events", 3, "map") → "endpoints.notify.events[3].map"."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def display_path(file: Path) -> str:
    """The file relative to the working directory when it is below it (for messages)."""
    try:
        return str(file.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(file)
