"""The `signature` auth mechanism: a signature or a shared token a PBX sends in a header, a query
parameter or a body field, checked against what the spec says it is computed from (an HMAC, a
plain digest over a template that includes the channel's secret, or the token as is), and, for
PBXs that sign a time, how fresh that time must be (so a captured signature cannot be replayed
later). Every refusal here is the same kind of refusal (the ingress answers 401)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from providers.template_filters import as_int, as_str, is_blank
from providers.templating import (
    AUTH_NAMES,
    EvaluationError,
    Expression,
    TemplateCollector,
    TextTemplate,
)

__all__ = [
    "DEFAULT_FUTURE_SECONDS",
    "DEFAULT_MAX_AGE_SECONDS",
    "DIGESTS",
    "ENCODINGS",
    "SIGNATURE_KINDS",
    "LOCATIONS",
    "Freshness",
    "Signature",
    "SignatureRefused",
    "compile_signature",
]

# md5 and sha1 only because PBXs sign with them; "none" is a shared token compared as sent
DIGESTS: Final = ("md5", "sha1", "sha256", "sha512", "none")
assert frozenset(DIGESTS) - {"none"} <= hashlib.algorithms_guaranteed
# base64_hex: base64 of the lowercase hex text (PHP's base64_encode(hash_hmac(...)))
ENCODINGS: Final = ("hex", "base64", "base64_hex")
LOCATIONS: Final = ("header", "query", "body")
# The longest call pbxhub waits for (PBXHUB_MAX_CALL_SECONDS' default), should no caller say.
DEFAULT_MAX_AGE_SECONDS: Final = 4 * 60 * 60
# A signed time this far ahead of our clock is the PBX's clock, not a forgery.
DEFAULT_FUTURE_SECONDS: Final = 300


class SignatureRefused(Exception):
    """The request is not signed as its spec says: `message` says why, never with a secret."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Freshness:
    """A signed time (`signed_at`: an expression giving an aware datetime, e.g. `body.call_start
    | local_time`, or unix seconds) must be at most `max_age_seconds` old (None: the longest call
    pbxhub waits for, the channel context's `max_call_seconds`) and at most `future_seconds`
    ahead of when the request was received. The channel setting named `setting`, when it holds
    a whole number, replaces the max age (0: no freshness check on that channel)."""

    signed_at: Expression
    max_age_seconds: int | None = None
    future_seconds: int = DEFAULT_FUTURE_SECONDS
    setting: str | None = None

    def check(self, context: Mapping[str, Any]) -> None:
        received_at = context.get("received_at")
        if not isinstance(received_at, datetime):
            return  # nobody received it (a spec example without received_at): no clock to judge
        max_age = self._max_age(context.get("channel"))
        if max_age == 0:
            return
        signed_at = self._signed_at(context)
        age = (received_at - signed_at).total_seconds()
        if age > max_age:
            raise SignatureRefused(
                f"the signed time ({self.signed_at.source.strip()}) is {_span(age)} old, more "
                f"than the {_span(max_age)} a signature is accepted for: a replayed signature"
            )
        if -age > self.future_seconds:
            raise SignatureRefused(
                f"the signed time ({self.signed_at.source.strip()}) is {_span(-age)} ahead of "
                f"pbxhub's clock (at most {_span(self.future_seconds)} is tolerated): check "
                "the channel's time zone"
            )

    def _max_age(self, channel: Any) -> int:
        if self.setting:
            settings = getattr(channel, "settings", None) or {}
            try:
                configured = as_int(settings.get(self.setting))
            except ValueError:
                configured = None  # not a number: the spec's limit stands, not none at all
            if configured is not None and configured >= 0:
                return configured
        if self.max_age_seconds is not None:
            return self.max_age_seconds
        limit = getattr(channel, "max_call_seconds", None)
        return limit if isinstance(limit, int) and limit > 0 else DEFAULT_MAX_AGE_SECONDS

    def _signed_at(self, context: Mapping[str, Any]) -> datetime:
        shown = self.signed_at.source.strip()
        try:
            value = self.signed_at.evaluate(context)
        except EvaluationError as exc:
            reason = f"the signed time ({shown}) cannot be read: {exc.message}"
            raise SignatureRefused(reason) from exc
        if is_blank(value):
            raise SignatureRefused(f"the request carries no signed time ({shown})")
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise SignatureRefused(
                    f"the signed time ({shown}) has no time zone: read it with local_time"
                )
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                return datetime.fromtimestamp(value, UTC)
            except (OverflowError, OSError, ValueError):
                raise SignatureRefused(f"the signed time ({shown}) is out of range") from None
        raise SignatureRefused(f"the signed time ({shown}) is not a time: {str(value)[:40]!r}")


