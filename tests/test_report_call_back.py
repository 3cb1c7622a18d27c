""" "Call back" on the missed-calls report page: the PBX is asked through the channel's
click-to-call (the real Temporal dev server runs the action against the Planfix-API PBX
simulator) to ring the signed-in employee and then the contact; an employee calls back only
their own missed calls and their contacts'."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from conftest import Pbxhub, sign_in_over_http
from pbx_simulator import pbx_simulator
from test_planfix_calls import CALLER, PBX_TOKEN, PROVIDER, pbx_host_port, planfix_line

from contracts.messages import CallRecord
from crm.passwords import hash_password

PASSWORD = "correct horse battery"


async def test_an_open_missed_call_is_called_back_through_the_pbx(pbxhub: Pbxhub) -> None:
    store = pbxhub.store
    with pbx_simulator() as pbx:
        channel, (anna, boris, _) = await planfix_line(
            pbxhub,
            pbx_url=pbx.url,
            allowed_pbx_hosts=[pbx_host_port(pbx.url)],
            secrets={"pbx_token": PBX_TOKEN},
        )
        for employee in (anna, boris):
            login = employee["name"].lower()
            store.set_employee_sign_in(
                employee["id"], login=login, password_hash=hash_password(PASSWORD)
            )
        clara, _ = store.find_or_create_contact(phone=CALLER, name="Clara")
        started = datetime(2026, 3, 25, 9, 0, tzinfo=UTC)
        missed, _ = store.save_call(
            CallRecord(
                channel_id=channel["id"],
                session_id="missed-for-anna",
                provider=PROVIDER,
                kind="missed",
                direction="in",
                contact_id=clara.id,
                contact_phone=CALLER,
                employee_id=anna["id"],
                started_at=started,
                ended_at=started + timedelta(seconds=30),
            )
        )
        call_back = f"/reports/missed-calls/{missed.id}/call-back"

        # Boris: neither his call nor his contact
        token = await sign_in_over_http(pbxhub.http, "boris", PASSWORD)
        refused = await pbxhub.http.post(call_back, data={"csrf_token": token})
        assert refused.status_code == 403
        assert "neither yours nor your contact" in refused.text
        # without the form's token, nothing is asked of the PBX
        pbxhub.http.cookies.clear()
        token = await sign_in_over_http(pbxhub.http, "anna", PASSWORD)
        assert (await pbxhub.http.post(call_back, data={})).status_code == 403
        assert pbx.commands("makeCall") == []

        answer = await pbxhub.http.post(call_back, data={"csrf_token": token})

        assert answer.status_code == 200, answer.text
        assert "Ringing: the PBX rings you first, then +79161234567" in answer.text
        assert pbx.commands("makeCall") == [
            {"cmd": "makeCall", "from": "101", "to": "79161234567", "token": PBX_TOKEN}
        ]

        pbx.answer("makeCall", 400, '{"error": "Invalid parameters"}')
        turned_down = await pbxhub.http.post(call_back, data={"csrf_token": token})

        assert turned_down.status_code == 502
        assert "400 Invalid parameters" in turned_down.text
