"""Generic request authentication a spec declares in its `auth` list: a signature or token
(providers.signatures: HMAC, plain digest or shared token, with an optional freshness check) and
a source-address allow-list. A wrong signature is 401, a source not allowed 403.

The channel key in the URL is checked by the ingress before any of this runs."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from providers.signatures import Signature, SignatureRefused
from providers.template_filters import as_list

__all__ = [
    "AuthFailure",
    "AuthMechanism",
    "SIGNATURE_REFUSED_STATUS",
    "Signature",
    "SourceIpAllowlist",
    "check_auth",
]


class AuthFailure(Exception):
    """401 (credentials missing or wrong) or 403 (not allowed from here)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


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


AuthMechanism = Signature | SourceIpAllowlist

# A signature or token that is missing, wrong, stale or uncheckable gets one status, whatever
# the mechanism: the PBX (and whoever reads the log) learns "not authenticated", nothing more.
SIGNATURE_REFUSED_STATUS = 401


def check_auth(
    mechanisms: tuple[AuthMechanism, ...],
    context: Mapping[str, Any],
    headers: Mapping[str, str],
    client_host: str | None,
) -> None:
    """Every mechanism must pass; raises AuthFailure on the first that does not (EvaluationError
    when a spec template fails)."""
    for mechanism in mechanisms:
        if isinstance(mechanism, SourceIpAllowlist):
            mechanism.check(context.get("channel"), client_host)
            continue
        try:
            mechanism.check(context, headers)
        except SignatureRefused as refused:
            raise AuthFailure(SIGNATURE_REFUSED_STATUS, refused.message) from None
