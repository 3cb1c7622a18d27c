"""The sandboxed Jinja2 that provider specs are written in: one environment, the generic filters
the specs use, and the load-time checks that turn a spec's typo into an error before any request."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import quote_plus
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import ChainableUndefined, TemplateSyntaxError, Undefined, nodes, pass_context
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.meta import find_undeclared_variables
from jinja2.parser import Parser
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from providers.body_limits import BodyError, BodyLimits
from providers.json_text import read_json
from providers.phones import read_phone

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
    "FilterValueError",
    "TemplateProblem",
    "TextTemplate",
    "compile_expression",
    "compile_template",
    "environment",
    "is_blank",
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

# Strings PBX body templates produce for "no value": an empty placeholder, or `null` rendered
# inside quotes by a customer who wrapped the placeholder in quotes (PROTOCOLS.md §1.1).
_BLANK_STRINGS = frozenset({"", "null"})
# JSON text inside a field (from_json, as_list) is read with the bounds of a JSON body
_JSON_LIMITS = BodyLimits()
_INT_TEXT = re.compile(r"[+-]?\d+(?:\.0*)?")
# Longer integer text is no PBX's number, and int() of it costs quadratic time (Python refuses
# over 4300 digits with a ValueError that would read as a spec bug): the value's fault.
_MAX_INT_DIGITS = 100


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


_NO_VALUE: Any = object()


class FilterValueError(ValueError):
    """A filter was handed a value it cannot convert; `value` is that value (set by the
    environment for every filter a template calls)."""

    def __init__(self, message: str, value: Any = _NO_VALUE) -> None:
        super().__init__(message)
        self.value = value

    @property
    def has_value(self) -> bool:
        return self.value is not _NO_VALUE


def is_blank(value: Any) -> bool:
    """True for what a PBX means as "no value": missing, null, "" or the text "null"."""
    if value is None or isinstance(value, Undefined):
        return True
    return isinstance(value, str) and value.strip().lower() in _BLANK_STRINGS


# ---------------------------------------------------------------------------------------------
# Filters. Each accepts the template quirks of PBX bodies: numbers as strings, null, "", lists as
# JSON or comma-separated text. A value that still cannot be converted raises FilterValueError:
# the per-event JSON Schema should have refused it, so reaching here is a spec bug.


def as_int(value: Any) -> int | None:
    """12, "12", "12.0" → 12; null, "" → None."""
    if is_blank(value):
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()):
        whole = value.strip().split(".")[0]
        if len(whole.lstrip("+-")) > _MAX_INT_DIGITS:
            raise FilterValueError(f"not an integer of at most {_MAX_INT_DIGITS} digits")
        return int(whole)
    raise FilterValueError(f"not an integer: {value!r}")


def as_str(value: Any) -> str | None:
    """A trimmed string; numbers without ".0"; lists and objects as JSON; blank → None."""
    if is_blank(value):
        return None
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(_plain(value), ensure_ascii=False)
    return str(value)


def as_list(value: Any) -> list[Any]:
    """A list from a JSON list, a JSON-encoded list, "a, b" text, a scalar, or blank (→ [])."""
    if is_blank(value):
        return []
    if isinstance(value, list | tuple):
        return [item for item in value if not is_blank(item)]
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                decoded = read_json(text, _JSON_LIMITS, what="the text")
            except BodyError as exc:
                raise FilterValueError(f"not a JSON list: {exc.message}") from exc
            return as_list(decoded if isinstance(decoded, list) else [decoded])
        return [part.strip() for part in text.split(",") if not is_blank(part)]
    if isinstance(value, Mapping):
        raise FilterValueError(f"an object is not a list: {value!r}")
    return [value]


def digits(value: Any) -> str | None:
    """Only the digits of a value ("+7 (916) 123" → "7916123"); None when there are none."""
    text = as_str(value)
    if text is None:
        return None
    only = re.sub(r"\D", "", text)
    return only or None


def short_number(value: Any, max_digits: int = 5) -> str | None:
    """The value when it looks like an internal extension (1..max_digits digits), else None."""
    text = as_str(value)
    if text is None or not text.isdigit() or not 1 <= len(text) <= max_digits:
        return None
    return text


@pass_context
def e164(context: Context, value: Any, country: str | None = None) -> str | None:
    """The number in E.164 ("+79161234567"), read with the channel's country (or `country`) by
    pbxhub's one reader of numbers (providers.phones); None when it is no phone number.

    Keep the raw value separately (`as_str`): a number we cannot parse is still evidence.
    """
    return read_phone(as_str(value), country or _channel_attr(context, "country", None))


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise FilterValueError(f"unknown time zone {name!r}") from exc


@pass_context
def local_time(
    context: Context, value: Any, fmt: str | None = None, tz: str | None = None
) -> datetime | None:
    """A PBX time → aware UTC datetime. Without an offset the time is read in the channel's IANA
    zone (DST included); an explicit offset ("...+03:00", "Z") wins. `fmt` is a strptime format
    for PBXs that do not send "YYYY-MM-DD hh:mm:ss[.ffffff]" or ISO 8601.
    """
    if is_blank(value):
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            moment = datetime.strptime(text, fmt) if fmt else datetime.fromisoformat(text)
        except ValueError as exc:
            raise FilterValueError(f"not a date-time: {value!r}") from exc
    else:
        raise FilterValueError(f"not a date-time: {value!r}")
    if moment.tzinfo is None:
        # fold=0: an ambiguous wall time in the autumn DST overlap is read as the first one.
        moment = moment.replace(tzinfo=_zone(tz or _channel_attr(context, "timezone", "UTC")))
    return moment.astimezone(UTC)


def unix_time(value: Any, unit: str = "s") -> datetime | None:
    """Unix seconds (or milliseconds with unit="ms") → aware UTC datetime."""
    if is_blank(value):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise FilterValueError(f"not a unix time: {value!r}") from exc
    if unit == "ms":
        number /= 1000
    try:
        return datetime.fromtimestamp(number, UTC)
    except (OverflowError, OSError, ValueError) as exc:  # a PBX's value, not a spec bug
        raise FilterValueError(f"unix time out of range: {value!r}") from exc


def from_json(value: Any) -> Any:
    """Decode a JSON-encoded string (blank → None)."""
    if is_blank(value):
        return None
    if not isinstance(value, str):
        return value
    try:
        return read_json(value, _JSON_LIMITS, what="the text")  # bounded like a JSON body
    except BodyError as exc:
        raise FilterValueError(f"not JSON within bounds: {exc.message}") from exc


@pass_context
def time_text(
    context: Context,
    value: Any,
    fmt: str = "%Y-%m-%d %H:%M:%S",
    shift_seconds: int = 0,
    tz: str | None = None,
) -> str | None:
    """A moment (datetime or ISO 8601 text) as a PBX API wants it: `fmt` on the wall clock of
    the channel's zone (or `tz`), moved by `shift_seconds` (e.g. a search window around a call)."""
    if is_blank(value):
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError as exc:
            raise FilterValueError(f"not a date-time: {value!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    zone = _zone(tz or _channel_attr(context, "timezone", "UTC"))
    return (moment + timedelta(seconds=int(shift_seconds))).astimezone(zone).strftime(fmt)


# Outbound requests some PBX APIs sign (Zadarma: base64 of a hex HMAC-SHA1 over the method path,
# the query and the query's MD5): the pieces, so a spec can spell its PBX's recipe.
_DIGESTS = frozenset({"md5", "sha1", "sha256", "sha512"})


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    text = as_str(value)
    return (text or "").encode()


def digest_hex(value: Any, algorithm: str = "md5") -> str:
    """The hex digest of the value's UTF-8 text ("md5", "sha1", "sha256", "sha512")."""
    if algorithm not in _DIGESTS:
        raise FilterValueError(f"unknown digest {algorithm!r}")
    return hashlib.new(algorithm, _bytes(value)).hexdigest()


def hmac_hex(value: Any, key: Any, algorithm: str = "sha1") -> str:
    """The lowercase hex HMAC of the value's text under `key` (PHP's hash_hmac)."""
    if algorithm not in _DIGESTS:
        raise FilterValueError(f"unknown digest {algorithm!r}")
    if is_blank(key):
        raise FilterValueError("no key to sign with: set the channel's secret")
    return hmac.new(_bytes(key), _bytes(value), algorithm).hexdigest()


def b64encode(value: Any) -> str:
    """Base64 of the value's UTF-8 text."""
    return base64.b64encode(_bytes(value)).decode("ascii")


def query_string(value: Any) -> str:
    """A mapping (or a list of pairs, e.g. `| dictsort` for PHP's ksort) as an
    application/x-www-form-urlencoded query, spaces as "+" (PHP's http_build_query); blank
    values are kept as empty."""
    pairs = value.items() if isinstance(value, Mapping) else value
    try:
        items = [(str(k), "" if is_blank(v) else as_str(v) or "") for k, v in pairs]
    except (TypeError, ValueError) as exc:
        raise FilterValueError(f"not a mapping or a list of pairs: {value!r}") from exc
    return "&".join(f"{_php_quote(k)}={_php_quote(v)}" for k, v in items)


def _php_quote(text: str) -> str:
    # PHP's urlencode leaves only letters, digits and "-_." as they are: "~" too is escaped
    return quote_plus(text).replace("~", "%7E")


def _channel_attr(context: Context, name: str, default: Any) -> Any:
    channel = context.get("channel")
    value = getattr(channel, name, None) if channel is not None else None
    return value or default


def _plain(value: Any) -> Any:
    """Mappings and tuples as plain dicts and lists, for JSON encoding."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


FILTERS: dict[str, Callable[..., Any]] = {
    "as_int": as_int,
    "as_str": as_str,
    "as_list": as_list,
    "digits": digits,
    "short_number": short_number,
    "e164": e164,
    "local_time": local_time,
    "unix_time": unix_time,
    "from_json": from_json,
    "time_text": time_text,
    "digest_hex": digest_hex,
    "hmac_hex": hmac_hex,
    "b64encode": b64encode,
    "query_string": query_string,
}
TESTS: dict[str, Callable[..., bool]] = {"blank": is_blank}

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
