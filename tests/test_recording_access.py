"""Access to recordings and comments by the rights on the contact or task a call hangs on, end to
end: employees' tokens issued and revoked by the admin, UIS webhooks over HTTP → the real
Temporal server → a recording kept from a file host on 127.0.0.1 → played (with Range) by those
who see where the call hangs, refused with 403 to the others, 401 without valid credentials."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import Pbxhub
from file_host import FileHost, Reply, file_host
from temporalio.testing import WorkflowEnvironment
from test_call_rules import set_settings
from test_recordings import MP3, SESSION, custody, deliver, kept_recording, uis_call
from test_uis_calls import CALLER, uis_line

from contracts.messages import CallRecord

Json = dict[str, Any]


@pytest.fixture
async def hub(temporal_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Pbxhub]:
    """pbxhub whose worker keeps recordings from this machine's file host."""
    async with custody(temporal_env, tmp_path) as hub:
        yield hub


@pytest.fixture
def host() -> Iterator[FileHost]:
    with file_host() as host:
        yield host


async def token_of(hub: Pbxhub, employee: Json) -> dict[str, str]:
    """A fresh token for the employee, as the header they send it in."""
    response = await hub.http.post(f"/api/v1/employees/{employee['id']}/token", headers=hub.admin)
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["employee_id"] == employee["id"]
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def hears_recordings(hub: Pbxhub, employee: Json, hears: bool) -> None:
    response = await hub.http.patch(
        f"/api/v1/employees/{employee['id']}", json={"hears_recordings": hears}, headers=hub.admin
    )
    assert response.status_code == 200, response.text
    assert response.json()["hears_recordings"] is hears


async def recorded_call(hub: Pbxhub, host: FileHost, channel: Json, **settings: Any) -> Json:
    """The fixtures' answered call (Anna answers) with its recording kept, as the API shows it."""
    await set_settings(hub, channel, allowed_pbx_hosts=[f"127.0.0.1:{host.port}"], **settings)
    link = host.serve("/records/1.mp3", Reply(200, MP3))
    await deliver(hub, channel, uis_call(SESSION, link))
    result = await hub.call_result(channel, SESSION)
    assert (result.outcome, result.recording_status) == ("call", "kept"), result
    call: Json = await hub.get(f"/api/v1/calls/{result.call_id}")
    assert call["recording"]["url"] == f"/api/v1/recordings/{call['recording']['id']}"
    return call


async def recording_on_a_contact(
    hub: Pbxhub, tmp_path: Path, responsibles: list[int], content: bytes = MP3
) -> tuple[int, str, int]:
    """A call with a contact and a kept recording, straight through the store and not attached
    yet: (recording id, its checksum, the contact's id)."""
    contact, _ = await asyncio.to_thread(
        hub.store.find_or_create_contact, phone=CALLER, responsible_employee_ids=responsibles
    )
    recording_id, digest = await kept_recording(hub, tmp_path, content, contact_id=contact.id)
    return recording_id, digest, contact.id


# -- playing by the rights on the contact -----------------------------------------------------


async def test_a_responsible_employee_plays_the_recording_of_a_call_on_their_contact(
    hub: Pbxhub, host: FileHost
) -> None:
    channel, anna, _ = await uis_line(hub)
    call = await recorded_call(hub, host, channel)
    contact = await hub.get(f"/api/v1/contacts/{call['contact_id']}")
    assert contact["responsible_employee_ids"] == [anna["id"]]  # she answered
    as_anna = await token_of(hub, anna)
    digest = hashlib.sha256(MP3).hexdigest()

    for url in (call["recording"]["url"], f"/api/v1/recordings/{digest}"):
        played = await hub.http.get(url, headers=as_anna)
        assert (played.status_code, played.content) == (200, MP3), url
        assert played.headers["content-type"] == "audio/mpeg"
    part = await hub.http.get(call["recording"]["url"], headers={**as_anna, "Range": "bytes=-10"})
    assert (part.status_code, part.content) == (206, MP3[-10:])
    assert part.headers["content-range"] == f"bytes {len(MP3) - 10}-{len(MP3) - 1}/{len(MP3)}"
    head = await hub.http.head(call["recording"]["url"], headers={**as_anna, "Range": "bytes=0-9"})
    assert (head.status_code, head.headers["content-length"]) == (206, "10")
    led = await hub.http.get(f"/api/v1/calls/{call['id']}/recording", headers=as_anna)
    assert (led.status_code, led.headers["location"]) == (307, call["recording"]["url"])


