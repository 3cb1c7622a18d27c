"""The sandboxed Jinja2 that provider specs are written in: the one environment (with the filters
of providers.template_filters), the names each kind of template may read, compiled expressions and
templates, and the load-time checks that turn a spec's typo into an error before any request."""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, TemplateSyntaxError, Undefined, nodes
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.meta import find_undeclared_variables
from jinja2.parser import Parser
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from providers.template_filters import FILTERS, TESTS, FilterValueError

__all__ = [
    "ACTION_NAMES",
    "ANSWER_NAMES",
    "AUTH_NAMES",
    "FALLBACK_NAMES",
    "KEY_NAMES",
    "LOOKUP_NAMES",
    "MAP_NAMES",
    "MATCH_NAMES",
    "REJECTION_NAMES",
    "REPLY_NAMES",
    "EvaluationError",
    "Expression",
    "ExpressionGroup",
    "TemplateCollector",
    "TemplateProblem",
    "TextTemplate",
    "compile_expression",
    "compile_template",
    "environment",
]

# The names each kind of template may use. Anything else is a typo caught at load time: this is
# where StrictUndefined would have helped, without making a missing *body key* an error (a PBX
# body template typed by the customer may legitimately omit a parameter).
MATCH_NAMES = frozenset({"body", "query", "headers", "channel", "provider"})
# received_at: when the ingress received the request (aware UTC; None in spec examples unless set);
# vars: the endpoint's and event's `vars`, evaluated once the request is recognised and checked
MAP_NAMES = MATCH_NAMES | {"event", "received_at", "vars"}
# A redelivery is received at another moment: an idempotency key must never read received_at.
KEY_NAMES = (MAP_NAMES - {"received_at"}) | {"session_id", "kind", "mapped"}
REPLY_NAMES = MAP_NAMES | {"session_id", "events", "lookups"}
# a fallback reply is what the PBX gets when the lookups could not be answered: it cannot read them
FALLBACK_NAMES = REPLY_NAMES - {"lookups"}
LOOKUP_NAMES = MAP_NAMES | {"session_id"}
# auth runs before the vars are evaluated
AUTH_NAMES = (MAP_NAMES - {"vars"}) | {"raw_body"}
# a declared rejection's body: why the request was refused, and the field at fault (if one is)
REJECTION_NAMES = frozenset({"status", "message", "field"})
# an outbound action (pbxhub → PBX): the channel, the action's arguments and its `vars` (named
# values rendered first, e.g. a query string both sent and signed); reading its answer also the
# PBX's HTTP status, its body as JSON (None when not JSON) and as text, and its headers
ACTION_NAMES = frozenset({"channel", "provider", "args", "vars"})
ANSWER_NAMES = ACTION_NAMES | {"status", "body", "text", "headers"}


class TemplateProblem(Exception):
    """A template or expression that cannot be used (syntax, sandbox, unknown name or filter)."""


class EvaluationError(Exception):
    """A template failed while rendering; `path` says where it is in the spec. `cause` is what
    failed and `body_reads` the body parameters the template reads: with them the engine tells
    a request carrying an unreadable value from a spec bug (providers.faults)."""

    def __init__(
        self,
        path: str,
        message: str,
        *,
        cause: BaseException | None = None,
        body_reads: frozenset[tuple[str, ...]] = frozenset(),
    ) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message
        self.cause = cause
        self.body_reads = body_reads
        # the other templates of the same group that failed on the same request (one of them may
        # fail on the request's own value, and explain the rest)
        self.related: tuple[EvaluationError, ...] = ()


# ---------------------------------------------------------------------------------------------
# The environment


_MAX_REPEAT = 100_000


