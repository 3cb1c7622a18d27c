"""Per-request variables of an ingress mapping: an endpoint's and an event's `vars`, named
expressions evaluated once per request after recognition, auth and the schema, and read as
`vars.<name>` by the mapping, `when`, `session_id`, keys, lookups and replies — so a computed
value is written once. Here: compiling them and checking, at load, every `vars.<name>` a template
reads."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from jinja2 import nodes

from providers.templating import (
    MAP_NAMES,
    Expression,
    TemplateProblem,
    TextTemplate,
    compile_expression,
    environment,
    parse_expression,
)

if TYPE_CHECKING:  # providers.spec imports this module
    from providers.spec import EventSpec

__all__ = [
    "VAR_NAMES",
    "Vars",
    "check_event_vars",
    "compile_vars",
    "evaluate_vars",
    "vars_problems",
]

# What a var's expression reads: what a map reads, and the vars declared before it.
VAR_NAMES = MAP_NAMES

Vars = tuple[tuple[str, Expression], ...]


def compile_vars(
    endpoint_vars: Mapping[str, Any],
    event_vars: Mapping[str, Any],
    *,
    endpoint_path: str,
    event_path: str,
    problem: Callable[[str, str], None],
) -> Vars:
    """The endpoint's vars then the event's, an event's var replacing the endpoint's of the
    same name; each may read only the vars before it."""
    sources = {
        name: (source, f"{endpoint_path}.vars.{name}") for name, source in endpoint_vars.items()
    }
    sources |= {name: (source, f"{event_path}.vars.{name}") for name, source in event_vars.items()}
    compiled: list[tuple[str, Expression]] = []
    for name, (source, path) in sources.items():
        try:
            expression = compile_expression(source, path, VAR_NAMES)
        except TemplateProblem as exc:
            problem(path, str(exc))
            continue
        earlier = {known for known, _ in compiled}
        for read in sorted(vars_read(expression) - earlier):
            reason = "is declared after it" if read in sources else "is not declared"
            problem(path, f"reads vars.{read}, which {reason} (a var reads only earlier vars)")
        compiled.append((name, expression))
    return tuple(compiled)


def evaluate_vars(declared: Vars, context: dict[str, Any]) -> dict[str, Any]:
    """Every var in order, each seeing the earlier ones as `vars` in `context` (which it fills).

    Raises EvaluationError naming the var's path.
    """
    values: dict[str, Any] = {}
    context["vars"] = values
    for name, expression in declared:
        values[name] = expression.evaluate(context)
    return values


def check_event_vars(event: EventSpec, problem: Callable[[str, str], None]) -> None:
    """Every `vars.<name>` an event's templates read must be declared; an idempotency key must
    not read a var that reads received_at, which differs on redelivery."""
    vars_problems(
        event.vars,
        _readers(event),
        [emission.idempotency_key for emission in event.emissions],
        problem,
    )


def _readers(event: EventSpec) -> list[Expression | TextTemplate]:
    """Every template of an event that may read its vars."""
    readers: list[Expression | TextTemplate | None] = [event.session_id, event.reply.body]
    if event.fallback_reply is not None:
        readers.append(event.fallback_reply.body)
    for emission in event.emissions:
        readers += [emission.when, emission.for_each, emission.idempotency_key]
        readers += [expression for _, expression in emission.fields]
    readers += [expression for _, arguments in event.lookups for _, expression in arguments]
    return [reader for reader in readers if reader is not None]


def vars_problems(
    declared: Vars,
    readers: Iterable[Expression | TextTemplate],
    keys: Iterable[TextTemplate | None],
    problem: Callable[[str, str], None],
) -> None:
    """Every `vars.<name>` of `readers` must be declared; an idempotency key (`keys`) must not
    read a var that reads received_at, which differs on redelivery."""
    names = {name for name, _ in declared}
    for template in readers:
        path = template.path
        for read in sorted(vars_read(template) - names):
            known = ", ".join(sorted(names)) or "none"
            problem(path, f"reads vars.{read}, which is not declared (vars here: {known})")
    moving = _reading_received_at(declared)
    for key in keys:
        if key is None:
            continue
        for read in sorted(vars_read(key) & moving):
            problem(
                key.path,
                f"reads vars.{read}, which depends on received_at: an idempotency key must be "
                "the same when the PBX delivers the request again",
            )


def _reading_received_at(declared: Vars) -> set[str]:
    moving: set[str] = set()
    for name, expression in declared:
        tree = _tree(expression)
        if tree is None:
            continue
        names = [tree, *tree.find_all(nodes.Name)]
        reads_time = any(isinstance(n, nodes.Name) and n.name == "received_at" for n in names)
        if reads_time or vars_read(expression) & moving:
            moving.add(name)
    return moving


def vars_read(template: Expression | TextTemplate) -> set[str]:
    """The names X of every `vars.X` (or `vars['X']`) the template reads."""
    if isinstance(template, Expression) and template.constant:
        return set()
    return set(_vars_in(template.source, isinstance(template, Expression)))


@lru_cache(maxsize=4096)
def _vars_in(source: str, expression: bool) -> frozenset[str]:
    # checked for every template of every event at load: most never name vars
    if "vars" not in source:
        return frozenset()
    tree = _parse(source, expression)
    found: set[str] = set()
    # find_all leaves out the root: an expression that is only `vars.x` is its root
    for node in [tree, *tree.find_all((nodes.Getattr, nodes.Getitem))]:
        if not isinstance(node, nodes.Getattr | nodes.Getitem):
            continue
        inner = node.node
        if not (isinstance(inner, nodes.Name) and inner.name == "vars"):
            continue
        if isinstance(node, nodes.Getattr):
            found.add(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            found.add(node.arg.value)
    return frozenset(found)


def _tree(template: Expression | TextTemplate) -> nodes.Node | None:
    if isinstance(template, Expression) and template.constant:
        return None
    return _parse(template.source, isinstance(template, Expression))


def _parse(source: str, expression: bool) -> nodes.Node:
    # compiled once already, so it parses
    return parse_expression(source) if expression else environment().parse(source)
