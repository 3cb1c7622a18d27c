"""Loading provider specs: safe YAML, meta-schema validation, every template compiled and every
payload schema checked, once, at load. A broken spec is a SpecError naming file, path, problem."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple
from urllib.parse import urljoin

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError, best_match
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from providers.actions import RECORDING_LINK, ActionSpec, compile_action
from providers.auth import AuthMechanism, SourceIpAllowlist
from providers.bodies import BodyFormat
from providers.endpoint_paths import endpoint_url_path, path_problems
from providers.lookups import LOOKUP_KINDS
from providers.signatures import SIGNATURE_KINDS, Signature, compile_signature
from providers.spec_vars import Vars, check_event_vars, compile_vars
from providers.templating import (
    FALLBACK_NAMES,
    KEY_NAMES,
    LOOKUP_NAMES,
    MAP_NAMES,
    MATCH_NAMES,
    REJECTION_NAMES,
    REPLY_NAMES,
    Expression,
    ExpressionGroup,
    TemplateProblem,
    TextTemplate,
    compile_expression,
    compile_template,
)
from schemas import PROVIDER_SPEC_SCHEMA, SCHEMAS_DIR, load_schema, schema_uri

__all__ = [
    "DEFAULT_SPECS_DIR",
    "EmissionSpec",
    "EndpointSpec",
    "EventSpec",
    "ActionExampleSpec",
    "ExampleSpec",
    "RejectionSpec",
    "ProviderSpec",
    "ReplySpec",
    "SpecError",
    "SpecProblem",
    "display_path",
    "format_path",
    "load_spec",
    "load_specs",
]

DEFAULT_SPECS_DIR = Path(__file__).resolve().parent

# What an emission with `for_each` adds to its templates: the list's item and its 0-based index.
EACH_NAMES = frozenset({"item", "index"})


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


# ---------------------------------------------------------------------------------------------
# Public entry points


def load_spec(path: str | Path) -> ProviderSpec:
    """Load, validate and compile one spec file; raises SpecError."""
    file = Path(path)
    document = _load_merged(file, ())
    return _compile(file, document)


def load_specs(directory: str | Path = DEFAULT_SPECS_DIR) -> dict[str, ProviderSpec]:
    """Every `*.yaml` spec of `directory` by id; all problems of all files in one SpecError."""
    specs: dict[str, ProviderSpec] = {}
    problems: list[SpecProblem] = []
    for file in sorted(Path(directory).glob("*.yaml")):
        try:
            spec = load_spec(file)
        except SpecError as exc:
            problems.extend(exc.problems)
            continue
        if spec.id in specs:
            problems.append(
                SpecProblem(display_path(file), "id", f"duplicate provider id {spec.id!r}")
            )
            continue
        specs[spec.id] = spec
    if problems:
        raise SpecError(problems)
    return specs


def format_path(parts: Iterable[str | int]) -> str:
    """("endpoints", "notify", "events", 3, "map") → "endpoints.notify.events[3].map"."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


# ---------------------------------------------------------------------------------------------
# YAML, extends


