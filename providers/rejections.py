"""How the engine refuses a request, and whose fault it is: RequestRejected when the PBX's request
is (a 4xx naming the field), MappingError when the spec is (501, placed in the spec); and the
evaluation of a spec's templates on a request, a failure turned into the one or the other."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from providers.faults import RequestFault, evaluation_fault, spec_place
from providers.spec import ProviderSpec, display_path
from providers.templating import EvaluationError, Expression, TextTemplate

__all__ = [
    "EndpointNotFound",
    "MappingError",
    "Reply",
    "RequestRejected",
    "evaluate",
    "holds",
    "render",
    "spec_bug",
    "template_failure",
    "unreadable",
]


@dataclass(frozen=True)
class Reply:
    """What the PBX gets back: the spec's reply, or an endpoint's declared rejection."""

    status: int = 200
    body: str = ""
    content_type: str = "application/json"


class EndpointNotFound(LookupError):
    """The spec has no endpoint of that name (the ingress answers 404)."""


class RequestRejected(Exception):
    """The request is refused: 401/403 auth, 405 method, 400/415 body, 422 schema or an
    unrecognised request. `field` is the JSON path of the offending body field, if one is."""

    def __init__(
        self, status: int, message: str, field: str | None = None, *, reply: Reply | None = None
    ) -> None:
        super().__init__(f"{status}: {message}" + (f" (field {field})" if field else ""))
        self.status = status
        self.field = field
        self.message = message
        # the endpoint's declared answer (its `rejections`), when its PBX expects its own words;
        # `message` still says why, for the log
        self.reply = reply

    def as_json(self) -> dict[str, Any]:
        """The error body the ingress can send as is."""
        return {"error": self.message, "field": self.field}


class MappingError(Exception):
    """The spec fails on a request that is not at fault (a spec bug: a template error, a value
    the spec should have converted). `path` names the place in the spec, `file`, `endpoint` and
    `event` the rest of it, for the log. The ingress answers 501, not 500: see api/routes/hooks.py.
    A failure the request causes (a missing field, an unreadable value) is a RequestRejected."""

    status = 501

    def __init__(
        self,
        spec_id: str,
        path: str,
        message: str,
        *,
        file: str = "",
        endpoint: str | None = None,
        event: str | None = None,
    ) -> None:
        super().__init__(f"spec {spec_id}: {path}: {message}")
        self.spec_id = spec_id
        self.path = path
        self.message = message
        self.file = file
        self.endpoint = endpoint
        self.event = event


def holds(spec: ProviderSpec, expression: Expression, context: Mapping[str, Any]) -> bool:
    """Whether the expression is true on this request; a failure is refused (template_failure)."""
    try:
        return bool(expression.evaluate(context))
    except EvaluationError as exc:
        raise template_failure(spec, exc, context) from exc


def evaluate(spec: ProviderSpec, expression: Expression, context: Mapping[str, Any]) -> Any:
    """The expression's value on this request; a failure is refused (template_failure)."""
    try:
        return expression.evaluate(context)
    except EvaluationError as exc:
        raise template_failure(spec, exc, context) from exc


def render(spec: ProviderSpec, template: TextTemplate, context: Mapping[str, Any]) -> str:
    """The template's text on this request; a failure is refused (template_failure)."""
    try:
        return str(template.render(context))
    except EvaluationError as exc:
        raise template_failure(spec, exc, context) from exc


def template_failure(
    spec: ProviderSpec, error: EvaluationError, context: Mapping[str, Any]
) -> RequestRejected | MappingError:
    """A template that failed on this request: 422 naming the field when the request carries
    the fault (providers.faults), else the spec's bug."""
    fault = evaluation_fault(error, context.get("body"))
    return unreadable(fault) if fault is not None else spec_bug(spec, error.path, error.message)


def unreadable(fault: RequestFault) -> RequestRejected:
    """The 422 for a field the request lacks or carries unreadable."""
    return RequestRejected(422, fault.message, fault.field)


def spec_bug(spec: ProviderSpec, path: str, message: str) -> MappingError:
    """A MappingError placed in the spec: its file, endpoint and event."""
    endpoint, event = spec_place(spec, path)
    return MappingError(
        spec.id, path, message, file=display_path(spec.path), endpoint=endpoint, event=event
    )
