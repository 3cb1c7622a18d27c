"""The pages over plain HTTP (what needs no browser): the admin's contact forms, checked as the
API checks its bodies; an employee's form refused as the API refuses them, and a form without
the session's CSRF token or too big; the calls' filter, a call's page, a wrong parameter."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from conftest import (
    Site,
    contact_with_a_recorded_call,
    employee_who_signs_in,
    sign_in_over_http,
    signin_form_token,
)

from crm import ContactPhone
from crm.passwords import hash_password
from web.page_route import MAX_FORM_BYTES

PASSWORD = "correct horse battery"


async def test_the_admin_makes_and_changes_a_contact_on_its_pages(site: Site) -> None:
    site.store.create_admin("boss", hash_password(PASSWORD))
    anna = site.store.create_employee(name="Anna")
    async with httpx.AsyncClient(base_url=site.url) as http:
        csrf = await sign_in_over_http(http, "boss", PASSWORD)
        made = await http.post(
            "/contacts",
            data={
                "csrf_token": csrf,
                "name": "Ivan Petrov",
                "phones": "8 916 123-45-67\n+7 495 000-00-01\n",
                "fields": "company: Roga i Kopyta\ncity: Tver",
                "responsible": [str(anna.id)],
            },
        )
        assert made.status_code == 303, made.text
        contact_url = made.headers["location"]
        contact_id = int(contact_url.rsplit("/", 1)[1])
        contact = site.store.get_contact(contact_id)
        assert contact is not None and contact.name == "Ivan Petrov"
        assert [p.phone for p in contact.phones] == ["+79161234567", "+74950000001"]
        assert contact.fields == {"company": "Roga i Kopyta", "city": "Tver"}
        assert contact.responsible_employee_ids == [anna.id]
        shown = await http.get(contact_url)
        assert "Ivan Petrov" in shown.text and 'id="contact-form"' in shown.text

        changed = await http.post(
            contact_url,
            data={"csrf_token": csrf, "name": "", "phones": "+74950000001", "fields": ""},
        )
        assert changed.status_code == 303
        contact = site.store.get_contact(contact_id)
        assert contact is not None and contact.name is None and contact.fields == {}
        assert contact.phones == [ContactPhone("+74950000001", "+7 495 000-00-01")]
        assert contact.responsible_employee_ids == []  # none ticked

        wrong = await http.post(
            contact_url, data={"csrf_token": csrf, "phones": "+74950000001", "fields": "no colon"}
        )
        assert wrong.status_code == 422 and "fields: line 1" in wrong.text
        unreadable = await http.post(contact_url, data={"csrf_token": csrf, "phones": "ext 12"})
        assert unreadable.status_code == 422 and "phones.0" in unreadable.text
        no_token = await http.post(contact_url, data={"name": "Forged", "phones": "+79160000000"})
        assert no_token.status_code == 403
    contact = site.store.get_contact(contact_id)
    assert contact is not None and contact.name is None


async def test_an_employee_s_contact_form_is_refused_as_the_api_refuses_it(site: Site) -> None:
    anna = site.store.create_employee(name="Anna")
    site.store.set_employee_sign_in(anna.id, login="anna", password_hash=hash_password(PASSWORD))
    contact = site.store.create_contact(
        name="Ivan", phones=[ContactPhone("+79161234567")], responsible_employee_ids=[anna.id]
    )
    async with httpx.AsyncClient(base_url=site.url) as http:
        csrf = await sign_in_over_http(http, "anna", PASSWORD)
        shown = await http.get(f"/contacts/{contact.id}")
        assert shown.status_code == 200 and 'id="contact-form"' not in shown.text
        refused = await http.post(
            f"/contacts/{contact.id}",
            data={"csrf_token": csrf, "name": "Renamed", "phones": "+79161234567"},
        )
        assert refused.status_code == 403
        assert (await http.get("/contacts/new")).status_code == 403
    kept = site.store.get_contact(contact.id)
    assert kept is not None and kept.name == "Ivan"


async def test_a_page_s_wrong_parameter_is_a_page_naming_it(site: Site) -> None:
    site.store.create_admin("boss", hash_password(PASSWORD))
    async with httpx.AsyncClient(base_url=site.url) as http:
        await sign_in_over_http(http, "boss", PASSWORD)
        wrong = await http.get("/calls", params={"kind": "all of them"})
        no_phone = await http.get("/calls", params={"phone": "x"})
        too_big = await http.get("/contacts/99999999999")
    assert wrong.status_code == 422 and wrong.headers["content-type"].startswith("text/html")
    assert "kind:" in wrong.text
    assert (
        no_phone.status_code == 422 and "phone: &#39;x&#39; is not a phone number" in no_phone.text
    )
    assert too_big.status_code == 422 and "contact_id:" in too_big.text


async def test_the_calls_page_finds_a_number_typed_in_any_format(site: Site) -> None:
    anna = employee_who_signs_in(site, "Anna", PASSWORD)
    wanted = contact_with_a_recorded_call(site, anna, "+79160000002")
    other = contact_with_a_recorded_call(site, anna, "+79160000003")
    async with httpx.AsyncClient(base_url=site.url) as http:
        await sign_in_over_http(http, "anna", PASSWORD)
        everything = await http.get("/calls", params={"kind": "", "phone": ""})
        found = await http.get("/calls", params={"kind": "call", "phone": "8 (916) 000-00-02"})
    assert f'id="call-{wanted.call_id}"' in everything.text
    assert f'id="call-{other.call_id}"' in everything.text
    assert f'id="call-{wanted.call_id}"' in found.text
    assert f'id="call-{other.call_id}"' not in found.text
    assert 'value="8 (916) 000-00-02"' in found.text  # the form keeps what was typed


async def test_a_call_s_page_shows_its_legs_and_comments_to_whom_may_hear_it(site: Site) -> None:
    anna = employee_who_signs_in(site, "Anna", PASSWORD)
    boris = employee_who_signs_in(site, "Boris", PASSWORD)
    annas = contact_with_a_recorded_call(site, anna, "+79160000002")
    borises = contact_with_a_recorded_call(site, boris, "+79160000003")
    site.store.add_comment(text="Call back on Monday", call_id=annas.call_id)
    async with httpx.AsyncClient(base_url=site.url) as http:
        await sign_in_over_http(http, "anna", PASSWORD)
        hers = await http.get(f"/calls/{annas.call_id}")
        not_hers = await http.get(f"/calls/{borises.call_id}")
    assert hers.status_code == 200
    legs = hers.text[hers.text.index('id="call-legs"') : hers.text.index("</table>")]
    assert "Reception" in legs and "Anna" in legs and "0:42" in legs
    assert "Call back on Monday" in hers.text
    assert f'src="/recordings/{annas.recording_id}"' in hers.text
    assert not_hers.status_code == 403
    assert f"employee {anna.id} is not responsible for contact {borises.contact.id}" in (
        not_hers.text
    )


async def test_a_form_too_big_is_refused_before_it_is_read(site: Site) -> None:
    async with httpx.AsyncClient(base_url=site.url) as http:
        token = await signin_form_token(http)
        huge = await http.post(
            "/signin", data={"login": "x" * (MAX_FORM_BYTES + 1), "csrf_token": token}
        )

        async def unmeasured() -> AsyncIterator[bytes]:
            yield b"login=boss&password=x"

        chunked = await http.post(
            "/signin",
            content=unmeasured(),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert huge.status_code == 413 and "at most 128 KiB" in huge.text
    assert chunked.status_code == 411
