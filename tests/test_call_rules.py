"""What a call leaves behind by its channel's rules, end to end: UIS webhooks over HTTP → the real
Temporal server → contacts with responsibles, missed-call notifications, tasks by rule (and their
closing), where each call is attached, comments; and bad rules refused with a 422 naming them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from conftest import Pbxhub, scenario
from test_telephony_api import api_line, create_call, eventually, update_call
from test_uis_calls import ANSWERED, CALLER, LOST, OUTBOUND, deliver, uis_line

Json = dict[str, Any]

CALL_BACK_RULES = """
- name: call back
  when: {kind: missed, direction: in}
  title: "Call back {{ contact }}"
  description: "Missed on {{ line }} at {{ started_at }}, waited {{ wait_seconds }} s"
  type: call_back
  assignee: responsible
  default_assignee: %(default)d
  due_in_minutes: 30
  closes_on_contact: true
"""


def variant(
    name: str,
    *,
    session: int,
    hours: int = 0,
    edits: dict[str, Json] | None = None,
) -> list[tuple[str, bytes]]:
    """A UIS fixture call as another session, `hours` later, with some bodies' fields changed."""
    bodies = []
    for file_name, raw in scenario("uis", name):
        body = json.loads(raw)
        body["call_session_id"] = session
        moment = datetime.fromisoformat(body["notification_time"]) + timedelta(hours=hours)
        body["notification_time"] = moment.strftime("%Y-%m-%d %H:%M:%S")
        body.update((edits or {}).get(file_name, {}))
        bodies.append((file_name, json.dumps(body).encode()))
    return bodies


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


async def settings(hub: Pbxhub, channel: Json, **changes: Any) -> httpx.Response:
    return await hub.http.patch(
        f"/api/v1/channels/{channel['id']}", json={"settings": changes}, headers=hub.admin
    )


async def set_settings(hub: Pbxhub, channel: Json, **changes: Any) -> None:
    response = await settings(hub, channel, **changes)
    assert response.status_code == 200, response.text


async def call_of(hub: Pbxhub, channel: Json, session: int) -> Json:
    result = await hub.call_result(channel, session)
    assert result.call_id is not None, result
    call: Json = await hub.get(f"/api/v1/calls/{result.call_id}")
    return call


async def the_contact(hub: Pbxhub) -> Json:
    contacts = await hub.get("/api/v1/contacts", phone=CALLER)
    assert len(contacts) == 1
    contact: Json = contacts[0]
    return contact


async def carol(hub: Pbxhub) -> Json:
    """An employee in no channel: the rules' default assignee."""
    return await hub.create_employee("Carol Default")


# -- responsibles of a new contact -----------------------------------------------------------


async def test_a_new_contact_is_made_from_the_channels_template_with_its_responsibles(
    pbxhub: Pbxhub,
) -> None:
    channel, _anna, boris = await uis_line(pbxhub)
    await set_settings(
        pbxhub,
        channel,
        contact_template={
            "name": "{{ name or phone }} ({{ line }})",
            "fields": {"source": "call to {{ virtual_number }}", "as sent": "{{ raw }}"},
            "responsibles": [boris["id"]],
        },
    )

    # Anna answers, yet the template's responsible wins.
    await deliver(pbxhub, channel, scenario("uis", "inbound_answered"))
    await call_of(pbxhub, channel, ANSWERED)

    contact = await the_contact(pbxhub)
    assert contact["name"] == "Иван Петров (+74950000001)"
    assert contact["fields"] == {"source": "call to +74950000001", "as sent": "79161234567"}
    assert contact["responsible_employee_ids"] == [boris["id"]]


async def test_without_template_responsibles_the_employee_who_answered_is_responsible(
    pbxhub: Pbxhub,
) -> None:
    channel, anna, _boris = await uis_line(pbxhub)
    await set_settings(pbxhub, channel, contact_template={"name": "Caller {{ phone }}"})
    # Boris's phone rang first (10:14:59), Anna answered.
    bodies = scenario("uis", "inbound_answered")
    ring_boris = json.loads(dict(bodies)["02_waiting_for_answer.json"])
    ring_boris |= {
        "employee_id": 28512,
        "employee_full_name": "Пётр Иванов",
        "leg_id": 810000199,
        "notification_time": "2024-03-12 10:14:59",
    }

    await deliver(pbxhub, channel, [*bodies[:1], ("boris", json.dumps(ring_boris).encode())])
    await deliver(pbxhub, channel, bodies[1:])
    call = await call_of(pbxhub, channel, ANSWERED)

    assert call["employee_id"] == anna["id"]
    assert [leg["employee_pbx_id"] for leg in call["legs"]] == ["28512", "28511"]
    contact = await the_contact(pbxhub)
    assert contact["name"] == f"Caller {CALLER}"
    assert contact["responsible_employee_ids"] == [anna["id"]]


