"""What an employee does during a UIS call, through the call's workflow: a comment typed before
the call's record exists lands on it; "create contact" for the caller; a task made from the
call or one of the contact's tasks the call is attached to; who may do any of it."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Pbxhub, scenario

ANSWERED = 3410000101
CALLER = "+79161234567"


async def uis_line(hub: Pbxhub) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A UIS channel with Anna (extension 101, who answers) and Boris (102, not on the call)."""
    staff = {
        "Anna Smirnova": {"extension": "101", "pbx_user_id": "28511"},
        "Boris Ivanov": {"extension": "102", "pbx_user_id": "28512"},
    }
    channel, (anna, boris) = await hub.create_line(
        "uis", staff, timezone="Europe/Moscow", default_country="RU"
    )
    return channel, anna, boris


async def token_of(hub: Pbxhub, employee: dict[str, Any]) -> dict[str, str]:
    issued = await hub.http.post(f"/api/v1/employees/{employee['id']}/token", headers=hub.admin)
    assert issued.status_code in (200, 201), issued.text
    return {"Authorization": f"Bearer {issued.json()['token']}"}


def during(channel: dict[str, Any], what: str) -> str:
    return f"/api/v1/channels/{channel['id']}/sessions/{ANSWERED}/{what}"


async def test_a_comment_typed_while_anna_talks_lands_on_the_call_once_it_is_written(
    pbxhub: Pbxhub,
) -> None:
    channel, anna, _ = await uis_line(pbxhub)
    webhooks = scenario("uis", "inbound_answered")
    await pbxhub.deliver(channel, webhooks[:3])  # ringing, then Anna talks
    as_anna = await token_of(pbxhub, anna)

    typed = await pbxhub.http.post(
        during(channel, "comments"),
        json={"text": "Wants a quote for 40 chairs", "key": "anna-comment-1"},
        headers=as_anna,
    )
    assert typed.status_code == 202, typed.text
    assert typed.json()["pending"] is True
    assert pbxhub.store.get_call_by_session(channel["id"], str(ANSWERED)) is None

    await pbxhub.deliver(channel, webhooks[3:])
    result = await pbxhub.call_result(channel, ANSWERED)
    comments = await pbxhub.get(f"/api/v1/calls/{result.call_id}/comments")
    assert [(c["text"], c["author_employee_id"]) for c in comments] == [
        ("Wants a quote for 40 chairs", anna["id"])
    ]

    # after the call, a comment is applied at once (its workflow started again to amend it)
    after = await pbxhub.http.post(
        during(channel, "comments"), json={"text": "Quote sent"}, headers=as_anna
    )
    assert after.status_code == 201, after.text
    assert after.json()["call_id"] == result.call_id
    # the same key again is the same comment, not a second one
    again = await pbxhub.http.post(
        during(channel, "comments"),
        json={"text": "Wants a quote for 40 chairs", "key": "anna-comment-1"},
        headers=as_anna,
    )
    assert again.status_code == 201, again.text
    texts = [c["text"] for c in await pbxhub.get(f"/api/v1/calls/{result.call_id}/comments")]
    assert texts == ["Wants a quote for 40 chairs", "Quote sent"]


async def test_create_contact_for_an_unknown_caller_is_the_contact_the_call_is_written_with(
    pbxhub: Pbxhub,
) -> None:
    channel, anna, _ = await uis_line(pbxhub)
    webhooks = scenario("uis", "inbound_answered")
    await pbxhub.deliver(channel, webhooks[:3])
    as_anna = await token_of(pbxhub, anna)
    assert pbxhub.store.find_contact_by_phone(CALLER) is None

    made = await pbxhub.http.post(
        during(channel, "contact"),
        json={"name": "Ivan Petrov", "fields": {"company": "Roga i Kopyta"}},
        headers=as_anna,
    )
    # the contact is made at once, but the call is not written yet: it waits for the call
    assert made.status_code == 202, made.text
    assert made.json()["pending"] is True
    contact_id = made.json()["contact_id"]
    assert pbxhub.store.get_contact(contact_id) is not None

    await pbxhub.deliver(channel, webhooks[3:])
    result = await pbxhub.call_result(channel, ANSWERED)
    call = await pbxhub.get(f"/api/v1/calls/{result.call_id}")
    assert call["contact_id"] == contact_id
    contact = pbxhub.store.get_contact(contact_id)
    assert contact is not None
    assert (contact.name, contact.fields) == ("Ivan Petrov", {"company": "Roga i Kopyta"})
    assert contact.responsible_employee_ids[0] == anna["id"]
    assert [p.phone for p in contact.phones] == [CALLER]

    # Anna adds a field later: added to the contact's, nothing else changes
    edited = await pbxhub.http.post(
        during(channel, "contact"), json={"fields": {"city": "Tver"}}, headers=as_anna
    )
    assert edited.status_code == 201, edited.text
    contact = pbxhub.store.get_contact(contact_id)
    assert contact is not None
    assert contact.fields == {"company": "Roga i Kopyta", "city": "Tver"}
    assert contact.name == "Ivan Petrov"