def display_path(file: Path) -> str:
    """The file relative to the working directory when it is below it (for messages)."""
    try:
        return str(file.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(file)


def _read_yaml(file: Path) -> dict[str, Any]:
    shown = display_path(file)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError([SpecProblem(shown, "", f"cannot read: {exc.strerror or exc}")]) from exc
    # What yaml.safe_load does, in its two steps, so that the node tree can be checked for
    # duplicate keys in between (safe_load silently keeps the last one; in a spec that is always
    # a mistake). libyaml's safe loader when present: specs are read at every start-up.
    loader = _SAFE_LOADER(text)
    try:
        node = loader.get_single_node()
        duplicates = _duplicate_keys(node)
        document = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError([SpecProblem(shown, where, f"invalid YAML: {problem}")]) from exc
    finally:
        loader.dispose()
    if duplicates:
        raise SpecError(
            [SpecProblem(shown, where, f"duplicate key {key!r}") for where, key in duplicates]
        )
    if not isinstance(document, dict):
        raise SpecError([SpecProblem(shown, "", "a spec must be a YAML mapping")])
    return document


_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _duplicate_keys(node: yaml.Node | None) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    stack = [node] if node is not None else []
    while stack:
        current = stack.pop()
        if isinstance(current, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        found.append((f"line {key.start_mark.line + 1}", key.value))
                    seen.add(key.value)
                stack.append(value)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
    return found


def _load_merged(file: Path, chain: tuple[str, ...]) -> dict[str, Any]:
    document = _read_yaml(file)
    parent_id = document.get("extends")
    if parent_id is None:
        return document
    shown = display_path(file)
    if not isinstance(parent_id, str):
        raise SpecError([SpecProblem(shown, "extends", "must be a provider id")])
    if parent_id in chain or parent_id == document.get("id"):
        raise SpecError([SpecProblem(shown, "extends", f"circular extends via {parent_id!r}")])
    parent_file = file.parent / f"{parent_id}.yaml"
    if not parent_file.exists():
        raise SpecError([SpecProblem(shown, "extends", f"no spec {parent_file.name} to extend")])
    base = _load_merged(parent_file, (*chain, str(document.get("id"))))
    base.pop("extends", None)
    merged = _deep_merge(base, document)
    return merged


def _deep_merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        result = dict(base)
        for key, value in over.items():
            if value is None:
                result.pop(key, None)
            elif key in result:
                result[key] = _deep_merge(result[key], value)
            else:
                result[key] = copy.deepcopy(value)
        return result
    if isinstance(base, list) and isinstance(over, list) and _named(base) and _named(over):
        merged = list(base)
        index = {item["name"]: i for i, item in enumerate(merged)}
        for item in over:
            if item["name"] in index:
                merged[index[item["name"]]] = _deep_merge(merged[index[item["name"]]], item)
            else:
                merged.append(copy.deepcopy(item))
        return merged
    return copy.deepcopy(over)


def _named(items: list[Any]) -> bool:
    return all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in items)


# ---------------------------------------------------------------------------------------------
# Schemas


@lru_cache(maxsize=1)
def _meta_validator() -> Draft202012Validator:
    return Draft202012Validator(load_schema(PROVIDER_SPEC_SCHEMA))


@lru_cache(maxsize=1)
def _registry() -> Registry[Any]:
    """Every schema under schemas/, by its `$id` and by its path URI, for offline `$ref`s."""
    registry: Registry[Any] = Registry()
    for file in sorted(SCHEMAS_DIR.rglob("*.json")):
        name = file.relative_to(SCHEMAS_DIR).as_posix()
        contents = load_schema(name)
        resource = Resource.from_contents(contents, default_specification=DRAFT202012)
        registry = registry.with_resource(schema_uri(name), resource)
        if isinstance(contents, dict) and isinstance(contents.get("$id"), str):
            registry = registry.with_resource(contents["$id"], resource)
    return registry.crawl()


def _meta_problems(shown: str, document: Mapping[str, Any]) -> list[SpecProblem]:
    problems: list[SpecProblem] = []
    errors = sorted(
        _meta_validator().iter_errors(document), key=lambda e: list(map(str, e.absolute_path))
    )
    for error in errors:
        # descend into anyOf/oneOf to the most specific branch's complaint
        specific = best_match([error]) if not error.context else best_match(error.context)
        if specific is None or len(specific.absolute_path) < len(error.absolute_path):
            specific = error
        path = format_path(specific.absolute_path)
        problems.append(SpecProblem(shown, path, _meta_message(specific)))
    return problems


def _meta_message(error: ValidationError) -> str:
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in (error.instance or {})]
        return f"missing required key {missing[0]!r}" if missing else error.message
    if error.validator == "not" and isinstance(error.validator_value, dict):
        together = error.validator_value.get("required")
        if together:
            return f"use either {' or '.join(map(repr, together))}, not both"
    # jsonschema quotes the whole offending instance; a spec author needs the gist
    return error.message if len(error.message) <= 300 else error.message[:300] + "…"


