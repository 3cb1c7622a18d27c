"""An action answered "pending" during a UIS call that the store refuses once the call is written
is not lost in silence: the admin's log and the call's page say what was not applied and why,
and nothing of it is half-made (no task the call could not hang on)."""

from __future__ import annotations

import logging

import pytest
from conftest import Pbxhub, scenario, sign_in_over_http
from test_call_time import ANSWERED, CALLER, during, token_of, uis_line

from crm import ContactPhone
from crm.passwords import hash_password


async def test_a_pending_task_the_store_refuses_is_said_on_the_call_page(
    pbxhub: Pbxhub, caplog: pytest.LogCaptureFixture
) -> None:
    channel, anna, _ = await uis_line(pbxhub)
    store = pbxhub.store
    clara = store.create_contact(
        name="Clara",
        phones=[ContactPhone(phone=CALLER, raw=CALLER)],
        responsible_employee_ids=[anna["id"]],
    )
    quote = store.create_task(title="Quote for 40 chairs", contact_id=clara.id)
    webhooks = scenario("uis", "inbound_answered")
    await pbxhub.deliver(channel, webhooks[:3])
    as_anna = await token_of(pbxhub, anna)

    # both accepted while Anna talks; but a call hangs on one task only
    attached = await pbxhub.http.post(
        during(channel, "tasks"), json={"task_id": quote.id}, headers=as_anna
    )
    assert attached.status_code == 202, attached.text
    second = await pbxhub.http.post(
        during(channel, "tasks"), json={"title": "Send the contract"}, headers=as_anna
    )
    assert second.status_code == 202, second.text

    with caplog.at_level(logging.WARNING):
        await pbxhub.deliver(channel, webhooks[3:])
        result = await pbxhub.call_result(channel, ANSWERED)
    assert result.call_id is not None
    attachment = store.get_call_attachment(result.call_id)
    assert attachment is not None and attachment.task_id == quote.id
    assert [t.title for t in store.list_tasks(contact_id=clara.id)] == ["Quote for 40 chairs"]
    refused = f"the call already hangs on task {quote.id}"
    logged = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert any(refused in line and "create_task" in line for line in logged), logged

    asked = 'a task "Send the contract", asked by Anna Smirnova during the call'
    said = f"Not applied: {asked}: {refused}"
    comments = await pbxhub.get(f"/api/v1/calls/{result.call_id}/comments")
    assert [(c["text"], c["author_employee_id"]) for c in comments] == [(said, None)]
    store.set_employee_sign_in(anna["id"], login="anna", password_hash=hash_password("pw-anna-1"))
    http = type(pbxhub.http)(transport=pbxhub.http._transport, base_url=pbxhub.http.base_url)
    try:
        await sign_in_over_http(http, "anna", "pw-anna-1")
        page = await http.get(f"/calls/{result.call_id}")
        assert page.status_code == 200, page.text
        assert said.replace('"', "&#34;") in page.text
    finally:
        await http.aclose()