async def test_a_task_made_from_the_call_during_it_is_where_the_call_hangs(
    pbxhub: Pbxhub,
) -> None:
    channel, anna, _ = await uis_line(pbxhub)
    webhooks = scenario("uis", "inbound_answered")
    await pbxhub.deliver(channel, webhooks[:3])
    as_anna = await token_of(pbxhub, anna)

    asked = await pbxhub.http.post(
        during(channel, "tasks"),
        json={"title": "Send the quote", "description": "40 chairs"},
        headers=as_anna,
    )
    assert asked.status_code == 202, asked.text
    commented = await pbxhub.http.post(
        during(channel, "comments"), json={"text": "Chairs, not tables"}, headers=as_anna
    )
    assert commented.status_code == 202, commented.text

    await pbxhub.deliver(channel, webhooks[3:])
    result = await pbxhub.call_result(channel, ANSWERED)
    tasks = await pbxhub.get("/api/v1/tasks", call_id=result.call_id)
    assert [(t["title"], t["assignee_employee_id"]) for t in tasks] == [
        ("Send the quote", anna["id"])
    ]
    task_id = tasks[0]["id"]
    call = await pbxhub.get(f"/api/v1/calls/{result.call_id}")
    assert call["attachment"]["task_id"] == task_id
    # the comment typed after the task was asked for is on that task too
    on_task = await pbxhub.get(f"/api/v1/tasks/{task_id}/comments")
    assert "Chairs, not tables" in [c["text"] for c in on_task]

    # another contact's task is refused, naming why
    stranger = pbxhub.store.create_task(title="Someone else's")
    refused = await pbxhub.http.post(
        during(channel, "tasks"), json={"task_id": stranger.id}, headers=as_anna
    )
    assert refused.status_code == 422, refused.text
    assert "not a task of the call's contact" in refused.json()["detail"]


async def test_boris_who_is_not_on_the_call_may_not_act_on_it(pbxhub: Pbxhub) -> None:
    channel, _, boris = await uis_line(pbxhub)
    webhooks = scenario("uis", "inbound_answered")
    await pbxhub.deliver(channel, webhooks[:3])
    as_boris = await token_of(pbxhub, boris)

    refused = await pbxhub.http.post(
        during(channel, "comments"), json={"text": "Let me in"}, headers=as_boris
    )
    assert refused.status_code == 403, refused.text
    assert "neither on this call nor responsible" in refused.json()["detail"]
    await pbxhub.deliver(channel, webhooks[3:])
    await pbxhub.call_result(channel, ANSWERED)


@pytest.mark.parametrize(
    ("what", "body", "field"),
    [
        ("comments", {"text": ""}, "text"),
        ("tasks", {}, "task_id"),
        ("tasks", {"task_id": 1, "title": "both"}, "task_id"),
        ("comments", {"text": "ok", "key": "no spaces please"}, "key"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field(
    pbxhub: Pbxhub, what: str, body: dict[str, Any], field: str
) -> None:
    channel, _, _ = await uis_line(pbxhub)
    answer = await pbxhub.http.post(during(channel, what), json=body, headers=pbxhub.admin)
    assert answer.status_code == 422, answer.text
    assert field in answer.text


async def test_a_session_no_workflow_follows_is_404(pbxhub: Pbxhub) -> None:
    channel, _, _ = await uis_line(pbxhub)
    answer = await pbxhub.http.post(
        during(channel, "comments"), json={"text": "hello"}, headers=pbxhub.admin
    )
    assert answer.status_code == 404, answer.text
    assert "no call in progress" in answer.json()["detail"]
