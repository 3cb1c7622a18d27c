"""The address a webhook came from, behind reverse proxies: which header to believe, and from whom.

A PBX that authenticates by source address only (Binotel) makes this a security boundary: the
header is believed only when the TCP peer is one of our own proxies, and in a chain of
X-Forwarded-For hops the client is the right-most address that is not one of them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

__all__ = ["DEFAULT_TRUSTED_PROXIES", "Network", "client_address", "parse_networks"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# A proxy on the same machine: what `make run` and most single-host deployments have.
DEFAULT_TRUSTED_PROXIES = ("127.0.0.1/32", "::1/128")


def parse_networks(networks: Iterable[str]) -> tuple[Network, ...]:
    """CIDR texts ("10.0.0.0/8", a bare address) as networks; ValueError naming a bad one."""
    parsed: list[Network] = []
    for text in networks:
        try:
            parsed.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError as error:
            raise ValueError(f"{text!r} is not an IP network (CIDR)") from error
    return tuple(parsed)


def client_address(
    peer: str | None, header_values: Sequence[str], trusted_proxies: Sequence[Network]
) -> str | None:
    """Who sent the request: the TCP `peer`, unless it is a trusted proxy that passed on the
    trusted header (`header_values`: every occurrence, in order; X-Forwarded-For style lists
    and single-address headers such as X-Real-IP alike).

    Walking the hops from the right, every trusted proxy is skipped and the first other address
    is the client; when every hop is a proxy, the left-most is. A missing peer (a Unix socket,
    reachable only from this machine) counts as a trusted proxy. An entry that is not an IP
    address is returned as it is, so that an allow-list refuses it.
    """
    if not header_values:
        return peer
    if peer is not None and not _within(peer, trusted_proxies):
        return peer  # a header from anyone else may be forged
    hops = [hop.strip() for value in header_values for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return hop
        if not any(address in network for network in trusted_proxies):
            return str(address)
    return str(_address(hops[0]) or hops[0]) if hops else peer


def _within(text: str, networks: Sequence[Network]) -> bool:
    address = _address(text)
    return address is not None and any(address in network for network in networks)


def _address(hop: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An X-Forwarded-For entry as an address: "1.2.3.4", "1.2.3.4:5678", "[::1]:80", "::1"."""
    text = hop.strip().strip('"')
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else text[1:]
    elif text.count(":") == 1:
        text = text.split(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # a dual-stack socket shows IPv4 peers as ::ffff:a.b.c.d; networks are written as IPv4
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped if mapped is not None else address