async def test_a_lost_call_makes_the_employee_it_first_rang_responsible(pbxhub: Pbxhub) -> None:
    channel, _anna, boris = await uis_line(pbxhub)
    # Boris's phone rang a second before Anna's (the PBX still lists Anna first).
    bodies = variant(
        "inbound_lost",
        session=LOST,
        edits={"03_waiting_for_answer.json": {"notification_time": "2024-03-12 11:00:00"}},
    )

    await deliver(pbxhub, channel, bodies)
    call = await call_of(pbxhub, channel, LOST)

    assert call["kind"] == "missed"
    assert (await the_contact(pbxhub))["responsible_employee_ids"] == [boris["id"]]


async def test_an_existing_contact_keeps_its_responsibles(pbxhub: Pbxhub) -> None:
    channel, _anna, boris = await uis_line(pbxhub)
    contact, _ = pbxhub.store.find_or_create_contact(phone=CALLER, name="Ivan")
    pbxhub.store.set_contact_responsibles(contact.id, [boris["id"]])

    await deliver(pbxhub, channel, scenario("uis", "inbound_answered"))
    await call_of(pbxhub, channel, ANSWERED)

    found = await the_contact(pbxhub)
    assert (found["name"], found["responsible_employee_ids"]) == ("Ivan", [boris["id"]])


# -- missed-call notifications ---------------------------------------------------------------


async def test_a_missed_call_notifies_each_responsible_once_even_delivered_twice(
    pbxhub: Pbxhub,
) -> None:
    channel, anna, boris = await uis_line(pbxhub)
    await set_settings(
        pbxhub, channel, contact_template={"responsibles": [anna["id"], boris["id"]]}
    )
    bodies = scenario("uis", "inbound_lost")

    await deliver(pbxhub, channel, [item for item in bodies for _ in range(2)])
    call = await call_of(pbxhub, channel, LOST)
    # The whole call again once its workflow closed: amended, nobody told twice.
    await deliver(pbxhub, channel, bodies)
    assert (await pbxhub.call_result(channel, LOST)).outcome == "amended"

    for employee in (anna, boris):
        told = await pbxhub.get("/api/v1/notifications", employee_id=employee["id"])
        assert len(told) == 1, told
        assert told[0]["kind"] == "missed_call"
        assert (told[0]["call_id"], told[0]["contact_id"]) == (call["id"], call["contact_id"])
        assert told[0]["text"] == "Missed call from Иван Петров on +74950000001"
    assert len(await pbxhub.get("/api/v1/notifications")) == 2

    # Anna reads her own with her token, and only her own
    issued = await pbxhub.http.post(f"/api/v1/employees/{anna['id']}/token", headers=pbxhub.admin)
    as_anna = {"Authorization": f"Bearer {issued.json()['token']}"}
    mine = await pbxhub.http.get("/api/v1/notifications", headers=as_anna)
    assert mine.status_code == 200
    assert [(n["employee_id"], n["call_id"]) for n in mine.json()] == [(anna["id"], call["id"])]
    named = await pbxhub.http.get(
        "/api/v1/notifications", params={"employee_id": anna["id"]}, headers=as_anna
    )
    assert named.json() == mine.json()
    borises = await pbxhub.http.get(
        "/api/v1/notifications", params={"employee_id": boris["id"]}, headers=as_anna
    )
    assert borises.status_code == 403
    assert borises.json()["detail"] == (
        f"employee {anna['id']} reads their own notifications, not employee {boris['id']}'s"
    )


