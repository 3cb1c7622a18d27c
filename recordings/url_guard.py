"""Which addresses pbxhub may send a request to: the SSRF guard, as decisions, for recording
links and for the PBX's own API alike (`pbx_url`, `api_url`, ...: addresses an admin sets).

A link is fetched only over http(s), from a host the provider (or the channel) allows, and only
when every address its name resolves to is public, unless the channel lists its exact host:port
(`settings.allowed_pbx_hosts`, an on-premises PBX on a private address). The name is resolved
once, here, and the caller connects to exactly the address vetted (see `VettedLink.dial_url`),
so a second DNS answer cannot point the connection elsewhere (DNS rebinding). Every redirect is
vetted again the same way.

No I/O but the resolver handed in, so tests can put any address behind any name without a
connection being attempted.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from recordings.pbx_hosts import ALLOWED_PBX_HOSTS_SETTING, HostPort

__all__ = [
    "LinkPolicy",
    "LinkRefused",
    "LinkUnresolved",
    "Resolver",
    "VettedLink",
    "address_problem",
    "check_link",
    "host_allowed",
    "normalize_host_pattern",
    "system_resolver",
    "vet_link",
]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host name, port) → the addresses it resolves to, as strings; raises socket.gaierror
Resolver = Callable[[str, int], Sequence[str]]

SCHEMES: Final = ("http", "https")
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
# RFC 6598 shared address space (carrier-grade NAT): not private by `ipaddress`, not public.
_CGNAT: Final = ipaddress.IPv4Network("100.64.0.0/10")
# RFC 6052 / RFC 8215 NAT64 prefixes: the last 32 bits are an IPv4 address.
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL: Final = ipaddress.IPv6Network("64:ff9b:1::/48")
# What inet_aton reads as IPv4 besides dotted quads: 127.1, 2130706433, 0x7f000001, 0177.0.0.1.
_NUMERIC_HOST: Final = re.compile(r"^[0-9a-fx.]+$")
# Address problems an on-premises PBX may have (so the refusal says how to allow it).
_PBX_MAY_BE_THERE: Final = frozenset({"private_address", "loopback", "cgnat"})
_HOST_PATTERN: Final = re.compile(
    r"^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$"
)


class LinkRefused(Exception):
    """The link must not be fetched; `code` names the rule (for counting), `reason` says why in
    words a person can act on."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class LinkUnresolved(Exception):
    """The host's name could not be resolved right now (a temporary DNS failure): try again."""


@dataclass(frozen=True)
class LinkPolicy:
    """What a channel's requests may point at.

    `hosts`: the allow-list of recording hosts, exact names ("media.uiscom.ru"),
    one-level-or-more wildcards ("*.uiscom.ru", which does not match "uiscom.ru" itself) or IP
    literals; `any_host` drops it (the PBX's API, at an address the admin set). `private_hosts`:
    the channel's exact (host, port) pairs that may be on any address, loopback and private
    included (an on-premises PBX); nothing else ever reaches a non-public address.
    """

    hosts: tuple[str, ...] = ()
    private_hosts: frozenset[HostPort] = frozenset()
    any_host: bool = False


@dataclass(frozen=True)
class VettedLink:
    """A link that passed: where to connect (`address`), and the name it is for."""

    url: str
    scheme: str
    # the name as the server knows it (Host header, TLS SNI and certificate check)
    host: str
    port: int
    address: str
    # path and query, as given
    target: str

    @property
    def host_header(self) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        if self.port == _DEFAULT_PORTS[self.scheme]:
            return shown
        return f"{shown}:{self.port}"

    @property
    def dial_url(self) -> str:
        """The link with the vetted address in place of the name: connecting to it cannot
        resolve the name a second time."""
        address = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{address}:{self.port}{self.target}"


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for the name (once, in its order)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def normalize_host_pattern(pattern: str) -> str:
    """An allow-list entry in the form `host_allowed` compares: lower case, IDNA, canonical IP.

    Raises ValueError for anything that is not a host name, a `*.` wildcard or an IP literal.
    """
    text = pattern.strip().lower().rstrip(".")
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    literal = _ip_literal(text)
    if literal is not None:
        return str(literal)
    wildcard = text.startswith("*.")
    name = _idna(text[2:] if wildcard else text)
    if name is None or not _HOST_PATTERN.match(("*." if wildcard else "") + name):
        raise ValueError(f"{pattern!r} is not a host name, a *.wildcard or an IP address")
    return ("*." if wildcard else "") + name


def host_allowed(host: str, patterns: Iterable[str]) -> bool:
    """Whether the (normalized) host matches an allow-list entry; IP literals match only
    themselves, never a wildcard."""
    literal = _ip_literal(host) is not None
    for raw in patterns:
        try:
            pattern = normalize_host_pattern(raw)
        except ValueError:
            continue
        if pattern == host:
            return True
        if not literal and pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
    return False