async def test_an_employee_who_is_not_responsible_gets_403_saying_where_the_call_hangs(
    hub: Pbxhub, host: FileHost
) -> None:
    channel, _, boris = await uis_line(hub)
    call = await recorded_call(hub, host, channel)
    as_boris = await token_of(hub, boris)
    digest = hashlib.sha256(MP3).hexdigest()
    why = (
        f"call {call['id']} hangs on contact {call['contact_id']}; employee {boris['id']} is "
        f"not responsible for contact {call['contact_id']}"
    )

    for url in (
        call["recording"]["url"],
        f"/api/v1/recordings/{digest}",
        f"/api/v1/calls/{call['id']}/recording",
    ):
        refused = await hub.http.get(url, headers={**as_boris, "Range": "bytes=0-9"})
        assert refused.status_code == 403, url
        assert why in refused.json()["detail"], refused.json()
        assert CALLER not in refused.text and "Иван" not in refused.text
    head = await hub.http.head(call["recording"]["url"], headers=as_boris)
    assert head.status_code == 403


async def test_an_employee_lists_and_exports_only_the_calls_they_may_hear(
    hub: Pbxhub, host: FileHost
) -> None:
    channel, anna, boris = await uis_line(hub)
    call = await recorded_call(hub, host, channel)
    as_anna, as_boris = await token_of(hub, anna), await token_of(hub, boris)

    page = await hub.http.get("/api/v1/calls", headers=as_anna)
    assert page.status_code == 200, page.text
    assert ([c["id"] for c in page.json()["items"]], page.json()["total"]) == ([call["id"]], 1)
    assert page.json()["items"][0]["analytics"] == call["analytics"]
    one = await hub.http.get(f"/api/v1/calls/{call['id']}", headers=as_anna)
    assert (one.status_code, one.json()["id"]) == (200, call["id"])
    exported = await hub.http.get("/api/v1/calls.csv", headers=as_anna)
    assert exported.status_code == 200 and exported.text.splitlines()[1].endswith(f",{call['id']}")

    # Boris sees the same lists empty, and the call itself refused with where it hangs
    for url in ("/api/v1/calls", "/api/v1/missed-calls"):
        empty = await hub.http.get(url, headers=as_boris)
        assert (empty.status_code, empty.json()["items"], empty.json()["total"]) == (200, [], 0)
    exported = await hub.http.get("/api/v1/calls.csv", headers=as_boris)
    assert exported.status_code == 200 and len(exported.text.splitlines()) == 1  # the header
    refused = await hub.http.get(f"/api/v1/calls/{call['id']}", headers=as_boris)
    assert refused.status_code == 403
    assert f"employee {boris['id']} is not responsible" in refused.json()["detail"]
    assert CALLER not in refused.text
    missing = await hub.http.get("/api/v1/calls/9999", headers=as_boris)
    assert missing.status_code == 404

    # once he is made responsible for the contact, the call is his to see too
    made = await hub.http.patch(
        f"/api/v1/contacts/{call['contact_id']}",
        json={"responsible_employee_ids": [anna["id"], boris["id"]]},
        headers=hub.admin,
    )
    assert made.status_code == 200, made.text
    page = await hub.http.get("/api/v1/calls", headers=as_boris)
    assert [c["id"] for c in page.json()["items"]] == [call["id"]]