async def test_an_answered_call_notifies_nobody(pbxhub: Pbxhub) -> None:
    channel, anna, _ = await uis_line(pbxhub)
    await set_settings(pbxhub, channel, contact_template={"responsibles": [anna["id"]]})

    await deliver(pbxhub, channel, scenario("uis", "inbound_answered"))
    await call_of(pbxhub, channel, ANSWERED)

    assert await pbxhub.get("/api/v1/notifications", employee_id=anna["id"]) == []


# -- task rules ------------------------------------------------------------------------------


async def test_a_lost_inbound_call_makes_a_call_back_task_for_the_responsible(
    pbxhub: Pbxhub,
) -> None:
    channel, _anna, boris = await uis_line(pbxhub)
    default = await carol(pbxhub)
    await set_settings(
        pbxhub,
        channel,
        task_rules=CALL_BACK_RULES % {"default": default["id"]},
        contact_template={"responsibles": [boris["id"]]},
    )
    bodies = scenario("uis", "inbound_lost")

    await deliver(pbxhub, channel, [item for item in bodies for _ in range(2)])
    call = await call_of(pbxhub, channel, LOST)

    tasks = await pbxhub.get("/api/v1/tasks")
    assert len(tasks) == 1  # once per call and rule, however often delivered
    task = tasks[0]
    assert task["title"] == "Call back Иван Петров"
    assert task["description"] == "Missed on +74950000001 at 2024-03-12 11:00, waited 31 s"
    assert (task["type"], task["rule"], task["status"]) == ("call_back", "call back", "open")
    assert task["assignee_employee_id"] == boris["id"]
    assert (task["contact_id"], task["call_id"]) == (call["contact_id"], call["id"])
    # due 30 minutes after the call ended (11:00:31 Moscow)
    assert utc(task["due_at"]) == datetime(2024, 3, 12, 8, 30, 31, tzinfo=UTC)
    assert task["closes_on_contact"] is True


async def test_a_contact_with_no_responsible_gets_its_task_for_the_default_assignee(
    pbxhub: Pbxhub,
) -> None:
    channel, _, _ = await uis_line(pbxhub)
    default = await carol(pbxhub)
    await set_settings(pbxhub, channel, task_rules=CALL_BACK_RULES % {"default": default["id"]})
    pbxhub.store.find_or_create_contact(phone=CALLER, name="Ivan")  # known, nobody's

    await deliver(pbxhub, channel, scenario("uis", "inbound_lost"))
    await call_of(pbxhub, channel, LOST)

    [task] = await pbxhub.get("/api/v1/tasks")
    assert (task["title"], task["assignee_employee_id"]) == ("Call back Ivan", default["id"])


async def test_rules_fire_only_for_the_calls_they_name(pbxhub: Pbxhub) -> None:
    channel, anna, _ = await uis_line(pbxhub)
    await set_settings(
        pbxhub,
        channel,
        task_rules=[
            {"name": "lost", "when": {"kind": "missed"}, "title": "lost"},
            {
                "name": "new client on the hotline",
                "when": {
                    "kind": "call",
                    "direction": "in",
                    "line": "8 (495) 000-00-01",
                    "employee": [anna["id"]],
                    "new_contact": True,
                },
                "title": "Welcome {{ contact }} ({{ employee }})",
                "assignee": "employee",
                "fields": {"line": "{{ line }}"},
            },
            {"name": "other line", "when": {"line": "Support"}, "title": "never"},
            {"name": "outbound", "when": {"direction": "out"}, "title": "never"},
        ],
    )

    await deliver(pbxhub, channel, scenario("uis", "inbound_answered"))
    await call_of(pbxhub, channel, ANSWERED)

    [task] = await pbxhub.get("/api/v1/tasks")
    assert task["title"] == "Welcome Иван Петров (Anna Smirnova)"
    assert (task["rule"], task["assignee_employee_id"]) == ("new client on the hotline", anna["id"])
    assert task["fields"] == {"line": "+74950000001"}
    assert task["closes_on_contact"] is False


