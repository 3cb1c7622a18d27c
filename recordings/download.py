"""Downloading one recording link through the SSRF guard: each address (the link's, every
redirect's) vetted and pinned by `recordings.url_guard`, at most so many bytes and seconds. A PBX
that says "not ready yet" (404, 409, 425, 429, 503) or cannot be reached is a retryable failure;
anything else that cannot succeed is final.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urljoin

import httpx

from recordings.spool import Received, TooLarge, receive
from recordings.url_guard import LinkPolicy, LinkUnresolved, Resolver, system_resolver, vet_link

__all__ = [
    "NOT_READY_STATUSES",
    "DownloadFailed",
    "DownloadLimits",
    "Downloaded",
    "download",
]

# What PBXs answer while a recording is still being saved (Zadarma: ~40 s after the event).
NOT_READY_STATUSES: Final = frozenset({404, 409, 425, 429, 503})
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class DownloadLimits:
    max_bytes: int = 200 * 1024 * 1024
    connect_seconds: float = 10.0
    # the longest silence between two chunks of the answer
    read_seconds: float = 30.0
    # the whole download, redirects included
    total_seconds: float = 600.0
    max_redirects: int = 5


class DownloadFailed(Exception):
    """The link was allowed but gave no file: `retryable` when trying later may help."""

    def __init__(self, code: str, reason: str, *, retryable: bool = False) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.retryable = retryable


@dataclass(frozen=True)
class Downloaded(Received):
    """A recording received into the spool folder, and the link it came from at last."""

    final_url: str


def download(
    url: str,
    policy: LinkPolicy,
    *,
    spool: Path,
    limits: DownloadLimits = DownloadLimits(),
    resolve: Resolver = system_resolver,
    transport: httpx.BaseTransport | None = None,
) -> Downloaded:
    """Fetch a recording link into `spool`. Raises LinkRefused (the guard said no, at the link
    or at a redirect) or DownloadFailed."""
    deadline = time.monotonic() + limits.total_seconds
    timeout = httpx.Timeout(
        connect=limits.connect_seconds,
        read=limits.read_seconds,
        write=limits.read_seconds,
        pool=limits.connect_seconds,
    )
    # No proxies from the environment: the connection goes to the vetted address or nowhere.
    with httpx.Client(
        transport=transport, follow_redirects=False, timeout=timeout, trust_env=False
    ) as client:
        current = url
        for _ in range(limits.max_redirects + 1):
            try:
                link = vet_link(current, policy, resolve)
            except LinkUnresolved as error:
                raise DownloadFailed("unresolved", str(error), retryable=True) from None
            request = client.build_request(
                "GET",
                link.dial_url,
                headers={
                    "Host": link.host_header,
                    "Accept": "audio/*, application/octet-stream;q=0.9, */*;q=0.5",
                    "User-Agent": "pbxhub recordings",
                    # sizes are counted as sent: no compressed answer that unpacks past the limit
                    "Accept-Encoding": "identity",
                },
                # TLS: the name's certificate, sent and checked under the name, not the address
                extensions={"sni_hostname": link.host},
            )
            with _connection_failures(
                f"{link.host} did not answer in time", f"{link.host} could not be reached"
            ):
                response = client.send(request, stream=True)
            try:
                if response.status_code in _REDIRECTS:
                    location = response.headers.get("location")
                    if not location:
                        raise DownloadFailed(
                            "bad_redirect", f"{link.host} redirected without a Location"
                        )
                    current = urljoin(current, location)
                    continue
                _check_status(response.status_code, link.host)
                return _receive(response, link.host, current, spool, limits, deadline)
            finally:
                response.close()
        raise DownloadFailed(
            "too_many_redirects", f"more than {limits.max_redirects} redirects from {url}"
        )


def _check_status(status: int, host: str) -> None:
    if status == 200:
        return
    if status in NOT_READY_STATUSES:
        raise DownloadFailed("not_ready", f"{host} has no file yet (HTTP {status})", retryable=True)
    if status == 410:
        raise DownloadFailed("gone", f"{host} says the link is gone (HTTP 410): it expired")
    if 400 <= status < 500:
        raise DownloadFailed(f"http_{status}", f"{host} refused the link (HTTP {status})")
    if status >= 500:
        raise DownloadFailed("server_error", f"{host} failed (HTTP {status})", retryable=True)
    raise DownloadFailed(f"http_{status}", f"{host} answered HTTP {status}, not the file")


def _receive(
    response: httpx.Response,
    host: str,
    url: str,
    spool: Path,
    limits: DownloadLimits,
    deadline: float,
) -> Downloaded:
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.max_bytes:
        raise DownloadFailed(
            "too_large",
            f"the recording is {int(declared)} bytes, over the {limits.max_bytes}-byte limit",
        )
    try:
        got = receive(
            _answer_chunks(response, host, limits, deadline),
            spool,
            max_bytes=limits.max_bytes,
            prefix=".download-",
        )
    except TooLarge:
        raise DownloadFailed(
            "too_large", f"the recording is over the {limits.max_bytes}-byte limit"
        ) from None
    if got.size == 0:
        got.path.unlink(missing_ok=True)
        raise DownloadFailed("empty", f"{host} sent an empty file", retryable=True)
    return Downloaded(got.path, got.size, got.sha256, got.head, url)


def _answer_chunks(
    response: httpx.Response, host: str, limits: DownloadLimits, deadline: float
) -> Iterator[bytes]:
    """The answer's body, as long as the whole download's time lasts."""
    with _connection_failures(
        f"{host} stopped sending the recording", f"{host} broke off the download"
    ):
        for chunk in response.iter_bytes():
            if time.monotonic() > deadline:
                raise DownloadFailed(
                    "timeout",
                    f"{host} took over {limits.total_seconds:g} s to send the recording",
                    retryable=True,
                )
            yield chunk


@contextmanager
def _connection_failures(timed_out: str, broken: str) -> Iterator[None]:
    """A connection that stalls or breaks: a retryable failure, said in these words."""
    try:
        yield
    except httpx.TimeoutException:
        raise DownloadFailed("timeout", timed_out, retryable=True) from None
    except httpx.TransportError as error:
        raise DownloadFailed(
            "unreachable", f"{broken}: {type(error).__name__}", retryable=True
        ) from None