async def test_a_call_attached_as_a_hidden_comment_plays_only_for_an_employee_who_hears_recordings(
    hub: Pbxhub, host: FileHost
) -> None:
    channel, anna, _ = await uis_line(hub)
    call = await recorded_call(hub, host, channel, attach_to={"target": "contact", "hidden": True})
    assert call["attachment"]["hidden"] is True
    as_anna = await token_of(hub, anna)
    comments = f"/api/v1/contacts/{call['contact_id']}/comments"

    refused = await hub.http.get(call["recording"]["url"], headers=as_anna)
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        f"recording {call['recording']['id']}: call {call['id']} hangs on contact "
        f"{call['contact_id']} as a hidden comment, shown only to those who hear recordings; "
        f"employee {anna['id']} does not hear recordings"
    )
    listed = await hub.http.get(comments, headers=as_anna)
    assert (listed.status_code, listed.json()) == (200, [])

    await hears_recordings(hub, anna, True)

    played = await hub.http.get(call["recording"]["url"], headers=as_anna)
    assert (played.status_code, played.content) == (200, MP3)
    [hidden] = (await hub.http.get(comments, headers=as_anna)).json()
    assert (hidden["id"], hidden["hidden"]) == (call["attachment"]["comment_id"], True)
    unasked = await hub.http.get(comments, params={"include_hidden": "false"}, headers=as_anna)
    assert unasked.json() == []


async def test_the_assignee_of_the_task_a_call_hangs_on_plays_it(
    hub: Pbxhub, host: FileHost
) -> None:
    channel, anna, boris = await uis_line(hub)
    carol = await hub.create_employee("Carol Default")
    contact, _ = hub.store.find_or_create_contact(phone=CALLER)
    hub.store.set_contact_responsibles(contact.id, [boris["id"]])
    deal = hub.store.create_task(
        title="deal", contact_id=contact.id, assignee_employee_id=carol["id"]
    )

    call = await recorded_call(hub, host, channel, attach_to={"target": "latest_active_task"})

    assert (call["attachment"]["task_id"], call["attachment"]["contact_id"]) == (
        deal.id,
        contact.id,
    )
    url = call["recording"]["url"]
    for employee in (carol, boris):  # the assignee; the contact's responsible
        played = await hub.http.get(url, headers=await token_of(hub, employee))
        assert (played.status_code, played.content) == (200, MP3), employee["name"]
    refused = await hub.http.get(url, headers=await token_of(hub, anna))  # she answered, yet
    assert refused.status_code == 403
    assert refused.json()["detail"].endswith(
        f"hangs on contact {contact.id} and task {deal.id}; employee {anna['id']} is not "
        f"responsible for contact {contact.id} and not the assignee of task {deal.id}"
    )
    task_comments = f"/api/v1/tasks/{deal.id}/comments"
    assert (
        await hub.http.get(task_comments, headers=await token_of(hub, carol))
    ).status_code == 200
    assert (await hub.http.get(task_comments, headers=await token_of(hub, anna))).status_code == 403


async def test_range_requests_still_work_for_an_employee(hub: Pbxhub, tmp_path: Path) -> None:
    anna = await hub.create_employee("Anna")
    recording_id, digest, _ = await recording_on_a_contact(hub, tmp_path, [anna["id"]])
    as_anna = await token_of(hub, anna)
    url = f"/api/v1/recordings/{recording_id}"

    part = await hub.http.get(url, headers={**as_anna, "Range": "bytes=0-99"})
    assert (part.status_code, part.content) == (206, MP3[:100])
    assert part.headers["content-range"] == f"bytes 0-99/{len(MP3)}"
    assert part.headers["etag"] == f'"{digest}"'
    beyond = await hub.http.get(url, headers={**as_anna, "Range": f"bytes={len(MP3)}-"})
    assert beyond.status_code == 416
    stale = await hub.http.get(url, headers={**as_anna, "Range": "bytes=0-9", "If-Range": '"x"'})
    assert (stale.status_code, stale.content) == (200, MP3)


# -- a file of several calls, 404 and 403, what is told when --------------------------------