async def test_a_call_back_task_closes_when_the_contact_is_reached_by_an_answered_inbound_call(
    pbxhub: Pbxhub,
) -> None:
    channel, _, _ = await uis_line(pbxhub)
    await set_settings(pbxhub, channel, task_rules=CALL_BACK_RULES % {"default": 1})
    await deliver(pbxhub, channel, scenario("uis", "inbound_lost"))  # 11:00
    await call_of(pbxhub, channel, LOST)

    # An answered call from before the lost one (10:15) reaches nobody later.
    await deliver(pbxhub, channel, scenario("uis", "inbound_answered"))
    await call_of(pbxhub, channel, ANSWERED)
    [task] = await pbxhub.get("/api/v1/tasks")
    assert task["status"] == "open"

    # The contact calls again at 13:15 and is answered.
    await deliver(pbxhub, channel, variant("inbound_answered", session=3410000201, hours=3))
    later = await call_of(pbxhub, channel, 3410000201)

    [task] = await pbxhub.get("/api/v1/tasks")
    assert (task["status"], task["closed_by_call_id"]) == ("closed", later["id"])
    assert task["closed_at"] is not None


async def test_a_call_back_task_closes_when_the_contact_is_reached_by_an_answered_outbound_call(
    pbxhub: Pbxhub,
) -> None:
    channel, _, _ = await uis_line(pbxhub)
    await set_settings(pbxhub, channel, task_rules=CALL_BACK_RULES % {"default": 1})
    await deliver(pbxhub, channel, scenario("uis", "inbound_lost"))  # 11:00
    await call_of(pbxhub, channel, LOST)
    assert [task["status"] for task in await pbxhub.get("/api/v1/tasks")] == ["open"]

    # Anna calls the contact back at 12:00.
    await deliver(pbxhub, channel, scenario("uis", "outbound_answered"))
    back = await call_of(pbxhub, channel, OUTBOUND)

    [task] = await pbxhub.get("/api/v1/tasks")
    assert (task["status"], task["closed_by_call_id"]) == ("closed", back["id"])


async def test_a_call_back_made_before_the_lost_call_was_processed_still_closes_its_task(
    pbxhub: Pbxhub,
) -> None:
    channel, _, _ = await uis_line(pbxhub)
    await set_settings(pbxhub, channel, task_rules=CALL_BACK_RULES % {"default": 1})
    # The 12:00 call back is written first; the 11:00 lost call's webhooks come late.
    await deliver(pbxhub, channel, scenario("uis", "outbound_answered"))
    back = await call_of(pbxhub, channel, OUTBOUND)
    await deliver(pbxhub, channel, scenario("uis", "inbound_lost"))
    await call_of(pbxhub, channel, LOST)

    [task] = await pbxhub.get("/api/v1/tasks")
    assert (task["status"], task["closed_by_call_id"]) == ("closed", back["id"])


# -- attach options --------------------------------------------------------------------------


async def answered_attachment(hub: Pbxhub, channel: Json) -> tuple[Json, Json]:
    await deliver(hub, channel, scenario("uis", "inbound_answered"))
    call = await call_of(hub, channel, ANSWERED)
    attachment: Json = call["attachment"]
    return call, attachment


async def test_by_default_a_call_is_attached_to_its_contact(pbxhub: Pbxhub) -> None:
    channel, _, _ = await uis_line(pbxhub)

    call, attachment = await answered_attachment(pbxhub, channel)

    assert attachment["mode"] == "contact"
    assert (attachment["contact_id"], attachment["task_id"]) == (call["contact_id"], None)
    assert (attachment["hidden"], attachment["comment_id"]) == (False, None)
    assert await pbxhub.get(f"/api/v1/contacts/{call['contact_id']}/comments") == []


async def test_attached_to_the_contact_as_a_hidden_comment(pbxhub: Pbxhub) -> None:
    channel, _, _ = await uis_line(pbxhub)
    await set_settings(pbxhub, channel, attach_to={"target": "contact", "hidden": True})

    call, attachment = await answered_attachment(pbxhub, channel)

    assert (attachment["mode"], attachment["hidden"]) == ("contact", True)
    path = f"/api/v1/contacts/{call['contact_id']}/comments"
    [comment] = await pbxhub.get(path)
    assert comment["id"] == attachment["comment_id"]
    assert comment["hidden"] is True
    assert comment["text"].startswith("Incoming call from Иван Петров, line +74950000001")
    assert await pbxhub.get(path, include_hidden="false") == []


