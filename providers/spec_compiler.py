"""Compiling a provider spec: a meta-schema-valid document (providers.spec_loader) becomes the
model of providers.spec, every template and expression compiled in its sandbox, every payload
schema checked, every cross-reference (events, lookups, vars, actions) resolved, once, at load."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from providers.actions import RECORDING_LINK, compile_action
from providers.auth import AuthMechanism, SourceIpAllowlist
from providers.bodies import BodyFormat
from providers.endpoint_paths import endpoint_url_path, path_problems
from providers.lookups import LOOKUP_KINDS
from providers.payload_schemas import compile_payload_schema
from providers.signatures import SIGNATURE_KINDS, Signature, compile_signature
from providers.spec import (
    ActionExampleSpec,
    EmissionSpec,
    EndpointSpec,
    EventSpec,
    ExampleSpec,
    ProviderSpec,
    RejectionSpec,
    ReplySpec,
    SpecError,
    SpecProblem,
    display_path,
)
from providers.spec_vars import check_event_vars, compile_vars
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
    TemplateCollector,
    TextTemplate,
)

__all__ = ["compile_spec"]

# What an emission with `for_each` adds to its templates: the list's item and its 0-based index.
EACH_NAMES = frozenset({"item", "index"})

_DEFAULT_REPLY = ReplySpec()


class _Compiler(TemplateCollector):
    """Collects every problem of one spec instead of stopping at the first."""

    def __init__(self, shown: str) -> None:
        super().__init__(self._collect)
        self.shown = shown
        self.problems: list[SpecProblem] = []

    def _collect(self, path: str, message: str) -> None:
        found = SpecProblem(self.shown, path, message)
        if found not in self.problems:  # an endpoint's template is checked with each event
            self.problems.append(found)


def compile_spec(file: Path, document: dict[str, Any]) -> ProviderSpec:
    """The spec `document` (read from `file`, `extends` merged, valid against the meta-schema)
    compiled; raises SpecError listing every problem found."""
    c = _Compiler(display_path(file))
    if file.suffix == ".yaml" and file.stem != document["id"]:
        c.problem("id", f"id {document['id']!r} must match the file name {file.name!r}")
    spec_auth = _compile_auth(c, document.get("auth", []), "auth")
    path_problems(document["endpoints"], c.problem)
    endpoints = {
        name: _compile_endpoint(c, name, ep, spec_auth)
        for name, ep in document["endpoints"].items()
    }
    examples = [
        ExampleSpec(
            name=ex["name"],
            path=path,
            endpoint=ex["endpoint"],
            channel=_frozen(ex, "channel"),
            lookups=_frozen(ex, "lookups"),
            request=_frozen(ex, "request"),
            expect=_frozen(ex, "expect"),
            fallback=bool(ex.get("fallback", False)),
        )
        for path, ex in _examples(c, document, "examples", "endpoint", document["endpoints"])
    ]
    actions = {}
    for name, action in document.get("actions", {}).items():
        compiled = compile_action(name, action, f"actions.{name}", c.problem)
        if compiled is not None:
            actions[name] = compiled
    recordings = document.get("recordings", {})
    if recordings.get("files_from") == "api" and RECORDING_LINK not in document.get("actions", {}):
        c.problem("recordings.files_from", "api needs an actions.recording_link to ask with")
    action_examples = [
        ActionExampleSpec(
            name=ex["name"],
            path=path,
            action=ex["action"],
            channel=_frozen(ex, "channel"),
            args=_frozen(ex, "args"),
            expect=_frozen(ex, "expect"),
            answers=tuple(MappingProxyType(dict(a)) for a in ex.get("answers", [])),
        )
        for path, ex in _examples(
            c, document, "action_examples", "action", document.get("actions", {})
        )
    ]
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


def _examples(
    c: _Compiler, document: Mapping[str, Any], key: str, names: str, named: Mapping[str, Any]
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Each example under `key` with its path; one whose `names` (the endpoint or action it
    runs) is not in `named` is a problem."""
    for i, ex in enumerate(document.get(key, [])):
        path = f"{key}[{i}]"
        if ex[names] not in named:
            c.problem(f"{path}.{names}", f"no {names} named {ex[names]!r}")
        yield path, ex


def _frozen(example: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    return MappingProxyType(dict(example.get(key, {})))


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

    validator, schema_name = compile_payload_schema(ev["schema"], f"{path}.schema", c.problem)

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
