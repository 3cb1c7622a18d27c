"""Generic request authentication a spec declares in its `auth` list: an HMAC signature over a
templated string, a source-address allow-list, a token compared with a channel secret.

The channel key in the URL is checked by the ingress before any of this runs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from providers.templating import TextTemplate, as_list, as_str

__all__ = [
    "AuthFailure",
    "AuthMechanism",
    "HmacSignature",
    "SourceIpAllowlist",
    "TokenField",
    "check_auth",
]


class AuthFailure(Exception):
    """401 (credentials missing or wrong) or 403 (not allowed from here)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class HmacSignature:
    """`header` carries HMAC(`key`, `signed_string`) in `encoding`.

    encoding: "hex", "base64" (of the raw digest) or "base64_hex" (base64 of the lowercase hex
    text, what PHP's `base64_encode(hash_hmac(...))` produces). When `optional_without_key` is
    set and the key renders empty (the channel has no secret), the check is skipped: some PBXs
    sign only when an API secret exists.
    """

    header: str
    signed_string: TextTemplate
    key: TextTemplate
    algorithm: str = "sha1"
    encoding: str = "hex"
    prefix: str = ""
    optional_without_key: bool = False

    def check(self, context: Mapping[str, Any], headers: Mapping[str, str]) -> None:
        key = self.key.render(context)
        if not key:
            if self.optional_without_key:
                return
            raise AuthFailure(401, "the channel has no secret to check the signature with")
        sent = headers.get(self.header.lower())
        if not sent:
            raise AuthFailure(401, f"signature header {self.header} is missing")
        if self.prefix and sent.startswith(self.prefix):
            sent = sent[len(self.prefix) :]
        digest = hmac.new(key.encode(), self.signed_string.render(context).encode(), self.algorithm)
        expected = {
            "hex": digest.hexdigest(),
            "base64": base64.b64encode(digest.digest()).decode(),
            "base64_hex": base64.b64encode(digest.hexdigest().encode()).decode(),
        }[self.encoding]
        if not hmac.compare_digest(expected.encode(), sent.strip().encode()):
            raise AuthFailure(401, f"signature in {self.header} does not match")


@dataclass(frozen=True)
class SourceIpAllowlist:
    """The client address must be inside one of the networks: static ones from the spec plus the
    channel setting named `setting` (a list or comma-separated text). With `setting_replaces`, a
    channel setting that lists networks replaces the static ones instead (the PBX's published
    addresses, unless the channel says otherwise). No network at all → allowed unless
    `deny_when_empty`. Which proxy header yields `client_host` is the ingress's business."""

    networks: tuple[str, ...] = ()
    setting: str | None = None
    deny_when_empty: bool = False
    setting_replaces: bool = False

    def check(self, channel: Any, client_host: str | None) -> None:
        settings = getattr(channel, "settings", {}) or {}
        configured = [*self.networks]
        if self.setting:
            own = [str(n) for n in as_list(settings.get(self.setting))]
            configured = own if own and self.setting_replaces else configured + own
        if not configured:
            if self.deny_when_empty:
                raise AuthFailure(403, "no source networks are allowed for this channel")
            return
        try:
            address = ipaddress.ip_address((client_host or "").strip())
        except ValueError as exc:
            raise AuthFailure(403, f"client address {client_host!r} is not an IP address") from exc
        for network in configured:
            try:
                if address in ipaddress.ip_network(network.strip(), strict=False):
                    return
            except ValueError:
                continue  # a malformed setting entry must not open the gate
        raise AuthFailure(403, f"requests from {address} are not allowed")


@dataclass(frozen=True)
class TokenField:
    """A token sent in the query, the body or a header must equal `secret` (a template, usually
    `{{ channel.secrets.<name> }}`). `aliases`: other names the same token may come under (a
    protocol that documents two spellings); the first name present is the one checked."""

    location: str
    name: str
    secret: TextTemplate
    aliases: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def check(self, context: Mapping[str, Any], headers: Mapping[str, str]) -> None:
        expected = self.secret.render(context)
        if not expected:
            raise AuthFailure(401, "the channel has no token configured")
        source: Mapping[str, Any] = {
            "query": context.get("query") or {},
            "body": context.get("body") or {},
            "header": headers,
        }[self.location]
        sent = next(
            (
                text
                for name in self.names
                if (text := as_str(source.get(name.lower() if self.location == "header" else name)))
            ),
            None,
        )
        if not sent:
            raise AuthFailure(401, f"token {self.name} is missing from the {self.location}")
        if not hmac.compare_digest(expected.encode(), sent.encode()):
            raise AuthFailure(403, f"token {self.name} is wrong")


AuthMechanism = HmacSignature | SourceIpAllowlist | TokenField

SUPPORTED_ALGORITHMS = frozenset({"sha1", "sha256", "sha512", "md5"})
assert SUPPORTED_ALGORITHMS <= hashlib.algorithms_guaranteed


def check_auth(
    mechanisms: tuple[AuthMechanism, ...],
    context: Mapping[str, Any],
    headers: Mapping[str, str],
    client_host: str | None,
) -> None:
    """Every mechanism must pass; raises AuthFailure on the first that does not."""
    for mechanism in mechanisms:
        if isinstance(mechanism, SourceIpAllowlist):
            mechanism.check(context.get("channel"), client_host)
        else:
            mechanism.check(context, headers)
