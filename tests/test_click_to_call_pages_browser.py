"""Click-to-call from the pages in a real browser (Debian's Chromium through Playwright): an
employee opens a contact, presses "Call" beside a number from the keyboard, and the UIS
simulator on 127.0.0.1 is asked start.employee_call (through PbxActionWorkflow on the real
Temporal dev server); a refusal reads as pbxhub's sentence, the PBX's own text never shown."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from conftest import KEEP_ALIVE, Pbxhub, sign_in_on_page, sign_in_over_http
from pbx_api_simulators import UisCallApi, serving
from test_click_to_call import host_port

from crm import ContactPhone
from crm.passwords import hash_password
from web.click_to_call_pages import ADMIN_HAS_NO_PHONE

PASSWORD = "correct horse battery"


@asynccontextmanager
async def served(hub: Pbxhub) -> AsyncIterator[str]:
    """The hub's app (the same one its `http` reaches in-process, with Temporal behind it)
    under uvicorn on a loopback port, for the browser."""
    import uvicorn

    transport = hub.http._transport  # the in-process app the fixture made
    assert isinstance(transport, httpx.ASGITransport)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(
            transport.app, log_level="warning", lifespan="off", timeout_keep_alive=KEEP_ALIVE
        )
    )
    serving_task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if serving_task.done():
                serving_task.result()
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await serving_task
        sock.close()


async def sign_in(page: Any, login: str) -> None:
    await sign_in_on_page(page, login, PASSWORD)


async def test_an_employee_calls_a_contact_s_number_from_the_contact_page(
    pbxhub: Pbxhub, chromium: Any
) -> None:
    with serving(UisCallApi()) as uis:
        channel, (anna,) = await pbxhub.create_line(
            "uis",
            {"Anna": {"extension": "101", "pbx_user_id": "28511"}},
            settings={
                "call_api_url": uis.url,
                "virtual_phone_number": "+7 499 372-06-92",
                "allowed_pbx_hosts": [host_port(uis)],
                "secrets": {"call_api_token": uis.access_token},
            },
        )
        store = pbxhub.store
        store.set_employee_sign_in(anna["id"], login="anna", password_hash=hash_password(PASSWORD))
        clara = store.create_contact(
            name="Clara",
            phones=[ContactPhone(phone="+79261234567", raw="8 926 123-45-67")],
            responsible_employee_ids=[anna["id"]],
        )
        async with served(pbxhub) as url:
            context = await chromium.new_context(base_url=url)
            context.set_default_timeout(10_000)
            page = await context.new_page()
            try:
                await page.goto(f"/contacts/{clara.id}")
                await sign_in(page, "anna")
                await page.wait_for_url(f"{url}/contacts/{clara.id}")
                phones = page.locator("#contact-phones")
                assert "+79261234567" in await phones.inner_text()
                assert await phones.locator("a[href^='tel:']").count() == 0
                assert uis.requests() == []  # showing a number calls nobody

                # from the keyboard: focus the button, press Enter
                call = page.get_by_role("button", name="Call +79261234567")
                await call.focus()
                await page.keyboard.press("Enter")
                await page.wait_for_url(f"{url}/click-to-call")
                ringing = await page.locator("#calling").inner_text()
                assert "Ringing: the PBX rings you first, then +79261234567" in ringing
                (sent,) = uis.requests()
                params = json.loads(sent.body)["params"]
                assert json.loads(sent.body)["method"] == "start.employee_call"
                assert (params["employee"], params["contact"]) == ({"id": 28511}, "79261234567")
                assert params["virtual_phone_number"] == "74993720692"
                await page.get_by_role("link", name="Back").click()
                await page.wait_for_url(f"{url}/contacts/{clara.id}")

                # the PBX refuses: the employee reads why, in pbxhub's words
                busy = {
                    "code": -32008,
                    "message": "Employee 28511 is busy right now",
                    "data": {"mnemonic": "employee_busy"},
                }
                uis.queue("employee:28511", (200, {"error": busy}))
                await page.get_by_role("button", name="Call +79261234567").click()
                refusal = await page.locator("#refusal").inner_text()
                assert refusal == (
                    "UIS could not ring you: your line is busy. Finish the current call and "
                    "try again."
                )
                assert "28511 is busy right now" not in await page.content()
                assert len(uis.requests()) == 2
                # nothing recorded of either: no call is written until the PBX reports one
                assert store.list_calls() == []
            finally:
                await context.close()


async def test_the_admin_is_told_why_a_number_is_not_called(pbxhub: Pbxhub) -> None:
    store = pbxhub.store
    store.create_admin("boss", hash_password(PASSWORD))
    token = await sign_in_over_http(pbxhub.http, "boss", PASSWORD)
    answer = await pbxhub.http.post(
        "/click-to-call", data={"csrf_token": token, "phone": "+79261234567"}
    )
    assert answer.status_code == 422
    assert ADMIN_HAS_NO_PHONE in answer.text.replace("&#39;", "'")
    # a GET never places a call
    assert (await pbxhub.http.get("/click-to-call")).status_code == 405