async def test_attached_to_the_contacts_latest_active_task(pbxhub: Pbxhub) -> None:
    channel, _, _ = await uis_line(pbxhub)
    await set_settings(pbxhub, channel, attach_to={"target": "latest_active_task"})
    contact, _ = pbxhub.store.find_or_create_contact(phone=CALLER)
    pbxhub.store.create_task(title="older", contact_id=contact.id)
    active = pbxhub.store.create_task(title="latest active", contact_id=contact.id)
    done = pbxhub.store.create_task(title="newest, but closed", contact_id=contact.id)
    pbxhub.store.update_task(done.id, status="closed")
    pbxhub.store.create_task(title="someone else's")

    call, attachment = await answered_attachment(pbxhub, channel)

    assert attachment["mode"] == "latest_active_task"
    # on the task, and still on its contact
    assert (attachment["task_id"], attachment["contact_id"]) == (active.id, contact.id)
    assert call["contact_id"] == contact.id


async def test_with_no_active_task_the_call_stays_on_the_contact(pbxhub: Pbxhub) -> None:
    channel, _, _ = await uis_line(pbxhub)
    await set_settings(pbxhub, channel, attach_to={"target": "latest_active_task"})

    _, attachment = await answered_attachment(pbxhub, channel)

    assert (attachment["mode"], attachment["task_id"]) == ("contact", None)


MATCHING = {
    "target": "matching_task",
    "conditions": {
        "status": "open",
        "type": "deal",
        "assignee": "responsible",
        "fields": {"stage": "negotiation"},
    },
}


async def test_attached_to_the_latest_task_of_the_contact_matching_the_conditions(
    pbxhub: Pbxhub,
) -> None:
    channel, anna, boris = await uis_line(pbxhub)
    await set_settings(pbxhub, channel, attach_to={**MATCHING, "hidden": True})
    contact, _ = pbxhub.store.find_or_create_contact(phone=CALLER)
    pbxhub.store.set_contact_responsibles(contact.id, [boris["id"]])

    def task(title: str, **fields: Any) -> int:
        defaults: Json = {
            "type": "deal",
            "assignee_employee_id": boris["id"],
            "fields": {"stage": "negotiation"},
        }
        return pbxhub.store.create_task(
            title=title, contact_id=contact.id, **(defaults | fields)
        ).id

    older_match = task("older match")
    match = task("the match")
    task("another type", type="support")
    task("not the responsible's", assignee_employee_id=anna["id"])
    task("another stage", fields={"stage": "won"})
    closed = task("closed")
    pbxhub.store.update_task(closed, status="closed")

    _, attachment = await answered_attachment(pbxhub, channel)

    assert attachment["mode"] == "matching_task"
    assert attachment["task_id"] == match != older_match
    [comment] = await pbxhub.get(f"/api/v1/tasks/{match}/comments")
    assert (comment["id"], comment["hidden"]) == (attachment["comment_id"], True)
    assert await pbxhub.get(f"/api/v1/tasks/{match}/comments", include_hidden="false") == []


async def test_with_no_matching_task_a_new_one_is_made_when_the_channel_says_so(
    pbxhub: Pbxhub,
) -> None:
    channel, anna, _ = await uis_line(pbxhub)
    await set_settings(
        pbxhub,
        channel,
        attach_to={
            **MATCHING,
            "if_none": "new_task",
            "new_task": {
                "title": "Deal with {{ contact }}",
                "type": "deal",
                "fields": {"stage": "negotiation"},
            },
        },
    )

    call, attachment = await answered_attachment(pbxhub, channel)

    assert attachment["mode"] == "new_task"
    task = await pbxhub.get(f"/api/v1/tasks/{attachment['task_id']}")
    assert (task["title"], task["type"], task["fields"]) == (
        "Deal with Иван Петров",
        "deal",
        {"stage": "negotiation"},
    )
    # the new task is for the call's employee, about its contact and call
    assert task["assignee_employee_id"] == anna["id"]
    assert (task["contact_id"], task["call_id"]) == (call["contact_id"], call["id"])


async def test_without_the_fallback_no_matching_task_leaves_the_call_on_the_contact(
    pbxhub: Pbxhub,
) -> None:
    channel, _, _ = await uis_line(pbxhub)
    await set_settings(pbxhub, channel, attach_to=MATCHING)

    _, attachment = await answered_attachment(pbxhub, channel)

    assert (attachment["mode"], attachment["task_id"]) == ("contact", None)
    assert await pbxhub.get("/api/v1/tasks") == []