@dataclass(frozen=True)
class Signature:
    """The value sent under `name` (or one of `aliases`, the first present) in `location` must
    equal what `signed_string` computes to: its HMAC under `key`, or its plain `algorithm`
    digest when there is no key (the template then contains the secret: `requires` names it),
    written in `encoding`; with `algorithm` "none" the rendered text itself (a shared token).
    `prefix` ("sha256=", "Bearer ") is stripped from the value sent.

    A channel lacking the secret (`key`, the token, or a `requires` expression blank) refuses
    every request, unless `optional_without_key`: then nothing is checked (a PBX that signs only
    once an API secret is set). Compared in constant time; hex case-insensitively."""

    location: str
    name: str
    signed_string: TextTemplate
    algorithm: str
    key: TextTemplate | None = None
    encoding: str = "hex"
    prefix: str = ""
    aliases: tuple[str, ...] = ()
    requires: tuple[Expression, ...] = ()
    optional_without_key: bool = False
    freshness: Freshness | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    @property
    def what(self) -> str:
        return "token" if self.algorithm == "none" else "signature"

    def check(self, context: Mapping[str, Any], headers: Mapping[str, str]) -> None:
        """Raises SignatureRefused; EvaluationError when a template fails (the spec's fault)."""
        key = self.key.render(context) if self.key is not None else ""
        missing = self._missing_secret(context, key)
        if missing is not None:
            if self.optional_without_key:
                return
            if missing == "token":
                raise SignatureRefused("the channel has no token to compare the one sent with")
            raise SignatureRefused(f"the channel has no {missing} to check the {self.what} with")
        sent = self._sent(context, headers)
        if not sent:
            raise SignatureRefused(f"{self.what} {self._where} is missing")
        if self.prefix and sent.startswith(self.prefix):
            sent = sent[len(self.prefix) :].strip()
        expected = self._expected(self.signed_string.render(context), key)
        if self.encoding == "hex" and self.algorithm != "none":
            sent = sent.lower()
        if not hmac.compare_digest(expected.encode(), sent.encode()):
            wrong = "is wrong" if self.algorithm == "none" else "does not match"
            raise SignatureRefused(f"{self.what} {self._where} {wrong}")
        if self.freshness is not None:
            self.freshness.check(context)

    @property
    def _where(self) -> str:
        where = {"header": "header", "query": "query parameter", "body": "body field"}
        return f"{where[self.location]} {self.name}"

    def _missing_secret(self, context: Mapping[str, Any], key: str) -> str | None:
        if self.key is not None and not key:
            return "secret"
        for expression in self.requires:
            if is_blank(expression.evaluate(context)):
                return expression.source.strip().removeprefix("channel.")
        if self.algorithm == "none" and not self.signed_string.render(context):
            return "token"
        return None

    def _sent(self, context: Mapping[str, Any], headers: Mapping[str, str]) -> str | None:
        source = headers if self.location == "header" else context.get(self.location)
        if not isinstance(source, Mapping):
            return None  # a JSON body that is a list has no field to carry it
        for name in self.names:
            value = source.get(name.lower() if self.location == "header" else name)
            text = as_str(value) if isinstance(value, str | int | float) else None
            if text:
                return text
        return None

    def _expected(self, text: str, key: str) -> str:
        if self.algorithm == "none":
            return text
        if self.key is not None:
            raw = hmac.new(key.encode(), text.encode(), self.algorithm).digest()
        else:
            raw = hashlib.new(self.algorithm, text.encode()).digest()
        if self.encoding == "base64":
            return base64.b64encode(raw).decode()
        if self.encoding == "base64_hex":
            return base64.b64encode(raw.hex().encode()).decode()
        return raw.hex()