def _check_refs(schema: Any, base: str, registry: Registry[Any], seen: set[str]) -> None:
    resolver = registry.resolver(base_uri=base)
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                resolver.lookup(ref)  # raises Unresolvable
                target = ref.split("#")[0]
                document = urljoin(base, target) if target else ""
                if document and document not in seen:
                    seen.add(document)
                    _check_refs(registry.contents(document), document, registry, seen)
            stack.extend(v for k, v in node.items() if k not in ("const", "enum", "default"))
        elif isinstance(node, list):
            stack.extend(node)


# ---------------------------------------------------------------------------------------------
# Compilation


_DEFAULT_REPLY = ReplySpec()


class _Compiler:
    """Collects every problem of one spec instead of stopping at the first."""

    def __init__(self, shown: str) -> None:
        self.shown = shown
        self.problems: list[SpecProblem] = []

    def problem(self, path: str, message: str) -> None:
        found = SpecProblem(self.shown, path, message)
        if found not in self.problems:  # an endpoint's template is checked with each event
            self.problems.append(found)

    def expr(self, source: Any, path: str, names: frozenset[str]) -> Expression | None:
        try:
            return compile_expression(source, path, names)
        except TemplateProblem as exc:
            self.problem(path, str(exc))
            return None

    def tmpl(self, source: Any, path: str, names: frozenset[str]) -> TextTemplate | None:
        if not isinstance(source, str):
            self.problem(path, "a template must be a string")
            return None
        try:
            return compile_template(source, path, names)
        except TemplateProblem as exc:
            self.problem(path, str(exc))
            return None


def _compile(file: Path, document: dict[str, Any]) -> ProviderSpec:
    shown = display_path(file)
    problems = _meta_problems(shown, document)
    if problems:
        raise SpecError(problems)
    c = _Compiler(shown)
    if file.suffix == ".yaml" and file.stem != document["id"]:
        c.problem("id", f"id {document['id']!r} must match the file name {file.name!r}")
    spec_auth = _compile_auth(c, document.get("auth", []), "auth")
    path_problems(document["endpoints"], c.problem)
    endpoints = {
        name: _compile_endpoint(c, name, ep, spec_auth)
        for name, ep in document["endpoints"].items()
    }
    examples = []
    for i, ex in enumerate(document.get("examples", [])):
        path = f"examples[{i}]"
        if ex["endpoint"] not in document["endpoints"]:
            c.problem(f"{path}.endpoint", f"no endpoint named {ex['endpoint']!r}")
        examples.append(
            ExampleSpec(
                name=ex["name"],
                path=path,
                endpoint=ex["endpoint"],
                channel=MappingProxyType(dict(ex.get("channel", {}))),
                lookups=MappingProxyType(dict(ex.get("lookups", {}))),
                request=MappingProxyType(dict(ex["request"])),
                expect=MappingProxyType(dict(ex["expect"])),
                fallback=bool(ex.get("fallback", False)),
            )
        )
    actions = {}
    for name, action in document.get("actions", {}).items():
        compiled = compile_action(name, action, f"actions.{name}", c.problem)
        if compiled is not None:
            actions[name] = compiled
    recordings = document.get("recordings", {})
    if recordings.get("files_from") == "api" and RECORDING_LINK not in document.get("actions", {}):
        c.problem("recordings.files_from", "api needs an actions.recording_link to ask with")
    action_examples = []
    for i, ex in enumerate(document.get("action_examples", [])):
        path = f"action_examples[{i}]"
        if ex["action"] not in document.get("actions", {}):
            c.problem(f"{path}.action", f"no action named {ex['action']!r}")
        action_examples.append(
            ActionExampleSpec(
                name=ex["name"],
                path=path,
                action=ex["action"],
                channel=MappingProxyType(dict(ex.get("channel", {}))),
                args=MappingProxyType(dict(ex.get("args", {}))),
                expect=MappingProxyType(dict(ex.get("expect", {}))),
                answers=tuple(MappingProxyType(dict(a)) for a in ex.get("answers", [])),
            )
        )
    secrets = document.get("channel", {}).get("secrets", {})
    if c.problems:
        raise SpecError(c.problems)
    return ProviderSpec(
        id=document["id"],
        title=document["title"],
        path=file,
        description=document.get("description", ""),
        extends=document.get("extends"),
        sources=MappingProxyType(dict(document["sources"])),
        endpoints=MappingProxyType(endpoints),
        examples=tuple(examples),
        document=MappingProxyType(document),
        actions=MappingProxyType(actions),
        channel_secrets=MappingProxyType(
            {name: bool((item or {}).get("generate", False)) for name, item in secrets.items()}
        ),
        action_examples=tuple(action_examples),
        recording_hosts=tuple(
            str(host).lower().rstrip(".") for host in recordings.get("hosts", [])
        ),
        recording_files_from=str(recordings.get("files_from", "link")),
    )


