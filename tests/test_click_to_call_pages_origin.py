"""A call placed from a page is hung where it was placed from: the click is noted (line,
employee, number, task), and when the PBX's webhooks for the outbound call arrive afterwards
(UIS's, through the real Temporal dev server), the written call hangs on that task; a click the
PBX refused leaves nothing to hang a call on."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from conftest import Pbxhub, scenario, sign_in_over_http
from pbx_api_simulators import UisCallApi, serving
from test_click_to_call import host_port

from crm import ContactPhone
from crm.passwords import hash_password

PASSWORD = "correct horse battery"
CALLER = "+79161234567"
OUTBOUND = 3410000103
_FIXTURE_TIME = re.compile(r"2024-03-12 12:(\d\d):(\d\d)")


def happening_now(bodies: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The fixture's outbound call moved to now (Moscow wall clock, as UIS writes it): it
    started half a minute ago, just after the click."""
    start = datetime.now(UTC) + timedelta(hours=3) - timedelta(seconds=30)

    def moved(match: re.Match[str]) -> str:
        at = start + timedelta(minutes=int(match[1]), seconds=int(match[2]))
        return at.strftime("%Y-%m-%d %H:%M:%S")

    return [(name, _FIXTURE_TIME.sub(moved, body.decode()).encode()) for name, body in bodies]


async def test_a_call_placed_from_a_task_hangs_on_that_task(pbxhub: Pbxhub) -> None:
    store = pbxhub.store
    with serving(UisCallApi()) as uis:
        channel, (anna,) = await pbxhub.create_line(
            "uis",
            {"Anna Smirnova": {"extension": "101", "pbx_user_id": "28511"}},
            timezone="Europe/Moscow",
            default_country="RU",
            settings={
                "call_api_url": uis.url,
                "virtual_phone_number": "+7 495 000-00-01",
                "allowed_pbx_hosts": [host_port(uis)],
                "secrets": {"call_api_token": uis.access_token},
            },
        )
        store.set_employee_sign_in(anna["id"], login="anna", password_hash=hash_password(PASSWORD))
        ivan = store.create_contact(
            name="Ivan",
            phones=[ContactPhone(phone=CALLER, raw=CALLER)],
            responsible_employee_ids=[anna["id"]],
        )
        quote = store.create_task(
            title="Send Ivan the quote", contact_id=ivan.id, assignee_employee_id=anna["id"]
        )
        token = await sign_in_over_http(pbxhub.http, "anna", PASSWORD)

        # refused by the PBX: nothing noted, so nothing to hang a call on
        busy = (200, {"error": {"code": -32008, "message": "busy"}})
        started = (200, {"result": {"data": {"call_session_id": OUTBOUND}}})
        uis.queue("employee:28511", busy, started)
        form = {"csrf_token": token, "phone": "8 916 123-45-67", "task_id": str(quote.id)}
        assert (await pbxhub.http.post("/click-to-call", data=form)).status_code == 502
        # an unknown task is named, and the PBX is not asked
        unknown = await pbxhub.http.post("/click-to-call", data={**form, "task_id": "999999"})
        assert unknown.status_code == 422 and "task_id: no such task" in unknown.text
        # a task or contact that is not Anna's: her call would hang where she cannot look
        olga = store.create_contact(
            name="Olga", phones=[ContactPhone(phone="+79167654321", raw="+79167654321")]
        )
        olgas_task = store.create_task(title="Olga's contract", contact_id=olga.id)
        foreign_task = await pbxhub.http.post(
            "/click-to-call", data={**form, "task_id": str(olgas_task.id)}
        )
        assert foreign_task.status_code == 403 and "task_id: employee" in foreign_task.text
        foreign_contact = {**form, "task_id": "", "contact_id": str(olga.id)}
        refused = await pbxhub.http.post("/click-to-call", data=foreign_contact)
        assert refused.status_code == 403 and "contact_id: employee" in refused.text
        assert len(uis.requests()) == 1

        placed = await pbxhub.http.post("/click-to-call", data=form)
        assert placed.status_code == 200, placed.text
        assert json.loads(uis.requests()[-1].body)["params"]["contact"] == "79161234567"

        await pbxhub.deliver(channel, happening_now(scenario("uis", "outbound_answered")))
        await pbxhub.call_result(channel, OUTBOUND)
        call = await pbxhub.the_one_record("call")
        assert (call["direction"], call["employee_id"]) == ("out", anna["id"])
        attachment = store.get_call_attachment(call["id"])
        assert attachment is not None
        assert (attachment.mode, attachment.task_id) == ("origin_task", quote.id)