async def test_a_new_task_for_every_call(pbxhub: Pbxhub) -> None:
    channel, _, _ = await uis_line(pbxhub)
    await set_settings(pbxhub, channel, attach_to={"target": "new_task", "hidden": True})

    _, first = await answered_attachment(pbxhub, channel)
    await deliver(pbxhub, channel, scenario("uis", "outbound_answered"))
    second = (await call_of(pbxhub, channel, OUTBOUND))["attachment"]

    assert first["mode"] == second["mode"] == "new_task"
    assert first["task_id"] != second["task_id"]
    titles = {task["id"]: task["title"] for task in await pbxhub.get("/api/v1/tasks")}
    assert titles == {
        first["task_id"]: "Incoming call from Иван Петров",
        second["task_id"]: "Outgoing call to Иван Петров",
    }
    [comment] = await pbxhub.get(f"/api/v1/tasks/{second['task_id']}/comments")
    assert comment["hidden"] is True and comment["text"].startswith("Outgoing call to")


async def test_missed_calls_always_attach_to_the_contact(pbxhub: Pbxhub) -> None:
    channel, _, _ = await uis_line(pbxhub)
    await set_settings(pbxhub, channel, attach_to={"target": "new_task"})

    await deliver(pbxhub, channel, scenario("uis", "inbound_lost"))
    call = await call_of(pbxhub, channel, LOST)

    assert call["attachment"]["mode"] == "contact"
    assert call["attachment"]["contact_id"] == call["contact_id"]
    assert await pbxhub.get("/api/v1/tasks") == []


async def test_a_call_made_from_a_task_attaches_to_that_task(pbxhub: Pbxhub) -> None:
    channel = await api_line(pbxhub)
    await set_settings(pbxhub, channel, attach_to={"target": "new_task"})
    created = await create_call(pbxhub, channel, pbx_call_id="c-1")
    await update_call(pbxhub, channel, call_id=created["call_id"], call_status="answered")

    async def attached() -> Json:
        call: Json = await pbxhub.get(f"/api/v1/calls/{created['call_id']}")
        assert call["kind"] == "call" and call["attachment"]["attached_at"] is not None, call
        return call

    call = await eventually(attached)

    attachment = call["attachment"]
    assert attachment["mode"] == "origin_task"
    assert attachment["task_id"] == attachment["origin_task_id"] == created["ticket_id"]
    assert [task["id"] for task in await pbxhub.get("/api/v1/tasks")] == [created["ticket_id"]]


# -- comments --------------------------------------------------------------------------------


async def test_a_comment_on_a_call_appears_on_the_task_it_is_attached_to(pbxhub: Pbxhub) -> None:
    channel, anna, _ = await uis_line(pbxhub)
    await set_settings(pbxhub, channel, attach_to={"target": "latest_active_task"})
    contact, _ = pbxhub.store.find_or_create_contact(phone=CALLER)
    task = pbxhub.store.create_task(title="deal", contact_id=contact.id)
    call, _ = await answered_attachment(pbxhub, channel)

    response = await pbxhub.http.post(
        f"/api/v1/calls/{call['id']}/comments",
        json={"author_employee_id": anna["id"], "text": "Wants a quote by Friday"},
        headers=pbxhub.admin,
    )

    assert response.status_code == 201, response.text
    comment = response.json()
    assert (comment["call_id"], comment["task_id"]) == (call["id"], task.id)
    assert comment["author_employee_id"] == anna["id"]
    assert comment["created_at"] is not None and comment["hidden"] is False
    assert await pbxhub.get(f"/api/v1/calls/{call['id']}/comments") == [comment]
    assert await pbxhub.get(f"/api/v1/tasks/{task.id}/comments") == [comment]


async def test_a_comment_on_a_call_on_its_contact_goes_to_the_contact_card(
    pbxhub: Pbxhub,
) -> None:
    channel, anna, _ = await uis_line(pbxhub)
    call, _ = await answered_attachment(pbxhub, channel)

    response = await pbxhub.http.post(
        f"/api/v1/calls/{call['id']}/comments",
        json={"author_employee_id": anna["id"], "text": "Asked for a call back"},
        headers=pbxhub.admin,
    )

    assert response.status_code == 201, response.text
    assert response.json()["task_id"] is None
    assert await pbxhub.get(f"/api/v1/contacts/{call['contact_id']}/comments") == [response.json()]