def _compile_auth(
    c: _Compiler, items: list[dict[str, Any]], path: str
) -> tuple[AuthMechanism, ...]:
    mechanisms: list[AuthMechanism] = []
    for i, item in enumerate(items):
        if item["kind"] == "source_ip_allowlist":
            mechanisms.append(
                SourceIpAllowlist(
                    networks=tuple(item.get("networks", ())),
                    setting=item.get("setting"),
                    deny_when_empty=item.get("deny_when_empty", False),
                    setting_replaces=item.get("setting_replaces", False),
                )
            )
        elif item["kind"] in SIGNATURE_KINDS:
            signature = compile_signature(item, f"{path}[{i}]", c.problem)
            if signature is not None:
                mechanisms.append(signature)
    return tuple(mechanisms)


def _compile_map(
    c: _Compiler, mapping: Mapping[str, Any], path: str, names: frozenset[str] = MAP_NAMES
) -> dict[str, Expression]:
    compiled: dict[str, Expression] = {}
    for name, source in mapping.items():
        expression = c.expr(source, f"{path}.{name}", names)
        if expression is not None:
            compiled[name] = expression
    return compiled


def _compile_endpoint(
    c: _Compiler, name: str, ep: Mapping[str, Any], spec_auth: tuple[AuthMechanism, ...]
) -> EndpointSpec:
    path = f"endpoints.{name}"
    fmt = ep["body"]["format"]
    body = BodyFormat(
        formats=tuple(fmt) if isinstance(fmt, list) else (fmt,),
        lenient_json=ep["body"].get("lenient_json", False),
        nested=ep["body"].get("nested", "flat"),
        json_fields=tuple(ep["body"].get("json_fields", ())),
    )
    auth = _compile_auth(c, ep["auth"], f"{path}.auth") if "auth" in ep else spec_auth
    shared = _Shared(
        map=_compile_map(c, ep.get("map", {}), f"{path}.map"),
        session_id=c.tmpl(ep["session_id"], f"{path}.session_id", MAP_NAMES)
        if "session_id" in ep
        else None,
        key=c.tmpl(ep["idempotency_key"], f"{path}.idempotency_key", KEY_NAMES)
        if "idempotency_key" in ep
        else None,
        reply=dict(ep.get("reply", {})),
        reply_path=f"{path}.reply",
        extra=dict(ep.get("extra", {})),
        auth=auth,
        lookups=dict(ep.get("lookups", {})),
        lookups_path=f"{path}.lookups",
        fallback_reply=dict(ep["fallback_reply"]) if "fallback_reply" in ep else None,
        fallback_path=f"{path}.fallback_reply",
        vars=dict(ep.get("vars", {})),
        path=path,
    )
    events = tuple(
        _compile_event(c, ev, f"{path}.events[{i}]", shared) for i, ev in enumerate(ep["events"])
    )
    if body.json_fields:
        # one authentication before the fields are decoded: it cannot wait for recognition
        for i, ev in enumerate(ep["events"]):
            if "auth" in ev:
                c.problem(
                    f"{path}.events[{i}].auth",
                    "an endpoint with body.json_fields authenticates before decoding them, "
                    "so before recognition: declare auth on the endpoint",
                )
    seen_names: set[str] = set()
    explicit: dict[tuple[str, ...], dict[str, EventSpec]] = {}
    for i, event in enumerate(events):
        if event.name in seen_names:
            c.problem(f"{path}.events[{i}].name", f"duplicate event name {event.name!r}")
        seen_names.add(event.name)
        if event.recognize_field is not None:
            claimed = explicit.setdefault(event.recognize_field, {})
            for value in sorted(event.recognize_values):
                if value in claimed:
                    c.problem(
                        f"{path}.events[{i}].recognize.values",
                        f"value {value!r} already recognises event {claimed[value].name!r}",
                    )
                claimed[value] = event
    return EndpointSpec(
        name=name,
        path=path,
        description=ep.get("description", ""),
        methods=frozenset(m.upper() for m in ep["methods"]),
        body=body,
        auth=auth,
        events=events,
        explicit=tuple((k, MappingProxyType(v)) for k, v in explicit.items()),
        matches=ExpressionGroup((e.name, e.match) for e in events if e.match is not None),
        rejections=MappingProxyType(_compile_rejections(c, ep.get("rejections", {}), path)),
        url_path=endpoint_url_path(name, ep),
    )