async def test_a_file_kept_for_several_calls_plays_for_whoever_may_hear_any_of_them(
    hub: Pbxhub, tmp_path: Path
) -> None:
    anna = await hub.create_employee("Anna")
    boris = await hub.create_employee("Boris")
    carol = await hub.create_employee("Carol")
    _, digest, annas = await recording_on_a_contact(hub, tmp_path, [anna["id"]])
    # the same file, kept for a second call with another contact, Boris's
    borises, _ = hub.store.find_or_create_contact(
        phone="+74957654321", responsible_employee_ids=[boris["id"]]
    )
    [first] = hub.store.recordings_with_content(digest)
    second_call, _ = hub.store.save_call(
        CallRecord(
            channel_id=hub.store.list_channels()[0].id,
            session_id="s2",
            provider="uis",
            kind="call",
            direction="in",
            contact_id=borises.id,
        )
    )
    second, _ = hub.store.add_recording(
        call_id=second_call.id,
        storage="local",
        location=first.location,
        content_type="audio/mpeg",
        size=len(MP3),
        sha256=digest,
    )
    by_checksum = f"/api/v1/recordings/{digest}"

    for employee in (anna, boris):
        played = await hub.http.get(by_checksum, headers=await token_of(hub, employee))
        assert (played.status_code, played.content) == (200, MP3), employee["name"]
    refused = await hub.http.get(by_checksum, headers=await token_of(hub, carol))
    assert refused.status_code == 403
    detail = refused.json()["detail"]
    assert f"call {first.call_id} hangs on contact {annas}" in detail
    assert f"call {second_call.id} hangs on contact {borises.id}" in detail
    # by id, each is its own call's
    as_boris = await token_of(hub, boris)
    assert (
        await hub.http.get(f"/api/v1/recordings/{second.id}", headers=as_boris)
    ).status_code == 200
    assert (
        await hub.http.get(f"/api/v1/recordings/{first.id}", headers=as_boris)
    ).status_code == 403


async def test_an_employee_gets_404_for_what_does_not_exist_and_403_before_a_missing_file(
    hub: Pbxhub, tmp_path: Path
) -> None:
    anna = await hub.create_employee("Anna")
    boris = await hub.create_employee("Boris")
    recording_id, digest, _ = await recording_on_a_contact(hub, tmp_path, [anna["id"]])
    as_anna, as_boris = await token_of(hub, anna), await token_of(hub, boris)

    for url, status in (
        ("/api/v1/recordings/999", 404),
        (f"/api/v1/recordings/{'0' * 64}", 404),
        ("/api/v1/calls/999/recording", 404),
        ("/api/v1/recordings/no-such-thing", 422),
    ):
        assert (await hub.http.get(url, headers=as_boris)).status_code == status, url

    [kept] = hub.store.recordings_with_content(digest)
    (tmp_path / "recordings" / kept.location).unlink()
    url = f"/api/v1/recordings/{recording_id}"
    # that the file is gone is told only to one who may hear it
    assert (await hub.http.get(url, headers=as_boris)).status_code == 403
    gone = await hub.http.get(url, headers=as_anna)
    assert (gone.status_code, gone.json()["detail"]) == (
        404,
        "the recording's file is not in storage",
    )


async def test_a_linked_recording_leads_only_those_who_may_hear_it_to_the_pbx(
    hub: Pbxhub,
) -> None:
    anna = await hub.create_employee("Anna")
    boris = await hub.create_employee("Boris")
    channel = await hub.create_channel("uis")
    contact, _ = hub.store.find_or_create_contact(
        phone=CALLER, responsible_employee_ids=[anna["id"]]
    )
    link = "https://media.uiscom.ru/records/1.mp3"
    call, _ = hub.store.save_call(
        CallRecord(
            channel_id=channel["id"],
            session_id="s1",
            provider="uis",
            kind="call",
            direction="in",
            contact_id=contact.id,
            recording_url=link,
        )
    )
    hub.store.set_recording_outcome(call.id, status="linked")
    url = f"/api/v1/calls/{call.id}/recording"

    led = await hub.http.get(url, headers=await token_of(hub, anna))
    assert (led.status_code, led.headers["location"]) == (307, link)
    refused = await hub.http.get(url, headers=await token_of(hub, boris))
    assert refused.status_code == 403 and link not in refused.text


# -- tokens -----------------------------------------------------------------------------------