async def test_a_comment_needs_a_known_call_and_author(pbxhub: Pbxhub) -> None:
    channel, anna, _ = await uis_line(pbxhub)
    call, _ = await answered_attachment(pbxhub, channel)

    def post(call_id: int, body: Json) -> Any:
        return pbxhub.http.post(
            f"/api/v1/calls/{call_id}/comments", json=body, headers=pbxhub.admin
        )

    unknown_call = await post(999, {"author_employee_id": anna["id"], "text": "x"})
    unknown_author = await post(call["id"], {"author_employee_id": 999, "text": "x"})
    no_text = await post(call["id"], {"author_employee_id": anna["id"], "text": ""})

    assert unknown_call.status_code == 404
    assert unknown_author.status_code == 422
    assert "author_employee_id" in unknown_author.json()["detail"]
    assert no_text.status_code == 422
    assert (await pbxhub.get(f"/api/v1/calls/{call['id']}/comments")) == []


# -- bad rules -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "problem"),
    [
        ("- title: x\n  when: {kind: lost}", "task_rules[0].when.kind: 'lost' is not allowed"),
        ("- title: 'Call back {{ contct }}'", "task_rules[0].title: unknown name 'contct'"),
        ("- title: 'Call back {{ contact'", "task_rules[0].title: not a valid template"),
        ("- title: x\n  due_in_minutes: -5", "task_rules[0].due_in_minutes: -5 is less than"),
        ("- title: x\n  assignee: boss", "task_rules[0].assignee: 'boss' is not allowed"),
        ("- title: x\n  wen: {}", "task_rules[0]: Additional properties are not allowed ('wen'"),
        ("- description: no title", "task_rules[0]: 'title' is a required property"),
        ("- {title: a, name: x}\n- {title: b, name: x}", "task_rules[1].name: another rule"),
        ("- title: [unclosed", "task_rules: not valid YAML"),
        ("title: not a list", "task_rules: must be a list of rules"),
    ],
)
async def test_bad_task_rules_are_refused_with_a_422_naming_the_problem(
    pbxhub: Pbxhub, rules: str, problem: str
) -> None:
    created = await pbxhub.http.post(
        "/api/v1/channels",
        json={"provider": "uis", "name": "rules", "settings": {"task_rules": rules}},
        headers=pbxhub.admin,
    )
    channel = await pbxhub.create_channel("uis")
    patched = await settings(pbxhub, channel, task_rules=rules)

    for response in (created, patched):
        assert response.status_code == 422, response.text
        [error] = response.json()["detail"]
        assert error["field"] == "settings"
        assert problem in error["error"], error
    assert (await pbxhub.get(f"/api/v1/channels/{channel['id']}"))["settings"] == {}


@pytest.mark.parametrize(
    ("setting", "value", "problem"),
    [
        ("attach_to", {"target": "deal"}, "attach_to.target: 'deal' is not one of"),
        ("attach_to", {"hidden": True}, "attach_to: 'target' is a required property"),
        (
            "attach_to",
            {"target": "matching_task", "conditions": {"status": "done"}},
            "attach_to.conditions.status: 'done' is not allowed",
        ),
        ("contact_template", {"name": "{{ nme }}"}, "contact_template.name: unknown name 'nme'"),
        (
            "contact_template",
            {"responsibles": ["anna"]},
            "contact_template.responsibles[0]: 'anna' is not of type 'integer'",
        ),
    ],
)
async def test_bad_attach_options_and_contact_templates_are_refused(
    pbxhub: Pbxhub, setting: str, value: Any, problem: str
) -> None:
    channel = await pbxhub.create_channel("uis")

    response = await settings(pbxhub, channel, **{setting: value})

    assert response.status_code == 422, response.text
    assert problem in response.json()["detail"][0]["error"]


async def test_rules_given_as_a_list_or_as_yaml_text_are_kept_as_given(pbxhub: Pbxhub) -> None:
    as_list = [{"title": "Call back {{ contact }}", "when": {"kind": "missed"}}]
    as_text = "- title: 'Call back {{ contact }}'\n  when: {kind: missed}\n"

    for rules in (as_list, as_text):
        channel = await pbxhub.create_channel("uis", settings={"task_rules": rules})
        assert channel["settings"]["task_rules"] == rules
