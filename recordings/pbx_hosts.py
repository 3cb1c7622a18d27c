"""The private addresses a channel's PBX may be reached at: `settings.allowed_pbx_hosts`, an
explicit list of exact `host:port` entries an on-premises PBX needs (its API, its recording
files), read and checked in one place. Anything not listed must be a public address."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any, Final

__all__ = [
    "ALLOWED_PBX_HOSTS_SETTING",
    "HostPort",
    "allowed_pbx_hosts",
    "check_pbx_host_settings",
    "host_port",
]

ALLOWED_PBX_HOSTS_SETTING: Final = "allowed_pbx_hosts"
# (host as the guard compares it: lower-case IDNA name or canonical IP, port)
HostPort = tuple[str, int]
_NAME: Final = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
_ENTRY: Final = re.compile(r"^(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:\[\]]+)):(?P<port>\d{1,5})$")


def host_port(entry: str) -> HostPort:
    """`host:port` (`[v6]:port` for IPv6) in the form the guard compares; ValueError when it is
    not exactly one host and one port (no scheme, no path, no wildcard)."""
    match = _ENTRY.match(entry.strip().lower())
    if match is None:
        raise ValueError(
            f"{entry!r} is not host:port (an exact host and port, e.g. 10.0.0.5:8080 or "
            "[fd00::5]:443; no scheme, no path)"
        )
    port = int(match["port"])
    if not 0 < port < 65536:
        raise ValueError(f"{entry!r}: the port must be 1 to 65535")
    host = (match["v6"] or match["host"] or "").rstrip(".")
    try:
        return str(ipaddress.ip_address(host)), port
    except ValueError:
        if match["v6"]:
            raise ValueError(f"{entry!r}: {host!r} in brackets is not an IPv6 address") from None
    try:
        name = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        name = ""
    if not _NAME.match(name):
        raise ValueError(f"{entry!r}: {host!r} is not a host name or an IP address")
    return name, port


def allowed_pbx_hosts(settings: Mapping[str, Any]) -> frozenset[HostPort]:
    """The channel's allow-list; an entry that does not read (never saved so) counts for
    nothing rather than for everything."""
    entries = settings.get(ALLOWED_PBX_HOSTS_SETTING) or ()
    if isinstance(entries, str):
        entries = entries.split(",")
    allowed: set[HostPort] = set()
    for entry in entries if isinstance(entries, list | tuple) else ():
        try:
            allowed.add(host_port(str(entry)))
        except ValueError:
            continue
    return frozenset(allowed)


def check_pbx_host_settings(settings: Mapping[str, Any]) -> None:
    """ValueError naming the setting when the allow-list is not a list of exact host:port."""
    entries = settings.get(ALLOWED_PBX_HOSTS_SETTING)
    if entries is None:
        return
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise ValueError(f"{ALLOWED_PBX_HOSTS_SETTING} must be a list of host:port strings")
    for entry in entries:
        try:
            host_port(entry)
        except ValueError as error:
            raise ValueError(f"{ALLOWED_PBX_HOSTS_SETTING}: {error}") from None