def _span(seconds: float) -> str:
    """3725 → "1:02:05"; how old a signed time is, as a person reads it."""
    return str(timedelta(seconds=round(abs(seconds))))


# The kinds a spec's `auth` item may name for this mechanism: `signature`, and the two older
# spellings it generalises, still loaded (documented as shorthands in the meta-schema).
SIGNATURE_KINDS: Final = ("signature", "hmac_signature", "token_field")


def compile_signature(
    document: Mapping[str, Any], path: str, problem: Callable[[str, str], None]
) -> Signature | None:
    """Compile one `auth` item of a signature kind (already valid against the meta-schema);
    every problem goes to `problem(path, message)`, and None is returned when there was any."""
    item = _as_signature(document)
    c = TemplateCollector(problem)

    def tmpl(field: str) -> TextTemplate | None:
        return c.tmpl(str(item[field]), f"{path}.{_spelling(document, field)}", AUTH_NAMES)

    def expr(source: Any, where: str) -> Expression | None:
        return c.expr(source, where, AUTH_NAMES)

    algorithm = str(item["algorithm"])
    signed = tmpl("signed_string")
    key = tmpl("key") if "key" in item else None
    requires = tuple(
        expr(source, f"{path}.requires[{i}]") for i, source in enumerate(item.get("requires", ()))
    )
    if algorithm == "none" and ("key" in item or "encoding" in item):
        c.problem(path, "algorithm none compares the token as sent: it takes no key or encoding")
    if algorithm != "none" and "key" not in item and not requires:
        c.problem(
            f"{path}.requires",
            "a plain digest is only as secret as what it covers: list the channel secrets "
            "signed_string includes (requires: [channel.secrets.<name>]), so that a channel "
            "without them refuses instead of accepting a digest anyone can compute",
        )
    freshness = None
    if "freshness" in item:
        fresh = item["freshness"]
        signed_at = expr(fresh["signed_at"], f"{path}.freshness.signed_at")
        if signed_at is not None:
            freshness = Freshness(
                signed_at=signed_at,
                max_age_seconds=fresh.get("max_age_seconds"),
                future_seconds=int(fresh.get("future_seconds", DEFAULT_FUTURE_SECONDS)),
                setting=fresh.get("setting"),
            )
    if c.failed or signed is None:
        return None
    return Signature(
        location=str(item.get("in", "header")),
        name=str(item["name"]),
        signed_string=signed,
        algorithm=algorithm,
        key=key,
        encoding=str(item.get("encoding", "hex")),
        prefix=str(item.get("prefix", "")),
        aliases=tuple(str(a) for a in item.get("aliases", ())),
        requires=tuple(e for e in requires if e is not None),
        optional_without_key=bool(item.get("optional_without_key", False)),
        freshness=freshness,
    )


def _as_signature(document: Mapping[str, Any]) -> dict[str, Any]:
    """An `auth` item in the `signature` spelling, whichever of KINDS it was written in."""
    item = dict(document)
    kind = item.pop("kind")
    if kind == "hmac_signature":
        item["in"] = "header"
        item["name"] = item.pop("header")
        item.setdefault("algorithm", "sha1")
    elif kind == "token_field":
        item["signed_string"] = item.pop("secret")
        item["algorithm"] = "none"
    return item


def _spelling(document: Mapping[str, Any], field: str) -> str:
    """The name a field has in the spec as written (a token_field's token is its `secret`)."""
    return "secret" if document.get("kind") == "token_field" and field == "signed_string" else field
