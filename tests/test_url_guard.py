"""The recording-link guard on its own: every refusal is decided at the link or at the resolution
step, with a resolver the test hands in; the transport beside it fails the test if the guard
ever lets a connection be attempted. No test here opens a connection to anything."""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from recordings.download import DownloadFailed, DownloadLimits, download
from recordings.url_guard import (
    LinkPolicy,
    LinkRefused,
    address_problem,
    host_allowed,
    normalize_host_pattern,
    vet_link,
)

PBX = "files.pbx.example"
PUBLIC = "93.184.216.34"
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 8


class Resolver:
    """A DNS that answers from a table, and counts what it was asked."""

    def __init__(self, table: dict[str, Sequence[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> Sequence[str]:
        self.asked.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.table[host]


class NoConnection(httpx.BaseTransport):
    """A transport that must never be used: the guard refuses before any connection."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.attempts.append(str(request.url))
        pytest.fail(f"the guard let a connection to {request.url} be attempted")


def policy(*hosts: str, private: frozenset[tuple[str, int]] = frozenset()) -> LinkPolicy:
    return LinkPolicy(hosts=hosts or (PBX,), private_hosts=private)


def refused(url: str, guard: LinkPolicy, resolver: Resolver, spool: Path) -> LinkRefused:
    """Refused by the guard, through the whole download, without a connection attempt."""
    transport = NoConnection()
    with pytest.raises(LinkRefused) as caught:
        download(url, guard, spool=spool, resolve=resolver, transport=transport)
    assert transport.attempts == []
    assert list(spool.glob("*")) == []
    return caught.value


# -- non-public addresses, at the resolution step --------------------------------------------

NON_PUBLIC = [
    # (address the name resolves to, the code it is refused with)
    ("10.0.0.5", "private_address"),
    ("10.255.255.254", "private_address"),
    ("172.16.0.1", "private_address"),
    ("172.31.255.254", "private_address"),
    ("192.168.0.1", "private_address"),
    ("192.168.255.254", "private_address"),
    ("169.254.169.254", "link_local"),  # cloud metadata
    ("169.254.0.1", "link_local"),
    ("127.0.0.1", "loopback"),
    ("127.53.0.1", "loopback"),
    ("100.64.0.1", "cgnat"),
    ("100.127.255.254", "cgnat"),
    ("0.0.0.0", "unspecified"),
    ("224.0.0.251", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("192.0.2.10", "private_address"),  # TEST-NET-1
    ("198.18.0.1", "private_address"),  # benchmarking
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fe80::1", "link_local"),
    ("fe80::1%eth0", "link_local"),
    ("fc00::1", "private_address"),
    ("fd12:3456::1", "private_address"),
    ("fec0::1", "private_address"),
    ("ff02::1", "multicast"),
    ("2001:db8::1", "private_address"),  # documentation
    ("::ffff:10.0.0.1", "embedded_address"),
    ("::ffff:127.0.0.1", "embedded_address"),
    ("::ffff:169.254.169.254", "embedded_address"),
    ("2002:a00:1::1", "embedded_address"),  # 6to4 of 10.0.0.1
    ("2002:7f00:1::1", "embedded_address"),  # 6to4 of 127.0.0.1
    ("64:ff9b::a00:1", "embedded_address"),  # NAT64 of 10.0.0.1
    ("64:ff9b::a9fe:a9fe", "embedded_address"),  # NAT64 of 169.254.169.254
    ("64:ff9b:1::1", "not_public"),
]


@pytest.mark.parametrize(("address", "code"), NON_PUBLIC)
def test_a_name_resolving_to_a_non_public_address_is_refused_before_any_connection(
    address: str, code: str, tmp_path: Path
) -> None:
    resolver = Resolver({PBX: [address]})

    error = refused(f"https://{PBX}/records/1.mp3", policy(), resolver, tmp_path)

    assert error.code == code, error.reason
    shown = str(ipaddress.ip_address(address.split("%")[0]))
    assert PBX in error.reason and shown in error.reason
    assert resolver.asked == [PBX]  # resolved once, then refused


@pytest.mark.parametrize(("address", "code"), NON_PUBLIC)
def test_every_non_public_address_has_its_problem_named(address: str, code: str) -> None:
    problem = address_problem(ipaddress.ip_address(address.split("%")[0]))
    assert problem is not None


def test_one_private_answer_among_public_ones_refuses_the_name(tmp_path: Path) -> None:
    resolver = Resolver({PBX: [PUBLIC, "10.1.2.3"]})
    error = refused(f"http://{PBX}/r.mp3", policy(), resolver, tmp_path)
    assert error.code == "private_address"


def test_public_addresses_pass() -> None:
    for address in (PUBLIC, "8.8.8.8", "2606:4700::6810:85e5", "100.128.0.1"):
        assert address_problem(ipaddress.ip_address(address)) is None, address


# -- loopback in every spelling, at the link itself ------------------------------------------

LOOPBACK_SPELLINGS = [
    "http://127.0.0.1/r.mp3",
    "http://localhost/r.mp3",
    "http://LocalHost./r.mp3",
    "http://files.localhost/r.mp3",
    "http://2130706433/r.mp3",
    "http://0x7f000001/r.mp3",
    "http://127.1/r.mp3",
    "http://0177.0.0.1/r.mp3",
    "http://127.000.000.001/r.mp3",
    "http://[::1]/r.mp3",
    "http://[::ffff:127.0.0.1]/r.mp3",
    "http://[0:0:0:0:0:0:0:1]:8080/r.mp3",
]


@pytest.mark.parametrize("url", LOOPBACK_SPELLINGS)
def test_loopback_links_are_refused_in_every_spelling_without_a_lookup(
    url: str, tmp_path: Path
) -> None:
    # the allow-list names them all: it is the address that is refused
    hosts = ("127.0.0.1", "localhost", "*.localhost", "::1", "2130706433")
    resolver = Resolver({})

    error = refused(url, policy(*hosts), resolver, tmp_path)

    assert error.code in ("loopback", "embedded_address"), error.reason
    assert "loopback" in error.reason
    assert resolver.asked == []


def test_the_channels_exact_host_and_port_lets_only_that_one_through() -> None:
    listed = frozenset({("127.0.0.1", 8081)})
    allowed = vet_link("http://127.0.0.1:8081/r.mp3", policy(private=listed))
    assert (allowed.address, allowed.port) == ("127.0.0.1", 8081)
    # the same address in another spelling is the same host
    assert vet_link("http://2130706433:8081/r.mp3", policy(private=listed)).address == "127.0.0.1"
    with pytest.raises(LinkRefused) as caught:
        vet_link("http://127.0.0.1:8082/r.mp3", policy("127.0.0.1", private=listed))
    assert caught.value.code == "loopback"
    with pytest.raises(LinkRefused) as caught:
        vet_link("http://[::ffff:127.0.0.1]:8081/r.mp3", policy("::ffff:7f00:1", private=listed))
    assert caught.value.code == "embedded_address"
    with pytest.raises(LinkRefused):
        vet_link("http://10.0.0.1/r.mp3", policy("10.0.0.1", private=listed))


# -- the link itself -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://files.pbx.example/r.mp3", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("gopher://files.pbx.example:70/", "scheme"),
        ("//files.pbx.example/r.mp3", "scheme"),
        ("records/1.mp3", "scheme"),
        ("http://user:secret@files.pbx.example/r.mp3", "credentials"),
        ("http:///r.mp3", "malformed"),
        ("http://files.pbx.example:99999/r.mp3", "malformed"),
        ("http://files.pbx.example\\@127.0.0.1/r.mp3", "malformed"),
        ("http://files.pbx.example/r.mp3\r\nHost: evil", "malformed"),
        ("https://evil.example/r.mp3", "host_not_allowed"),
        ("https://pbx.example/r.mp3", "host_not_allowed"),
        ("https://files.pbx.example.evil.example/r.mp3", "host_not_allowed"),
        ("http://8.8.8.8/r.mp3", "host_not_allowed"),
    ],
)
def test_links_that_are_not_http_to_an_allowed_host_are_refused_unresolved(
    url: str, code: str, tmp_path: Path
) -> None:
    resolver = Resolver({PBX: [PUBLIC], "evil.example": [PUBLIC]})
    error = refused(url, policy(), resolver, tmp_path)
    assert error.code == code, error.reason
    assert resolver.asked == []


def test_an_unknown_name_is_refused() -> None:
    with pytest.raises(LinkRefused) as caught:
        vet_link(f"http://{PBX}/r.mp3", policy(), Resolver({}))
    assert caught.value.code == "unresolvable"


def test_allow_list_patterns() -> None:
    assert host_allowed("media.uiscom.ru", ["*.uiscom.ru"])
    assert host_allowed("a.b.uiscom.ru", ["*.UISCOM.ru."])
    assert not host_allowed("uiscom.ru", ["*.uiscom.ru"])
    assert not host_allowed("eviluiscom.ru", ["*.uiscom.ru"])
    assert host_allowed("xn--e1afmkfd.xn--p1ai", ["пример.рф"])
    assert not host_allowed("10.0.0.1", ["*.0.0.1"])
    assert normalize_host_pattern("[::1]") == "::1"
    assert normalize_host_pattern("2130706433") == "127.0.0.1"
    with pytest.raises(ValueError):
        normalize_host_pattern("http://x/")


# -- pinning: the connection goes to the vetted address, under the name ---------------------


def answering(
    handler: Callable[[httpx.Request], httpx.Response], seen: list[httpx.Request]
) -> httpx.MockTransport:
    """A transport without sockets: a function answers, and every request is kept."""

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return httpx.MockTransport(handle)


def test_the_download_connects_to_the_address_vetted_with_the_name_as_host_and_sni(
    tmp_path: Path,
) -> None:
    seen: list[httpx.Request] = []
    transport = answering(lambda request: httpx.Response(200, content=MP3), seen)
    resolver = RebindingResolver()

    got = download(
        f"https://{PBX}/records/1.mp3?token=abc",
        policy(),
        spool=tmp_path,
        resolve=resolver,
        transport=transport,
    )

    assert resolver.asked == [PBX]
    [request] = seen
    assert str(request.url) == f"https://{PUBLIC}/records/1.mp3?token=abc"
    assert request.headers["host"] == PBX
    assert request.extensions["sni_hostname"] == PBX
    assert got.path.read_bytes() == MP3 and got.size == len(MP3)


class RebindingResolver:
    """A DNS that answers a public address first and loopback to whoever asks again."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> Sequence[str]:
        self.asked.append(host)
        return [PUBLIC] if len(self.asked) == 1 else ["127.0.0.1"]


@pytest.mark.parametrize(
    ("location", "code"),
    [
        ("http://127.0.0.1:8080/r.mp3", "loopback"),
        ("http://localhost/r.mp3", "loopback"),
        ("http://[::1]/r.mp3", "loopback"),
        ("http://2130706433/r.mp3", "loopback"),
        ("http://internal.pbx.example/r.mp3", "private_address"),
        ("http://169.254.169.254/latest/meta-data/", "link_local"),
        ("https://elsewhere.example/r.mp3", "host_not_allowed"),
        ("file:///etc/passwd", "scheme"),
    ],
)
def test_every_redirect_is_vetted_again(location: str, code: str, tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    transport = answering(lambda request: httpx.Response(302, headers={"Location": location}), seen)
    resolver = Resolver({PBX: [PUBLIC], "internal.pbx.example": ["10.20.30.40"]})
    guard = policy(PBX, "*.pbx.example", "127.0.0.1", "localhost", "::1", "169.254.169.254")

    with pytest.raises(LinkRefused) as caught:
        download(
            f"http://{PBX}/r.mp3", guard, spool=tmp_path, resolve=resolver, transport=transport
        )

    assert caught.value.code == code, caught.value.reason
    # the first hop only: the redirect's target was never connected to
    assert [str(request.url) for request in seen] == [f"http://{PUBLIC}/r.mp3"]


def test_a_relative_redirect_to_an_allowed_host_is_followed(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/r.mp3":
            return httpx.Response(307, headers={"Location": "/store/r.mp3"})
        return httpx.Response(200, content=MP3)

    got = download(
        f"http://{PBX}/r.mp3",
        policy(),
        spool=tmp_path,
        resolve=Resolver({PBX: [PUBLIC]}),
        transport=answering(handler, seen),
    )
    assert [request.url.path for request in seen] == ["/r.mp3", "/store/r.mp3"]
    assert got.final_url == f"http://{PBX}/store/r.mp3"


def test_redirects_are_bounded(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    transport = answering(lambda request: httpx.Response(302, headers={"Location": "/again"}), seen)
    with pytest.raises(DownloadFailed) as caught:
        download(
            f"http://{PBX}/r.mp3",
            policy(),
            spool=tmp_path,
            limits=DownloadLimits(max_redirects=3),
            resolve=Resolver({PBX: [PUBLIC]}),
            transport=transport,
        )
    assert caught.value.code == "too_many_redirects" and not caught.value.retryable
    assert len(seen) == 4


# -- answers, sizes and time -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [
        (404, "not_ready", True),
        (409, "not_ready", True),
        (425, "not_ready", True),
        (429, "not_ready", True),
        (503, "not_ready", True),
        (410, "gone", False),
        (403, "http_403", False),
        (401, "http_401", False),
        (500, "server_error", True),
        (204, "http_204", False),
    ],
)
def test_what_the_file_host_answers_decides_whether_to_try_again(
    status: int, code: str, retryable: bool, tmp_path: Path
) -> None:
    seen: list[httpx.Request] = []
    with pytest.raises(DownloadFailed) as caught:
        download(
            f"http://{PBX}/r.mp3",
            policy(),
            spool=tmp_path,
            resolve=Resolver({PBX: [PUBLIC]}),
            transport=answering(lambda request: httpx.Response(status), seen),
        )
    assert (caught.value.code, caught.value.retryable) == (code, retryable)


def test_a_declared_size_over_the_limit_is_refused_before_reading(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def huge(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": str(10**12)}, content=b"")

    with pytest.raises(DownloadFailed) as caught:
        download(
            f"http://{PBX}/r.mp3",
            policy(),
            spool=tmp_path,
            limits=DownloadLimits(max_bytes=1000),
            resolve=Resolver({PBX: [PUBLIC]}),
            transport=answering(huge, seen),
        )
    assert caught.value.code == "too_large" and not caught.value.retryable
    assert list(tmp_path.glob("*")) == []


def test_an_undeclared_size_is_cut_off_past_the_limit(tmp_path: Path) -> None:
    sent: list[int] = []

    def endless() -> Iterator[bytes]:
        for _ in range(1000):
            sent.append(1)
            yield b"\xff\xfb" + bytes(1022)

    with pytest.raises(DownloadFailed) as caught:
        download(
            f"http://{PBX}/r.mp3",
            policy(),
            spool=tmp_path,
            limits=DownloadLimits(max_bytes=10_000),
            resolve=Resolver({PBX: [PUBLIC]}),
            transport=answering(lambda request: httpx.Response(200, content=endless()), []),
        )
    assert caught.value.code == "too_large"
    assert len(sent) < 20  # stopped reading, not read to the end
    assert list(tmp_path.glob("*")) == []


def test_a_download_slower_than_the_total_limit_is_abandoned(tmp_path: Path) -> None:
    given: list[int] = []

    def trickle() -> Iterator[bytes]:
        for chunk in range(100):  # 2 s in all, ten times the limit
            time.sleep(0.02)
            given.append(chunk)
            yield b"ID3" + bytes(100)

    with pytest.raises(DownloadFailed) as caught:
        download(
            f"http://{PBX}/r.mp3",
            policy(),
            spool=tmp_path,
            limits=DownloadLimits(total_seconds=0.2),
            resolve=Resolver({PBX: [PUBLIC]}),
            transport=answering(lambda request: httpx.Response(200, content=trickle()), []),
        )
    assert caught.value.code == "timeout" and caught.value.retryable
    assert len(given) < 100  # given up at the limit, not read to the end
