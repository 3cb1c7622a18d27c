"""Mapping a recognised, authenticated and valid request to canonical call events, as its spec
event says: the event's `vars`, the call's session id, each emission (`when`, `for_each`) with
its fields coerced to the CallEvent's types, its idempotency key, and the call's `extra`. A
failure is the request's (RequestRejected naming the field) or the spec's (MappingError)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from contracts.events import CallEvent
from providers.canonical import CoercionError, Unstorable, coerce_field, session_id_problem
from providers.extra import extra_parameters
from providers.faults import blank_field, request_fault
from providers.rejections import (
    RequestRejected,
    evaluate,
    holds,
    render,
    spec_bug,
    template_failure,
    unreadable,
)
from providers.spec import EmissionSpec, EventSpec, ProviderSpec, format_path
from providers.spec_vars import evaluate_vars
from providers.template_filters import FilterValueError, is_blank
from providers.templating import EvaluationError, Expression, TextTemplate

__all__ = ["map_request"]


def map_request(
    spec: ProviderSpec, event: EventSpec, context: dict[str, Any], channel_id: int
) -> tuple[str, tuple[CallEvent, ...]]:
    """The call's session id and the events the request yields. `context` (what templates read)
    gains the event's `vars` and `session_id`, for the reply rendered after.

    Raises RequestRejected (the request's fault) or MappingError (the spec's).
    """
    try:
        evaluate_vars(event.vars, context)
    except EvaluationError as exc:
        raise template_failure(spec, exc, context) from exc
    session_id = ""
    if event.session_id is not None:
        session_id = render(spec, event.session_id, context).strip()
        if event.emissions and not session_id:
            missing = blank_field(event.session_id.body_reads, context["body"])
            raise RequestRejected(
                422,
                "the request carries no call session id"
                + (f": {missing} is missing" if missing else ""),
                field=missing,
            )
        _check_session_id(event, session_id)
    context["session_id"] = session_id

    extra = extra_parameters(context["body"], event) if event.emissions else {}
    events = tuple(
        e
        for emission in event.emissions
        for e in _emit(spec, emission, context, channel_id, session_id, extra)
    )
    _check_keys_differ(spec, event, events)
    return session_id, events


def _check_session_id(event: EventSpec, session_id: str) -> None:
    # Too long for a workflow id (providers.canonical): the request's fault, named by its field.
    problem = session_id_problem(session_id)
    if problem is None:
        return
    field_name = _field_read(event.session_id) if event.session_id is not None else None
    raise RequestRejected(422, f"{field_name or 'session id'}: {problem}", field=field_name)


def _field_read(expression: Expression | TextTemplate) -> str | None:
    """The body field a template reads, when it reads just one: what a 422 names."""
    read = expression.body_reads
    return format_path(list(next(iter(read)))) if len(read) == 1 else None


def _emit(
    spec: ProviderSpec,
    emission: EmissionSpec,
    context: dict[str, Any],
    channel_id: int,
    session_id: str,
    extra: dict[str, str],
) -> list[CallEvent]:
    if emission.for_each is None:
        one = _emit_one(spec, emission, context, channel_id, session_id, extra)
        return [one] if one is not None else []
    items = evaluate(spec, emission.for_each, context)
    if is_blank(items):
        return []
    if isinstance(items, str | Mapping) or not isinstance(items, Iterable):
        message = f"for_each must give a list, got {items!r}"
        fault = request_fault(
            FilterValueError(message, items),
            emission.for_each.body_reads,
            context["body"],
            spec_path=emission.for_each.path,
        )
        if fault is not None:
            raise unreadable(fault)
        raise spec_bug(spec, emission.for_each.path, message)
    emitted = []
    for index, item in enumerate(items):
        each = {**context, "item": item, "index": index}
        one = _emit_one(spec, emission, each, channel_id, session_id, extra)
        if one is not None:
            emitted.append(one)
    return emitted


def _check_keys_differ(spec: ProviderSpec, event: EventSpec, events: tuple[CallEvent, ...]) -> None:
    # Two events of one request with one key: the workflow would drop the second as a redelivery.
    seen: set[str] = set()
    for emitted in events:
        if emitted.idempotency_key in seen:
            raise spec_bug(
                spec,
                event.path,
                f"two events of one request share the idempotency key {emitted.idempotency_key!r}",
            )
        seen.add(emitted.idempotency_key)


def _emit_one(
    spec: ProviderSpec,
    emission: EmissionSpec,
    context: Mapping[str, Any],
    channel_id: int,
    session_id: str,
    extra: dict[str, str],
) -> CallEvent | None:
    if emission.when is not None and not holds(spec, emission.when, context):
        return None
    try:
        raw = emission.values.evaluate(context)
    except EvaluationError as exc:
        raise template_failure(spec, exc, context) from exc
    values: dict[str, Any] = {}
    for name, expression in emission.fields:
        try:
            values[name] = coerce_field(name, raw[name])
        except Unstorable as exc:  # the PBX's number, not the spec, is at fault
            field_name = _field_read(expression)
            raise RequestRejected(422, f"{field_name or name}: {exc}", field=field_name) from exc
        except CoercionError as exc:
            reads, place = expression.body_reads, expression.path
            fault = request_fault(exc, reads, context["body"], spec_path=place, value=raw[name])
            if fault is not None:
                raise unreadable(fault) from exc
            raise spec_bug(spec, expression.path, str(exc)) from exc
    key_context = {**context, "kind": emission.kind, "mapped": values}
    key = render(spec, emission.idempotency_key, key_context).strip()
    if not key:
        template = emission.idempotency_key
        missing = blank_field(template.body_reads, context["body"])
        if missing is not None:  # the request lacks what tells its events apart
            raise RequestRejected(
                422, f"{missing}: missing (read by {template.path})", field=missing
            )
        raise spec_bug(spec, template.path, "idempotency key rendered empty")
    return CallEvent(
        kind=emission.kind,
        provider=spec.id,
        session_id=session_id,
        idempotency_key=key,
        channel_id=channel_id,
        extra=dict(extra),
        **values,
    )