def address_problem(address: Address) -> str | None:
    """Why pbxhub must not connect to this address ("a private address"), or None when it is
    public. IPv4 addresses embedded in IPv6 forms (mapped, 6to4, NAT64) are judged as what
    they embed."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded, form = _embedded_ipv4(address)
        if embedded is not None:
            inner = address_problem(embedded)
            if inner is not None:
                return f"{form} form of {inner} ({embedded})"
        if address in _NAT64_LOCAL:
            return "a local-use NAT64 address"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return "a carrier-grade NAT address (100.64.0.0/10)"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "a site-local address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "not a public address"
    return None


def check_link(url: str, policy: LinkPolicy) -> VettedLink | None:
    """What can be decided without a lookup: the scheme, the host against the allow-lists, an
    address written in the link. Raises LinkRefused; returns the link pinned to its address
    when it names one (nothing is left to resolve), else None."""
    scheme, host, port, target = _parse(url)
    literal = _ip_literal(host)
    if literal is not None:
        host = str(literal)
    # The channel named this very host and port: any address, no other allow-list.
    listed = (host, port) in policy.private_hosts
    if literal is not None:
        # No name to resolve: judge the address itself, whatever the allow-list says.
        problem = None if listed else address_problem(literal)
        if problem is not None:
            code = _code(problem)
            raise LinkRefused(code, f"{host} is {problem}{_hint(code, host, port)}")
        if not (listed or policy.any_host or host_allowed(host, policy.hosts)):
            raise LinkRefused("host_not_allowed", _not_allowed(host, policy))
        return VettedLink(url, scheme, host, port, host, target)
    if (host == "localhost" or host.endswith(".localhost")) and not listed:
        raise LinkRefused(
            "loopback",
            f"{host} names this machine (a loopback address){_hint('loopback', host, port)}",
        )
    # The allow-list first: a name nobody allowed is not even looked up.
    if not (listed or policy.any_host or host_allowed(host, policy.hosts)):
        raise LinkRefused("host_not_allowed", _not_allowed(host, policy))
    return None


def vet_link(url: str, policy: LinkPolicy, resolve: Resolver = system_resolver) -> VettedLink:
    """The link, checked and pinned to one address; raises LinkRefused (never worth a retry)
    or LinkUnresolved (a temporary DNS failure)."""
    pinned = check_link(url, policy)
    if pinned is not None:
        return pinned
    scheme, host, port, target = _parse(url)
    listed = (host, port) in policy.private_hosts
    try:
        found = list(resolve(host, port))
    except socket.gaierror as error:
        if error.errno == socket.EAI_AGAIN:
            raise LinkUnresolved(f"{host} could not be resolved now: {error}") from None
        raise LinkRefused("unresolvable", f"{host} does not resolve ({error})") from None
    if not found:
        raise LinkRefused("unresolvable", f"{host} resolves to no address")
    addresses: list[Address] = []
    for text in found:
        try:
            # a scope ("fe80::1%eth0") only ever comes with link-local addresses
            addresses.append(ipaddress.ip_address(text.split("%", 1)[0]))
        except ValueError:
            raise LinkRefused("unresolvable", f"{host} resolves to {text!r}") from None
    # Any bad answer refuses the name: which one a connection would use is not ours to pick.
    for address in addresses if not listed else ():
        problem = address_problem(address)
        if problem is not None:
            raise LinkRefused(
                _code(problem),
                f"{host} resolves to {address}, {problem}{_hint(_code(problem), host, port)}",
            )
    return VettedLink(url, scheme, host, port, str(addresses[0]), target)


def _parse(url: str) -> tuple[str, str, int, str]:
    if any(c.isspace() or ord(c) < 0x20 or c == "\\" for c in url):
        raise LinkRefused("malformed", "the link has spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise LinkRefused("malformed", f"the link is not a URL: {error}") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise LinkRefused(
            "scheme", f"only http and https links are fetched, not {scheme or 'no scheme'!r}"
        )
    if parts.username is not None or parts.password is not None:
        raise LinkRefused("credentials", "the link carries a user name or password")
    raw = (parts.hostname or "").rstrip(".")
    if not raw:
        raise LinkRefused("malformed", "the link names no host")
    host = raw if _ip_literal(raw) is not None else _idna(raw)
    if host is None:
        raise LinkRefused("malformed", f"{raw!r} is not a host name")
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    return scheme, host, port or _DEFAULT_PORTS[scheme], target


def _ip_literal(host: str) -> Address | None:
    """The address a host written as an IP literal means, in any spelling inet_aton reads."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_HOST.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _idna(name: str) -> str | None:
    try:
        return name.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None


def _embedded_ipv4(
    address: ipaddress.IPv6Address,
) -> tuple[ipaddress.IPv4Address | None, str]:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped, "the IPv4-mapped"
    if address.sixtofour is not None:
        return address.sixtofour, "the 6to4"
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), "the NAT64"
    if address.teredo is not None:
        return address.teredo[1], "the Teredo"
    return None, ""


def _code(problem: str) -> str:
    """A short, countable name for an address problem."""
    for word, code in (
        ("form of", "embedded_address"),
        ("unspecified", "unspecified"),
        ("loopback", "loopback"),
        ("link-local", "link_local"),
        ("multicast", "multicast"),
        ("carrier-grade", "cgnat"),
        ("site-local", "private_address"),
        ("private", "private_address"),
        ("reserved", "reserved"),
    ):
        if word in problem:
            return code
    return "not_public"


def _hint(code: str, host: str, port: int) -> str:
    """What an admin does about it, where a PBX may really be (a private network, this
    machine): never for link-local, multicast or reserved addresses, where no PBX is."""
    if code not in _PBX_MAY_BE_THERE:
        return ""
    shown = f"[{host}]" if ":" in host else host
    return (
        f"; if this is the channel's own PBX on a private network, allow it by its exact "
        f'address: settings.{ALLOWED_PBX_HOSTS_SETTING}: ["{shown}:{port}"]'
    )


def _not_allowed(host: str, policy: LinkPolicy) -> str:
    allowed = ", ".join(policy.hosts) if policy.hosts else "none"
    return (
        f"{host} is not an allowed recording host (allowed: {allowed}); "
        "add it to the channel's recording_hosts if the PBX really keeps recordings there"
    )
