"""The call-time forms and the call's page over HTTP, as a browser sends them, on a real UIS call
through Temporal: a comment and "create contact" posted from the page while Anna talks; the
call's page then shows the PBX's events in order, the comment and the contact; Boris, who was
not on the call, sees neither the call nor the contact."""

from __future__ import annotations

from typing import Any

from conftest import Pbxhub, scenario, sign_in_over_http

from crm.passwords import hash_password

SESSION = 3410000101
PASSWORD = "correct horse battery"


async def signed_in(hub: Pbxhub, employee: dict[str, Any]) -> tuple[Any, str]:
    """A browser-like client of the same app, signed in as `employee`; its CSRF token."""
    login = employee["name"].split()[0].lower()
    hub.store.set_employee_sign_in(
        employee["id"], login=login, password_hash=hash_password(PASSWORD)
    )
    http = type(hub.http)(transport=hub.http._transport, base_url=hub.http.base_url)
    return http, await sign_in_over_http(http, login, PASSWORD)


async def test_forms_during_a_call_and_the_call_page_after_it(pbxhub: Pbxhub) -> None:
    staff = {
        "Anna Smirnova": {"extension": "101", "pbx_user_id": "28511"},
        "Boris Ivanov": {"extension": "102", "pbx_user_id": "28512"},
    }
    channel, (anna, boris) = await pbxhub.create_line("uis", staff, timezone="Europe/Moscow")
    webhooks = scenario("uis", "inbound_answered")
    await pbxhub.deliver(channel, webhooks[:3])
    anna_http, csrf = await signed_in(pbxhub, anna)
    live = f"/calls/live/{channel['id']}/{SESSION}"

    try:
        made = await anna_http.post(
            f"{live}/contact",
            data={
                "csrf_token": csrf,
                "name": "Ivan Petrov",
                "fields": "company: Roga",
                "back": "/calls",
            },
        )
        assert made.status_code == 303, made.text
        assert made.headers["location"] == "/calls?contact=pending"  # the call is not written
        typed = await anna_http.post(
            f"{live}/comment",
            data={"csrf_token": csrf, "text": "Wants 40 chairs", "key": "page-comment-1"},
        )
        assert typed.status_code == 303, typed.text
        assert typed.headers["location"] == "/calls?comment=pending"
        # without its CSRF token a form is refused
        forged = await anna_http.post(f"{live}/comment", data={"text": "forged"})
        assert forged.status_code == 403

        await pbxhub.deliver(channel, webhooks[3:])
        result = await pbxhub.call_result(channel, SESSION)
        shown = await anna_http.get(f"/calls/{result.call_id}")
        assert shown.status_code == 200, shown.text
        html = shown.text
        assert "Wants 40 chairs" in html
        assert "Ivan Petrov" in html
        timeline = html[html.index('id="call-timeline"') : html.index("</ol>")]
        assert timeline.count("<li") == len(webhooks), timeline
        kinds = [part.split("</strong>")[0] for part in timeline.split("<strong>")[1:]]
        assert kinds[-1] == "recording ready", kinds  # in the order pbxhub received them
        assert 'action="/calls/live/' in html  # the forms, for what comes after the call
    finally:
        await anna_http.aclose()

    boris_http, _ = await signed_in(pbxhub, boris)
    try:
        call_page = await boris_http.get(f"/calls/{result.call_id}")
        assert call_page.status_code == 403
        assert result.call_id is not None
        written = pbxhub.store.get_call(result.call_id)
        assert written is not None
        contact_id = written.contact_id
        contact_page = await boris_http.get(f"/contacts/{contact_id}")
        assert contact_page.status_code == 403
    finally:
        await boris_http.aclose()
