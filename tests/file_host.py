"""A PBX's recording file host for tests: a real HTTP server on 127.0.0.1 that answers each path
with the replies it was given, in turn (the last one repeating), and keeps every request."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from local_server import QuietHandler, local_server


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # False: no Content-Length, the body ends when the connection closes
    declare_length: bool = True


@dataclass(frozen=True)
class Hit:
    path: str
    host: str


@dataclass
class FileHost:
    port: int = 0
    routes: dict[str, list[Reply]] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def serve(self, path: str, *replies: Reply) -> str:
        """Answer `path` with these replies in turn; returns its URL."""
        with self._lock:
            self.routes[path] = list(replies)
        return self.url(path)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def hits_of(self, path: str) -> int:
        with self._lock:
            return sum(1 for hit in self.hits if hit.path == path)

    def _reply(self, path: str, host: str) -> Reply:
        with self._lock:
            self.hits.append(Hit(path, host))
            replies = self.routes.get(path)
            if not replies:
                return Reply(404, b"no such file")
            return replies.pop(0) if len(replies) > 1 else replies[0]


@contextmanager
def file_host() -> Iterator[FileHost]:
    """A file host on a free port of 127.0.0.1 until the block ends."""
    host = FileHost()

    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            reply = host._reply(self.path, self.headers.get("Host", ""))
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.declare_length:
                self.send_header("Content-Length", str(len(reply.body)))
            else:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            try:
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading (a size limit): that is its right

    with local_server(Handler) as port:
        host.port = port
        yield host
