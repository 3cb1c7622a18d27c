"""Contacts made and changed by the admin over the API, on SQLite and PostgreSQL: numbers in any
format, name, fields and responsibles; a number is one contact's only; employees may not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from conftest import serving_pbxhub

from crm import Store


@pytest.fixture
async def admin_http(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    """The admin's client of pbxhub served over HTTP on the store (each backend)."""
    async with (
        serving_pbxhub(store) as site,
        httpx.AsyncClient(base_url=site.url, headers=site.admin) as http,
    ):
        yield http


async def create(http: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await http.post("/api/v1/contacts", json=body)


async def test_the_admin_creates_a_contact_whose_numbers_then_find_it(
    admin_http: httpx.AsyncClient, store: Store
) -> None:
    anna = store.create_employee(name="Anna")
    created = await create(
        admin_http,
        name="Ivan Petrov",
        phones=["8 (916) 123-45-67", "+7 495 000-00-01"],
        fields={"company": "Roga i Kopyta"},
        responsible_employee_ids=[anna.id],
    )
    assert created.status_code == 201, created.text
    contact = created.json()
    assert contact["name"] == "Ivan Petrov"
    assert contact["phones"] == [
        {"phone": "+79161234567", "raw": "8 (916) 123-45-67"},
        {"phone": "+74950000001", "raw": "+7 495 000-00-01"},
    ]
    assert contact["fields"] == {"company": "Roga i Kopyta"}
    assert contact["responsible_employee_ids"] == [anna.id]
    assert (await admin_http.get(f"/api/v1/contacts/{contact['id']}")).json() == contact
    # a call from either number finds this contact, it makes no second one
    found, made = store.find_or_create_contact(phone="+74950000001")
    assert (found.id, made) == (contact["id"], False)


async def test_a_contact_that_cannot_be_made_is_refused_naming_the_field(
    admin_http: httpx.AsyncClient,
) -> None:
    first = await create(admin_http, phones=["+79161234567"])
    assert first.status_code == 201
    taken = await create(admin_http, name="Someone else", phones=["89161234567"])
    assert taken.status_code == 409 and "phones" in taken.text and "+79161234567" in taken.text
    unreadable = await create(admin_http, phones=["+79161234568", "ext 12"])
    assert unreadable.status_code == 422 and "phones.1" in unreadable.text
    nobody = await create(admin_http, phones=["+79161234569"], responsible_employee_ids=[999])
    assert nobody.status_code == 422 and "responsible_employee_ids" in nobody.text
    no_number = await create(admin_http, name="Nameless", phones=[])
    assert no_number.status_code == 422 and "phones" in no_number.text
    nul = await create(admin_http, name="Iv\u0000an", phones=["+79161234570"])
    assert nul.status_code == 422 and "name" in nul.text
    country = await create(admin_http, phones=["+79161234571"], country="XX")
    assert country.status_code == 422 and "country" in country.text
    assert len((await admin_http.get("/api/v1/contacts")).json()) == 1


async def test_the_admin_changes_a_contact_s_name_numbers_fields_and_responsibles(
    admin_http: httpx.AsyncClient, store: Store
) -> None:
    anna, boris = store.create_employee(name="Anna"), store.create_employee(name="Boris")
    contact = (
        await create(
            admin_http,
            name="Ivan",
            phones=["8 916 123-45-67"],
            fields={"city": "Tver"},
            responsible_employee_ids=[anna.id],
        )
    ).json()
    url = f"/api/v1/contacts/{contact['id']}"

    changed = await admin_http.patch(
        url,
        json={
            "name": "Ivan Petrov",
            "phones": ["+74950000001", "+79161234567"],
            "fields": {"company": "Roga i Kopyta"},
            "responsible_employee_ids": [boris.id, anna.id],
        },
    )
    assert changed.status_code == 200, changed.text
    assert changed.json() == {
        **contact,
        "name": "Ivan Petrov",
        # a number kept keeps what was first written of it; the first is the main one
        "phones": [
            {"phone": "+74950000001", "raw": "+74950000001"},
            {"phone": "+79161234567", "raw": "8 916 123-45-67"},
        ],
        "fields": {"company": "Roga i Kopyta"},
        "responsible_employee_ids": [boris.id, anna.id],
    }
    # what is left out stays; "" clears the name
    cleared = await admin_http.patch(url, json={"name": ""})
    assert cleared.json() == {**changed.json(), "name": None}
    assert (await admin_http.patch(url, json={})).json() == cleared.json()
    # the number it gave up is free for another contact; it takes no other's number
    other = await create(admin_http, phones=["+79160000000"])
    assert other.status_code == 201
    taken = await admin_http.patch(url, json={"phones": ["+79160000000"]})
    assert taken.status_code == 409 and "phones" in taken.text
    assert (await admin_http.patch(url, json={"phones": []})).status_code == 422
    unknown = await admin_http.patch(url, json={"responsible_employee_ids": [999]})
    assert unknown.status_code == 422 and "responsible_employee_ids" in unknown.text
    missing = await admin_http.patch("/api/v1/contacts/9999", json={"name": "x"})
    assert missing.status_code == 404
    assert (await admin_http.get(url)).json() == cleared.json()


async def test_an_employee_neither_makes_nor_changes_contacts(
    admin_http: httpx.AsyncClient, store: Store
) -> None:
    anna = store.create_employee(name="Anna")
    contact = (
        await create(admin_http, phones=["+79161234567"], responsible_employee_ids=[anna.id])
    ).json()
    token = store.issue_token(anna.id)
    async with httpx.AsyncClient(
        base_url=str(admin_http.base_url), headers={"Authorization": f"Bearer {token}"}
    ) as as_anna:
        made = await as_anna.post("/api/v1/contacts", json={"phones": ["+79160000000"]})
        changed = await as_anna.patch(f"/api/v1/contacts/{contact['id']}", json={"name": "x"})
    assert made.status_code == 403 and changed.status_code == 403