def _compile_rejections(
    c: _Compiler, declared: Mapping[str, Any], path: str
) -> dict[str, RejectionSpec]:
    compiled: dict[str, RejectionSpec] = {}
    for cause, document in declared.items():
        here = f"{path}.rejections.{cause}"
        body = (
            c.tmpl(document["body"], f"{here}.body", REJECTION_NAMES)
            if "body" in document
            else None
        )
        compiled[cause] = RejectionSpec(
            status=document["status"],
            content_type=document.get("content_type", "application/json"),
            body=body,
        )
    return compiled


@dataclass
class _Shared:
    """What an endpoint gives each of its events unless the event says otherwise."""

    map: dict[str, Expression]
    session_id: TextTemplate | None
    key: TextTemplate | None
    reply: dict[str, Any]
    reply_path: str
    extra: dict[str, Any]
    auth: tuple[AuthMechanism, ...]
    lookups: dict[str, Any] = field(default_factory=dict)
    lookups_path: str = ""
    fallback_reply: dict[str, Any] | None = None
    fallback_path: str = ""
    vars: dict[str, Any] = field(default_factory=dict)
    path: str = ""


def _compile_event(c: _Compiler, ev: Mapping[str, Any], path: str, shared: _Shared) -> EventSpec:
    recognize = ev["recognize"]
    match = (
        c.expr(recognize["match"], f"{path}.recognize.match", MATCH_NAMES)
        if "match" in recognize
        else None
    )
    field_path = tuple(recognize["field"].split(".")) if "field" in recognize else None
    values = frozenset(str(v) for v in recognize.get("values", ()))

    validator, schema_name = _compile_schema(c, ev["schema"], f"{path}.schema")

    session_id = (
        c.tmpl(ev["session_id"], f"{path}.session_id", MAP_NAMES)
        if "session_id" in ev
        else shared.session_id
    )
    event_key = (
        c.tmpl(ev["idempotency_key"], f"{path}.idempotency_key", KEY_NAMES)
        if "idempotency_key" in ev
        else shared.key
    )
    event_map = {**shared.map, **_compile_map(c, ev.get("map", {}), f"{path}.map")}
    if "emit" in ev:
        raw_emissions = [(f"{path}.emit[{i}]", em) for i, em in enumerate(ev["emit"])]
    else:
        raw_emissions = [
            (path, {"kind": ev["kind"], **({"when": ev["when"]} if "when" in ev else {})})
        ]

    declared_vars = compile_vars(
        shared.vars,
        ev.get("vars", {}),
        endpoint_path=shared.path,
        event_path=path,
        problem=c.problem,
    )
    emissions: list[EmissionSpec] = []
    consumed: set[tuple[str, ...]] = set(session_id.body_reads if session_id else ())
    # a parameter read through a var is read by the mapping
    for _, expression in declared_vars:
        consumed |= expression.body_reads
    for em_path, em in raw_emissions:
        for_each = (
            c.expr(em["for_each"], f"{em_path}.for_each", MAP_NAMES) if "for_each" in em else None
        )
        # an emission repeated per item reads the item (and its index) in its map, when and key
        each = EACH_NAMES if "for_each" in em else frozenset()
        fields = {
            **event_map,
            **_compile_map(c, em.get("map", {}), f"{em_path}.map", MAP_NAMES | each),
        }
        when = c.expr(em["when"], f"{em_path}.when", MAP_NAMES | each) if "when" in em else None
        key = (
            c.tmpl(em["idempotency_key"], f"{em_path}.idempotency_key", KEY_NAMES | each)
            if "idempotency_key" in em
            else event_key
        )
        if for_each is not None:
            consumed |= for_each.body_reads
            if "idempotency_key" not in em:
                c.problem(
                    em_path,
                    "an emission with for_each needs its own idempotency_key telling the items "
                    "apart (e.g. with {{ index }})",
                )
        if key is None:
            c.problem(
                path, "no idempotency_key: set one on the endpoint, the event or the emission"
            )
            continue
        for expression in fields.values():
            consumed |= expression.body_reads
        kept = tuple((k, v) for k, v in fields.items() if not _is_none_constant(v))
        emissions.append(
            EmissionSpec(
                kind=em["kind"],
                path=em_path,
                when=when,
                fields=kept,
                idempotency_key=key,
                values=ExpressionGroup(kept),
                for_each=for_each,
            )
        )
    if raw_emissions and session_id is None:
        c.problem(path, "no session_id: set one on the endpoint or the event")

    reply_doc = {**shared.reply, **ev.get("reply", {})}
    reply_path = f"{path}.reply" if "reply" in ev else shared.reply_path
    reply_body = (
        c.tmpl(reply_doc["body"], f"{reply_path}.body", REPLY_NAMES)
        if "body" in reply_doc
        else None
    )
    reply = ReplySpec(
        status=reply_doc.get("status", _DEFAULT_REPLY.status),
        content_type=reply_doc.get("content_type", _DEFAULT_REPLY.content_type),
        body=reply_body,
    )
    lookups = _compile_lookups(c, ev, path, shared)
    fallback = _compile_fallback(c, ev, path, shared, reply) if lookups else None
    extra = {**shared.extra, **ev.get("extra", {})}
    event_auth = _compile_auth(c, ev["auth"], f"{path}.auth") if "auth" in ev else shared.auth
    compiled = EventSpec(
        name=ev["name"],
        path=path,
        description=ev.get("description", ""),
        recognize_field=field_path,
        recognize_values=values,
        match=match,
        schema_name=schema_name,
        validator=validator,
        session_id=session_id,
        emissions=tuple(emissions),
        reply=reply,
        auth=event_auth,
        consumed=frozenset(consumed),
        extra_exclude=frozenset(tuple(p.split(".")) for p in extra.get("exclude", ()))
        | _signature_fields(event_auth),
        extra_flatten=extra.get("flatten", True),
        extra_keep=frozenset(tuple(p.split(".")) for p in extra.get("keep", ())),
        extra_strip_prefixes=tuple(extra.get("strip_prefixes", ())),
        lookups=lookups,
        fallback_reply=fallback,
        vars=declared_vars,
    )
    check_event_vars(compiled, c.problem)
    return compiled


