"""The pages in a real browser (Debian's Chromium through Playwright) against pbxhub served on
a loopback port: signing in and out, a wrong password, a form without its CSRF token, the
contact page a PBX links to, and an employee kept to what the API lets them see."""

from __future__ import annotations

from typing import Any

from conftest import Site, contact_with_a_recorded_call, employee_who_signs_in, sign_in_on_page

from crm.passwords import hash_password
from web.signin import WRONG_CREDENTIALS

PASSWORD = "correct horse battery"


async def sign_in(page: Any, login: str, password: str = PASSWORD) -> None:
    await sign_in_on_page(page, login, password)


async def test_the_start_page_leads_to_sign_in_then_home_and_sign_out_ends_it(
    browser_page: Any, site: Site
) -> None:
    site.store.create_admin("boss", hash_password(PASSWORD))
    page = browser_page
    await page.goto("/")
    assert page.url == f"{site.url}/signin"
    await sign_in(page, "Boss")
    await page.wait_for_url(f"{site.url}/calls")
    assert await page.get_by_role("heading", name="Calls").is_visible()
    assert await page.get_by_role("link", name="Channels").is_visible()  # the admin's pages
    cookie = next(c for c in await page.context.cookies() if c["name"] == "pbxhub_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"

    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url(f"{site.url}/signin")
    assert not [c for c in await page.context.cookies() if c["name"] == "pbxhub_session"]
    await page.goto("/calls")
    assert page.url == f"{site.url}/signin?next=/calls"


async def test_a_wrong_password_says_so_and_signs_nobody_in(browser_page: Any, site: Site) -> None:
    site.store.create_admin("boss", hash_password(PASSWORD))
    page = browser_page
    await page.goto("/signin")
    await sign_in(page, "boss", "not the password")
    assert await page.get_by_role("alert").inner_text() == WRONG_CREDENTIALS
    assert await page.get_by_label("Login").input_value() == "boss"
    assert not [c for c in await page.context.cookies() if c["name"] == "pbxhub_session"]
    await sign_in(page, "boss")
    await page.wait_for_url(f"{site.url}/calls")


async def test_a_form_sent_without_its_csrf_token_is_refused(browser_page: Any, site: Site) -> None:
    site.store.create_admin("boss", hash_password(PASSWORD))
    page = browser_page
    await page.goto("/signin")
    await sign_in(page, "boss")
    await page.wait_for_url(f"{site.url}/calls")
    # as a page of another site would send it: the form without the session's token
    await page.locator("form.signout input[name=csrf_token]").evaluate("input => input.remove()")
    async with page.expect_response(f"{site.url}/signout") as answer:
        await page.get_by_role("button", name="Sign out").click()
    assert (await answer.value).status == 403
    assert "security token" in await page.get_by_role("alert").inner_text()
    await page.goto("/calls")  # still signed in: nothing was done
    assert page.url == f"{site.url}/calls"


async def test_the_contact_link_a_pbx_hands_out_opens_the_contact_after_sign_in(
    browser_page: Any, site: Site
) -> None:
    anna = employee_who_signs_in(site, "Anna", PASSWORD)
    theirs = contact_with_a_recorded_call(site, anna, "+79161234567")
    page = browser_page
    link = f"{site.url}/contacts/{theirs.contact.id}"  # what routing replies carry

    await page.goto(link)
    assert page.url == f"{site.url}/signin?next=/contacts/{theirs.contact.id}"
    await sign_in(page, "anna")
    await page.wait_for_url(link)
    assert await page.locator("#contact-name").inner_text() == "Caller 4567"
    assert await page.locator("#contact-phones .phone").inner_text() == "+79161234567"
    assert await page.get_by_role("button", name="Call +79161234567").is_visible()
    assert "Roga i Kopyta" in await page.locator("#contact-fields").inner_text()
    assert await page.locator("#contact-responsibles").inner_text() == "Anna"
    # text from people is shown as text, never as markup
    assert "Asked for a quote <b>today</b>" in await page.locator("#contact-comments").inner_text()
    row = page.locator(f"#call-{theirs.call_id}")
    assert "0:42" in await row.inner_text()
    source = await row.locator("audio").get_attribute("src")
    assert source == f"/recordings/{theirs.recording_id}"
    # the player's request, with the browser's cookie: the file, and parts of it
    played = await page.request.get(source)
    assert played.status == 200 and await played.body() == theirs.audio
    part = await page.request.get(source, headers={"Range": "bytes=0-99"})
    assert part.status == 206 and await part.body() == theirs.audio[:100]
    assert await page.locator("#contact-form").count() == 0  # the form is the admin's


async def test_an_employee_opens_neither_another_s_contact_nor_its_call(
    browser_page: Any, site: Site
) -> None:
    anna, boris = (
        employee_who_signs_in(site, "Anna", PASSWORD),
        employee_who_signs_in(site, "Boris", PASSWORD),
    )
    borises = contact_with_a_recorded_call(site, boris, "+79160000001")
    annas = contact_with_a_recorded_call(site, anna, "+79160000002")
    page = browser_page
    await page.goto("/signin")
    await sign_in(page, "anna")
    await page.wait_for_url(f"{site.url}/calls")
    # the list holds her call only, as the API's list would
    assert await page.locator(f"#call-{annas.call_id}").count() == 1
    assert await page.locator(f"#call-{borises.call_id}").count() == 0

    answer = await page.goto(f"/contacts/{borises.contact.id}")
    assert answer.status == 403
    reason = await page.get_by_role("alert").inner_text()
    assert reason == f"employee {anna.id} is not responsible for contact {borises.contact.id}"
    assert "Caller 0001" not in await page.content()
    for path in (f"/recordings/{borises.recording_id}", f"/calls/{borises.call_id}/recording"):
        refused = await page.request.get(path, max_redirects=0)
        assert refused.status == 403, path
        assert borises.audio not in await refused.body()
    assert (await page.goto("/contacts/9999")).status == 404


async def test_the_admin_copies_a_webhook_url_and_resets_an_employee_s_password(
    browser_page: Any, site: Site
) -> None:
    site.store.create_admin("boss", hash_password(PASSWORD))
    anna = employee_who_signs_in(site, "Anna", PASSWORD)
    page = browser_page
    await page.goto("/signin")
    await sign_in(page, "boss")
    await page.wait_for_url(f"{site.url}/calls")
    # a channel's webhook URL, copied with its button (the page's own script, under its CSP)
    channel = site.store.create_channel(provider="uis", name="Sales line")
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await page.get_by_role("link", name="Channels").click()
    card = page.locator(f"#channel-{channel.id}")
    url = await card.get_by_label("notify URL").input_value()
    assert url == f"{site.url}/hooks/uis/{channel.secret_key}/notify"
    await card.get_by_role("button", name="Copy").first.click()
    await card.get_by_role("button", name="Copied").wait_for()  # the clipboard answers later
    assert await page.evaluate("navigator.clipboard.readText()") == url

    await page.get_by_role("link", name="Employees").click()
    row = page.locator(f"#employee-{anna.id}")
    await row.get_by_label("New password").fill("a brand new passphrase")
    await row.get_by_role("button", name="Reset password").click()
    await page.wait_for_url(f"**/admin/employees?saved={anna.id}*")
    assert "anna signs in with the new password" in await row.get_by_role("status").inner_text()
    await page.get_by_role("button", name="Sign out").click()

    await page.wait_for_url(f"{site.url}/signin")
    await sign_in(page, "anna")  # the old password
    assert await page.get_by_role("alert").inner_text() == WRONG_CREDENTIALS
    await sign_in(page, "anna", "a brand new passphrase")
    await page.wait_for_url(f"{site.url}/calls")