class SpecEnvironment(ImmutableSandboxedEnvironment):
    """ImmutableSandboxedEnvironment where `body.items` means the body's "items" key, not the
    dict method (PBX parameters may be named like dict methods), and where `*`/`**` cannot be
    used to exhaust memory."""

    intercepted_binops = frozenset({"*", "**"})

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        # The stock sandbox returns an Undefined that a lenient Undefined class would let pass
        # silently; an attempt to reach an unsafe attribute is always a spec bug: fail loudly.
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__} is unsafe")

    def call_binop(self, context: Context, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "**":
            if isinstance(right, int | float) and abs(right) > 64:
                raise SecurityError("exponent too large")
            return operator.pow(left, right)
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(count, int):
                if count * max(len(seq), 1) > _MAX_REPEAT:
                    raise SecurityError("repetition too large")
        return operator.mul(left, right)


def _traced(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The filter, its FilterValueError carrying the value it was handed: so a failure on a
    value the PBX sent can name the PBX's field (providers.faults)."""
    value_at = 1 if getattr(fn, "jinja_pass_arg", None) is not None else 0

    @functools.wraps(fn)  # keeps jinja_pass_arg (pass_context) too
    def traced(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except FilterValueError as exc:
            if not exc.has_value and len(args) > value_at:
                exc.value = args[value_at]
            raise

    return traced


def _build_environment() -> SpecEnvironment:
    env = SpecEnvironment(
        undefined=ChainableUndefined,
        autoescape=False,
        # None renders as "" in text templates: a key or reply never says "None"
        finalize=lambda value: "" if value is None else value,
    )
    env.filters.update({name: _traced(fn) for name, fn in FILTERS.items()})
    env.tests.update(TESTS)
    return env


_ENV = _build_environment()


def environment() -> SpecEnvironment:
    """The one shared (immutable, thread-safe) environment every spec template is compiled in."""
    return _ENV


# ---------------------------------------------------------------------------------------------
# Compiled templates and expressions


# What a template may raise on a request: its own errors, a filter's, Python's on the values, and
# a macro that calls itself (RecursionError) — a spec bug like any other, never a crash.
_TEMPLATE_FAILURES = (
    TemplateError,
    ValueError,
    TypeError,
    ArithmeticError,
    LookupError,
    RecursionError,
)


@dataclass(frozen=True, eq=False)
class Expression:
    """A compiled Jinja2 expression (`body.x | as_int`) producing a native value."""

    source: str
    path: str
    _fn: Callable[..., Any]
    body_reads: frozenset[tuple[str, ...]] = frozenset()
    constant: bool = False
    _value: Any = None

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        if self.constant:
            return self._value
        try:
            result = self._fn(**context)
        except _TEMPLATE_FAILURES as exc:
            message = f"{type(exc).__name__}: {exc}"
            raise EvaluationError(
                self.path, message, cause=exc, body_reads=self.body_reads
            ) from exc
        return None if isinstance(result, Undefined) else result

    @classmethod
    def const(cls, value: Any, path: str) -> Expression:
        return cls(
            source=repr(value), path=path, _fn=lambda **_: value, constant=True, _value=value
        )


@dataclass(frozen=True, eq=False)
class TextTemplate:
    """A compiled Jinja2 template (`{{ session_id }}:{{ event }}`) producing text."""

    source: str
    path: str
    _template: Any
    body_reads: frozenset[tuple[str, ...]] = frozenset()
    # the context names the template uses, so callers can skip building the others
    names: frozenset[str] = frozenset()

    def render(self, context: Mapping[str, Any]) -> str:
        try:
            return str(self._template.render(context))
        except _TEMPLATE_FAILURES as exc:
            message = f"{type(exc).__name__}: {exc}"
            raise EvaluationError(
                self.path, message, cause=exc, body_reads=self.body_reads
            ) from exc


class ExpressionGroup:
    """Several expressions evaluated in one template render: one Jinja context per request
    instead of one per field. On any failure the expressions are re-run one by one, so the
    error names the field's own path."""

    def __init__(self, expressions: Iterable[tuple[str, Expression]]) -> None:
        self._items = tuple(expressions)
        self._constants = {n: e.evaluate({}) for n, e in self._items if e.constant}
        self._slots: list[tuple[str, str]] = []
        sources: list[tuple[str, str]] = []
        for index, (name, expression) in enumerate(self._items):
            if expression.constant:
                continue
            slot = f"v{index}"
            sources.append((slot, expression.source))
            self._slots.append((name, slot))
        self._template = _group_template(tuple(sources)) if sources else None

    def evaluate(self, context: Mapping[str, Any]) -> dict[str, Any]:
        values = dict(self._constants)
        if self._template is None:
            return values
        try:
            ctx = self._template.new_context(dict(context))
            for _ in self._template.root_render_func(ctx):
                pass
        except Exception as exc:
            failures: list[EvaluationError] = []
            for _, expression in self._items:
                try:
                    expression.evaluate(context)  # raises EvaluationError with the field's path
                except EvaluationError as failure:
                    failures.append(failure)
            if failures:
                failures[0].related = tuple(failures[1:])
                raise failures[0] from exc
            path = self._items[0][1].path.rpartition(".")[0]
            raise EvaluationError(path, f"{type(exc).__name__}: {exc}") from exc
        for name, slot in self._slots:
            value = ctx.vars.get(slot)
            values[name] = None if isinstance(value, Undefined) else value
        return values


def _nodes(tree: nodes.Node, kind: Any) -> list[Any]:
    """The tree's nodes of `kind`, the root included (find_all skips it)."""
    return [tree, *tree.find_all(kind)] if isinstance(tree, kind) else list(tree.find_all(kind))


def _check_tree(tree: nodes.Node, allowed: Iterable[str]) -> None:
    env = _ENV
    for node in _nodes(tree, (nodes.Getattr, nodes.Getitem)):
        name: Any = None
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value
        if isinstance(name, str) and name.startswith("_"):
            raise TemplateProblem(f"access to {name!r} is not allowed (sandbox)")
    for flt in _nodes(tree, nodes.Filter):
        if flt.name not in env.filters:
            raise TemplateProblem(f"no filter named {flt.name!r}")
    for test in _nodes(tree, nodes.Test):
        if test.name not in env.tests:
            raise TemplateProblem(f"no test named {test.name!r}")
    if isinstance(tree, nodes.Template):
        unknown = find_undeclared_variables(tree) - set(allowed) - set(env.globals)
    else:
        unknown = (
            {n.name for n in _nodes(tree, nodes.Name) if n.ctx == "load"}
            - set(allowed)
            - set(env.globals)
        )
    if unknown:
        raise TemplateProblem(
            f"unknown name(s) {', '.join(sorted(unknown))}; available here: "
            f"{', '.join(sorted(allowed))}"
        )


def _syntax_message(exc: TemplateSyntaxError) -> str:
    return f"Jinja syntax error: {exc.message}"


def parse_expression(source: str) -> nodes.Expr:
    """The AST of an expression; raises TemplateProblem on a syntax error."""
    try:
        parser = Parser(_ENV, source, state="variable")
        expr = parser.parse_expression()
        if not parser.stream.eos:
            raise TemplateSyntaxError("chunk after expression", parser.stream.current.lineno)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(_syntax_message(exc)) from exc
    return expr


def compile_expression(source: Any, path: str, allowed: Iterable[str]) -> Expression:
    """Compile an expression once, at load. YAML numbers, booleans and null are constants."""
    if source is None or isinstance(source, bool | int | float):
        return Expression.const(source, path)
    if not isinstance(source, str):
        raise TemplateProblem(f"an expression must be a string, got {type(source).__name__}")
    fn, body_reads = _compiled_expression(source, frozenset(allowed))
    return Expression(source=source, path=path, _fn=fn, body_reads=body_reads)


def compile_template(source: str, path: str, allowed: Iterable[str]) -> TextTemplate:
    """Compile a text template once, at load."""
    template, body_reads, names = _compiled_template(source, frozenset(allowed))
    return TextTemplate(
        source=source, path=path, _template=template, body_reads=body_reads, names=names
    )


class TemplateCollector:
    """Compiles a spec's expressions and templates, each problem reported to `problem(path,
    message)` instead of raised, so that one load finds all of them; `failed` says whether any
    was (the spec compiler, its actions and its signatures share this)."""

    def __init__(self, problem: Callable[[str, str], None]) -> None:
        self._report = problem
        self.failed = False

    def problem(self, path: str, message: str) -> None:
        self.failed = True
        self._report(path, message)

    def expr(self, source: Any, path: str, names: Iterable[str]) -> Expression | None:
        try:
            return compile_expression(source, path, names)
        except TemplateProblem as exc:
            self.problem(path, str(exc))
            return None

    def tmpl(self, source: Any, path: str, names: Iterable[str]) -> TextTemplate | None:
        if not isinstance(source, str):
            self.problem(path, "a template must be a string")
            return None
        try:
            return compile_template(source, path, names)
        except TemplateProblem as exc:
            self.problem(path, str(exc))
            return None


# Compiling is most of a spec's load time, and the same source recurs: a spec extending another
# compiles its base again, one event list shared by several endpoints compiles once per endpoint.
# Compiled Jinja templates are immutable, so the same source (with the same names allowed) is
# compiled once per process; failures are not cached and are raised again for each path.


@lru_cache(maxsize=4096)
def _compiled_expression(
    source: str, allowed: frozenset[str]
) -> tuple[Callable[..., Any], frozenset[tuple[str, ...]]]:
    tree = parse_expression(source)
    _check_tree(tree, allowed)
    try:
        fn = _ENV.compile_expression(source, undefined_to_none=True)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(_syntax_message(exc)) from exc
    return fn, _body_paths(tree)


@lru_cache(maxsize=4096)
def _compiled_template(
    source: str, allowed: frozenset[str]
) -> tuple[Any, frozenset[tuple[str, ...]], frozenset[str]]:
    try:
        tree = _ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(_syntax_message(exc)) from exc
    _check_tree(tree, allowed)
    try:
        template = _ENV.from_string(tree)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(_syntax_message(exc)) from exc
    return template, _body_paths(tree), frozenset(find_undeclared_variables(tree))


@lru_cache(maxsize=1024)
def _group_template(sources: tuple[tuple[str, str], ...]) -> Any:
    """One template assigning each (slot, expression source) pair: an ExpressionGroup's body."""
    assigns: list[nodes.Node] = [
        nodes.Assign(nodes.Name(slot, "store", lineno=1), parse_expression(source), lineno=1)
        for slot, source in sources
    ]
    return _ENV.from_string(nodes.Template(assigns, lineno=1))


def _body_paths(tree: nodes.Node) -> frozenset[tuple[str, ...]]:
    """The body parameters a template reads (`body.a.b` → ("a", "b")), outermost chains only,
    so the engine can leave everything else to `extra`."""
    found: set[tuple[str, ...]] = set()

    def chain(node: nodes.Node) -> tuple[str, ...] | None:
        if isinstance(node, nodes.Name):
            return () if node.name == "body" else None
        if isinstance(node, nodes.Getattr):
            inner = chain(node.node)
            return None if inner is None else (*inner, node.attr)
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            inner = chain(node.node)
            return None if inner is None else (*inner, str(node.arg.value))
        return None

    def walk(node: nodes.Node) -> None:
        if isinstance(node, nodes.Getattr | nodes.Getitem):
            path = chain(node)
            if path:
                found.add(path)
                return
        for child in node.iter_child_nodes():
            walk(child)

    walk(tree)
    return frozenset(found)