def _compile_lookups(
    c: _Compiler, ev: Mapping[str, Any], path: str, shared: _Shared
) -> tuple[tuple[str, tuple[tuple[str, Expression], ...]], ...]:
    """The event's lookups over the endpoint's (kind by kind), each argument compiled."""
    declared = {**shared.lookups, **ev.get("lookups", {})}
    compiled: list[tuple[str, tuple[tuple[str, Expression], ...]]] = []
    for kind, arguments in declared.items():
        here = f"{path}.lookups.{kind}" if kind in ev.get("lookups", {}) else shared.lookups_path
        lookup = LOOKUP_KINDS.get(kind)
        if lookup is None:
            c.problem(here, f"no lookup kind {kind!r}; known: {', '.join(sorted(LOOKUP_KINDS))}")
            continue
        given = dict(arguments or {})
        for name in sorted(set(given) - set(lookup.arguments)):
            c.problem(f"{here}.{name}", f"lookup {kind!r} takes no argument {name!r}")
        for name in lookup.arguments:
            if name not in given:
                c.problem(here, f"lookup {kind!r} needs the argument {name!r}")
        expressions: list[tuple[str, Expression]] = []
        for name in lookup.arguments:
            if name in given:
                expression = c.expr(given[name], f"{here}.{name}", LOOKUP_NAMES)
                if expression is not None:
                    expressions.append((name, expression))
        compiled.append((kind, tuple(expressions)))
    return tuple(compiled)


