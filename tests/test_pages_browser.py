"""The pages in a real browser (Debian's Chromium through Playwright) against pbxhub served on
a loopback port: signing in and out, a wrong password, a form without its CSRF token."""

from __future__ import annotations

from typing import Any

from conftest import Site

from crm.passwords import hash_password
from web.signin import WRONG_CREDENTIALS

PASSWORD = "correct horse battery"


async def sign_in(page: Any, login: str, password: str = PASSWORD) -> None:
    await page.get_by_label("Login").fill(login)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


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