async def test_a_revoked_token_is_refused(hub: Pbxhub, tmp_path: Path) -> None:
    anna = await hub.create_employee("Anna")
    recording_id, _, _ = await recording_on_a_contact(hub, tmp_path, [anna["id"]])
    url = f"/api/v1/recordings/{recording_id}"
    first = await token_of(hub, anna)
    assert (await hub.http.get(url, headers=first)).status_code == 200

    second = await token_of(hub, anna)  # issuing again replaces the first
    replaced = await hub.http.get(url, headers=first)
    assert (replaced.status_code, replaced.headers["www-authenticate"]) == (401, "Bearer")
    assert (await hub.http.get(url, headers=second)).status_code == 200

    revoked = await hub.http.delete(f"/api/v1/employees/{anna['id']}/token", headers=hub.admin)
    assert revoked.status_code == 204
    refused = await hub.http.get(url, headers=second)
    assert (refused.status_code, refused.headers["www-authenticate"]) == (401, "Bearer")
    assert second["Authorization"].split()[1] not in refused.text


async def test_a_token_issued_for_30_days_opens_until_then_and_is_refused_after(
    hub: Pbxhub, tmp_path: Path
) -> None:
    anna = await hub.create_employee("Anna")
    recording_id, _, _ = await recording_on_a_contact(hub, tmp_path, [anna["id"]])
    url = f"/api/v1/recordings/{recording_id}"
    before = datetime.now(UTC)

    issued = await hub.http.post(
        f"/api/v1/employees/{anna['id']}/token", json={"expires_in_days": 30}, headers=hub.admin
    )

    assert issued.status_code == 201, issued.text
    expires_at = datetime.fromisoformat(issued.json()["expires_at"])
    assert before + timedelta(days=30) <= expires_at <= datetime.now(UTC) + timedelta(days=30)
    shown = await hub.get(f"/api/v1/employees/{anna['id']}")
    assert datetime.fromisoformat(shown["token_expires_at"]) == expires_at
    as_anna = {"Authorization": f"Bearer {issued.json()['token']}"}
    assert (await hub.http.get(url, headers=as_anna)).status_code == 200

    # the 30 days pass (the database says so; nothing else changes)
    with sqlite3.connect(tmp_path / "pbxhub.db") as db:
        db.execute(
            "UPDATE employees SET token_expires_at = ? WHERE id = ?",
            ((before - timedelta(seconds=1)).replace(tzinfo=None).isoformat(" "), anna["id"]),
        )
    expired = await hub.http.get(url, headers=as_anna)
    assert (expired.status_code, expired.headers["www-authenticate"]) == (401, "Bearer")
    assert "expired" in expired.json()["detail"]

    for days in (0, 3651, "soon"):
        wrong = await hub.http.post(
            f"/api/v1/employees/{anna['id']}/token",
            json={"expires_in_days": days},
            headers=hub.admin,
        )
        assert wrong.status_code == 422, days
        assert wrong.json()["detail"][0]["field"] == "expires_in_days"
    # a refused request issued nothing: the expired token is still the one she has
    still = await hub.get(f"/api/v1/employees/{anna['id']}")
    assert datetime.fromisoformat(still["token_expires_at"]) == before - timedelta(seconds=1)


async def test_without_valid_credentials_the_answer_is_401(hub: Pbxhub, tmp_path: Path) -> None:
    anna = await hub.create_employee("Anna")
    recording_id, _, contact_id = await recording_on_a_contact(hub, tmp_path, [anna["id"]])
    token = (await token_of(hub, anna))["Authorization"].split()[1]

    for headers in (
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": f"Basic {token}"},
        {"X-API-Key": token},  # an employee's token is a bearer token, not the admin key
    ):
        for url in (
            f"/api/v1/recordings/{recording_id}",
            f"/api/v1/contacts/{contact_id}/comments",
        ):
            answer = await hub.http.get(url, headers=headers)
            assert answer.status_code == 401, (headers, url)
            assert answer.headers["www-authenticate"] == "Bearer"
    # the admin key, either way
    for headers in (hub.admin, {"Authorization": f"Bearer {hub.admin_key}"}):
        played = await hub.http.get(f"/api/v1/recordings/{recording_id}", headers=headers)
        assert played.status_code == 200