def _compile_fallback(
    c: _Compiler, ev: Mapping[str, Any], path: str, shared: _Shared, reply: ReplySpec
) -> ReplySpec | None:
    """The reply when the lookups cannot be answered: required wherever lookups are declared,
    since a PBX waiting on a synchronous answer must get one that continues its own scenario."""
    if "fallback_reply" in ev:
        document: dict[str, Any] | None = {**(shared.fallback_reply or {}), **ev["fallback_reply"]}
        where = f"{path}.fallback_reply"
    else:
        document, where = shared.fallback_reply, shared.fallback_path
    if document is None:
        c.problem(
            path,
            "an event with lookups needs a fallback_reply: what the PBX gets when the store "
            "cannot answer in time",
        )
        return None
    body = c.tmpl(document["body"], f"{where}.body", FALLBACK_NAMES) if "body" in document else None
    return ReplySpec(
        status=document.get("status", reply.status),
        content_type=document.get("content_type", reply.content_type),
        body=body,
    )


def _signature_fields(mechanisms: tuple[AuthMechanism, ...]) -> frozenset[tuple[str, ...]]:
    """The body parameters a token or signature is sent in: never a call's extra."""
    return frozenset(
        (name,)
        for mechanism in mechanisms
        if isinstance(mechanism, Signature) and mechanism.location == "body"
        for name in mechanism.names
    )


def _is_none_constant(expression: Expression) -> bool:
    # `field: null` in an event's map cancels the endpoint's mapping of that field
    return expression.constant and expression.evaluate({}) is None


_PERMISSIVE = Draft202012Validator({})


def _compile_schema(
    c: _Compiler, schema: str | dict[str, Any], path: str
) -> tuple[Draft202012Validator, str | None]:
    registry = _registry()
    name: str | None = None
    if isinstance(schema, str):
        name = schema
        uri = schema_uri(schema)
        try:
            contents = registry.contents(uri)
        except (LookupError, Unresolvable):
            c.problem(path, f"no schema file schemas/{schema}")
            return _PERMISSIVE, name
    else:
        contents = schema
        uri = str(schema.get("$id", ""))
    try:
        Draft202012Validator.check_schema(contents)
    except SchemaError as exc:
        where = format_path(exc.absolute_path)
        c.problem(
            f"{path}{'.' + where if where else ''}", f"not a valid JSON Schema: {exc.message}"
        )
        return _PERMISSIVE, name
    try:
        _check_refs(contents, uri, registry, set())
        inlined = _inline_refs(contents, uri, registry, ())
    except Unresolvable as exc:
        c.problem(path, f"unresolvable $ref {exc.ref!r}" if hasattr(exc, "ref") else str(exc))
        return _PERMISSIVE, name
    except RecursionError:
        # a recursive schema cannot be inlined; validate it through the registry instead
        return Draft202012Validator(contents, registry=registry), name
    return Draft202012Validator(inlined), name


def _inline_refs(node: Any, base: str, registry: Registry[Any], chain: tuple[str, ...]) -> Any:
    """The schema with every `$ref` replaced by its target, resolved once at load: looking
    references up on every request costs more than the rest of the validation."""
    if isinstance(node, list):
        return [_inline_refs(item, base, registry, chain) for item in node]
    if not isinstance(node, dict):
        return node
    result = {
        key: value
        if key in ("const", "enum", "default", "examples")
        else _inline_refs(value, base, registry, chain)
        for key, value in node.items()
        if key not in ("$ref", "$id", "$schema", "$defs")
    }
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return result
    target_uri = urljoin(base, ref)
    if target_uri in chain:
        raise RecursionError(target_uri)
    resolved = registry.resolver(base_uri=base).lookup(ref)
    document = urljoin(base, ref.split("#")[0]) if ref.split("#")[0] else base
    target = _inline_refs(resolved.contents, document, registry, (*chain, target_uri))
    if isinstance(target, dict) and not set(target) & set(result):
        return {**target, **result}
    return {**result, "allOf": [target, *result.get("allOf", [])]}
