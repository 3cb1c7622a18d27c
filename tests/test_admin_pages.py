"""The admin's pages: channels with the webhook URLs to give the PBX, employees with their
numbers per channel and their sign-in, groups, and the calls not recorded with their reason; an
employee opens none of them (as the API's admin routes)."""

from __future__ import annotations

import httpx
from conftest import Site, sign_in_over_http

from crm import EmployeeLink, SkippedCallRecord
from crm.passwords import hash_password

PASSWORD = "correct horse battery"


async def test_the_admin_s_pages_show_channels_employees_groups_and_skipped_calls(
    site: Site,
) -> None:
    store = site.store
    store.create_admin("boss", hash_password(PASSWORD))
    channel = store.create_channel(provider="uis", name="Sales line")
    anna = store.create_employee(
        name="Anna", links=[EmployeeLink(channel_id=channel.id, extension="101")]
    )
    store.set_employee_sign_in(anna.id, login="anna", password_hash=hash_password(PASSWORD))
    store.create_group(name="Sales desk", employee_ids=[anna.id])
    store.save_skipped_call(
        SkippedCallRecord(
            channel_id=channel.id,
            session_id="s-115",
            provider="uis",
            reason="unknown_employee",
            detail="unknown employee: extension 115",
            contact_phone="+79161234567",
        )
    )
    async with httpx.AsyncClient(base_url=site.url) as http:
        await sign_in_over_http(http, "boss", PASSWORD)
        channels = (await http.get("/admin/channels")).text
        employees = (await http.get("/admin/employees")).text
        groups = (await http.get("/admin/groups")).text
        skipped = (await http.get("/admin/skipped-calls")).text

    assert "Sales line" in channels and channel.secret_key in channels
    assert f"{site.url}/hooks/uis/{channel.secret_key}/notify" in channels
    assert "Anna" in employees and "Sales line: 101" in employees
    assert 'value="anna"' in employees and "Reset password" in employees
    assert "Sales desk" in groups and "Anna" in groups
    assert "unknown_employee" in skipped and "unknown employee: extension 115" in skipped


async def test_an_employee_opens_none_of_the_admin_s_pages(site: Site) -> None:
    anna = site.store.create_employee(name="Anna")
    site.store.set_employee_sign_in(anna.id, login="anna", password_hash=hash_password(PASSWORD))
    bob = site.store.create_employee(name="Bob")
    async with httpx.AsyncClient(base_url=site.url) as http:
        csrf = await sign_in_over_http(http, "anna", PASSWORD)
        for path in (
            "/admin/channels",
            "/admin/employees",
            "/admin/groups",
            "/admin/skipped-calls",
        ):
            answer = await http.get(path)
            assert answer.status_code == 403, path
            assert "this page is the admin&#39;s" in answer.text
        taken_over = await http.post(
            f"/admin/employees/{bob.id}/sign-in",
            data={"csrf_token": csrf, "login": "bob", "password": "anna knows it now"},
        )
        assert taken_over.status_code == 403
    assert site.store.employee_account(bob.id) is None