async def test_an_employees_token_opens_nothing_of_the_admins(hub: Pbxhub) -> None:
    anna = await hub.create_employee("Anna")
    as_anna = await token_of(hub, anna)

    for method, url in (
        ("GET", "/api/v1/skipped-calls"),
        ("GET", "/api/v1/recordings/outcomes"),
        ("GET", f"/api/v1/employees/{anna['id']}"),
        ("POST", f"/api/v1/employees/{anna['id']}/token"),
        ("DELETE", f"/api/v1/employees/{anna['id']}/token"),
        ("PATCH", f"/api/v1/employees/{anna['id']}"),
    ):
        answer = await hub.http.request(method, url, headers=as_anna, json={})
        assert answer.status_code == 403, (method, url, answer.text)
        assert "admin key" in answer.json()["detail"]
    # nothing was changed for her, and her token still names her (404, not 401)
    assert (await hub.get(f"/api/v1/employees/{anna['id']}"))["hears_recordings"] is False
    still = await hub.http.get("/api/v1/contacts/999/comments", headers=as_anna)
    assert still.status_code == 404


async def test_tokens_and_the_right_to_hear_recordings_are_the_admins_to_give(hub: Pbxhub) -> None:
    created = await hub.create_employee("Anna", hears_recordings=True)
    assert created["hears_recordings"] is True
    assert (await hub.create_employee("Boris"))["hears_recordings"] is False
    url = f"/api/v1/employees/{created['id']}"

    await hears_recordings(hub, created, False)
    assert (await hub.get(url))["hears_recordings"] is False
    unchanged = await hub.http.patch(url, json={}, headers=hub.admin)
    assert unchanged.json()["hears_recordings"] is False
    for method, path in (
        ("PATCH", "/api/v1/employees/999"),
        ("POST", "/api/v1/employees/999/token"),
        ("DELETE", "/api/v1/employees/999/token"),
    ):
        answer = await hub.http.request(
            method, path, json={"hears_recordings": True}, headers=hub.admin
        )
        assert answer.status_code == 404, (method, path)
    wrong = await hub.http.patch(url, json={"hears_recordings": "sometimes"}, headers=hub.admin)
    assert wrong.status_code == 422 and wrong.json()["detail"][0]["field"] == "hears_recordings"


# -- comments ---------------------------------------------------------------------------------


async def test_an_employee_comments_as_themselves_on_a_call_they_may_hear(
    hub: Pbxhub, host: FileHost
) -> None:
    channel, anna, boris = await uis_line(hub)
    call = await recorded_call(hub, host, channel)
    as_anna, as_boris = await token_of(hub, anna), await token_of(hub, boris)
    comments = f"/api/v1/calls/{call['id']}/comments"

    written = await hub.http.post(comments, json={"text": "Wants a quote"}, headers=as_anna)
    assert written.status_code == 201, written.text
    comment = written.json()
    assert (comment["author_employee_id"], comment["contact_id"]) == (
        anna["id"],
        call["contact_id"],
    )

    as_someone_else = await hub.http.post(
        comments, json={"text": "x", "author_employee_id": boris["id"]}, headers=as_anna
    )
    assert as_someone_else.status_code == 403
    assert "as themselves" in as_someone_else.json()["detail"]
    not_theirs = await hub.http.post(comments, json={"text": "x"}, headers=as_boris)
    assert not_theirs.status_code == 403
    no_author = await hub.http.post(comments, json={"text": "x"}, headers=hub.admin)
    assert no_author.status_code == 422 and "author_employee_id" in no_author.text

    assert (await hub.http.get(comments, headers=as_anna)).json() == [comment]
    assert (await hub.http.get(comments, headers=as_boris)).status_code == 403
    card = f"/api/v1/contacts/{call['contact_id']}/comments"
    assert (await hub.http.get(card, headers=as_anna)).json() == [comment]
    assert (await hub.http.get(card, headers=as_boris)).status_code == 403
    assert (await hub.http.get("/api/v1/contacts/999/comments", headers=as_anna)).status_code == 404
    assert (await hub.http.get("/api/v1/tasks/999/comments", headers=as_anna)).status_code == 404
    assert await hub.get(comments) == [comment]  # and the admin, as ever
