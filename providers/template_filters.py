"""The filters and tests provider templates may use (`body.talk | as_int`, `is blank`): generic
readings of what PBXs send (numbers as text, null, "", lists as JSON or comma text, local times,
phone numbers) and the pieces of outbound signatures. A value a filter cannot read raises
FilterValueError carrying it, so the engine can name the PBX's field (providers.faults)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote_plus
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Undefined, pass_context
from jinja2.runtime import Context

from contracts.phones import read_phone
from providers.body_limits import BodyError, BodyLimits
from providers.json_text import read_json

__all__ = [
    "FILTERS",
    "TESTS",
    "FilterValueError",
    "as_int",
    "as_list",
    "as_str",
    "b64encode",
    "digest_hex",
    "digits",
    "e164",
    "from_json",
    "hmac_hex",
    "is_blank",
    "local_time",
    "query_string",
    "short_number",
    "time_text",
    "unix_time",
]

# Strings PBX body templates produce for "no value": an empty placeholder, or `null` rendered
# inside quotes by a customer who wrapped the placeholder in quotes (PROTOCOLS.md §1.1).
_BLANK_STRINGS = frozenset({"", "null"})
# JSON text inside a field (from_json, as_list) is read with the bounds of a JSON body
_JSON_LIMITS = BodyLimits()
_INT_TEXT = re.compile(r"[+-]?\d+(?:\.0*)?")
# Longer integer text is no PBX's number, and int() of it costs quadratic time (Python refuses
# over 4300 digits with a ValueError that would read as a spec bug): the value's fault.
_MAX_INT_DIGITS = 100


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
    pbxhub's one reader of numbers (contracts.phones); None when it is no phone number.

    Keep the raw value separately (`as_str`): a number we cannot parse is still evidence.
    """
    return read_phone(as_str(value), country or _channel_attr(context, "country", None))


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        # the zone is the spec's or the channel's, not the PBX's value the filter was handed
        raise FilterValueError(f"unknown time zone {name!r}", name) from exc


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
