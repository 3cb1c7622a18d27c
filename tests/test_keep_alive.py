"""The API keeps an idle connection as long as PBXHUB_KEEP_ALIVE_SECONDS says (75 s unless set):
longer than a PBX's or proxy's own idle time, so the client closes first and a webhook is never
sent on a connection the server is closing. Served as `pbxhub api` and `pbxhub dev` serve it."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from pbxhub.settings import Settings
from pbxhub.wiring import api_server_config

REQUEST = b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def tiny_app() -> FastAPI:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"ok": "yes"}

    return app


@asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(api_server_config(settings, tiny_app(), log_level="warning"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if serving.done():
                serving.result()
            await asyncio.sleep(0.01)
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await serving
        sock.close()


async def answered_twice_after(port: int, idle: float) -> bool:
    """Whether a second request, sent `idle` seconds after the first on the same connection, is
    answered (False: the server closed the connection meanwhile)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(REQUEST)
        await writer.drain()
        assert b"200 OK" in await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(len(b'{"ok":"yes"}'))
        await asyncio.sleep(idle)
        writer.write(REQUEST)
        await writer.drain()
        return b"200 OK" in await asyncio.wait_for(reader.read(200), 10)
    finally:
        writer.close()


def test_the_default_outlasts_the_idle_time_of_pbxs_and_proxies() -> None:
    assert Settings().keep_alive_seconds == 75


async def test_a_connection_idle_for_a_moment_is_kept_and_one_idle_past_the_setting_is_closed() -> (
    None
):
    async with served(Settings(keep_alive_seconds=60)) as port:
        # past uvicorn's own 5 s default: the setting is what keeps it
        assert await answered_twice_after(port, 6)
    async with served(Settings(keep_alive_seconds=1)) as port:
        assert not await answered_twice_after(port, 2.5)
