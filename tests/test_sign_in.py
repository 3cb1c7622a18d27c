"""Signing in to the pages, without a browser: accounts in the store (SQLite and PostgreSQL),
the admin setting an employee's login and password over the API, `pbxhub admin create`, and the
sign-in form's answers (one for a wrong login or password, after a pause that does not hold up
anyone else, and nothing without its CSRF token)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from conftest import Site, downgrade_to, serving_pbxhub, signin_form_token

from crm import Store
from crm.accounts import LoginTaken
from crm.passwords import hash_password
from web.signin import WRONG_CREDENTIALS, WRONG_PASSWORD_DELAY

PASSWORD = "correct horse battery"


def test_an_employee_s_sign_in_keeps_only_an_argon2_hash_and_a_reset_signs_them_out(
    store: Store,
) -> None:
    employee = store.create_employee(name="Anna")
    account = store.set_employee_sign_in(
        employee.id, login=" Anna.K ", password_hash=hash_password(PASSWORD)
    )
    assert account is not None and account.login == "anna.k" and not account.is_admin
    credentials = store.credentials("ANNA.K")
    assert credentials is not None and credentials.account == account
    assert credentials.password_hash.startswith("$argon2id$")
    assert PASSWORD not in credentials.password_hash

    store.open_web_session(account.id, "browser-token", expires_at=_in(hours=1))
    assert store.web_session_account("browser-token") == account
    store.set_employee_sign_in(
        employee.id, login=None, password_hash=hash_password("a new passphrase")
    )
    assert store.web_session_account("browser-token") is None


def test_a_login_is_one_account_s_and_a_new_account_needs_one(store: Store) -> None:
    anna, boris = store.create_employee(name="Anna"), store.create_employee(name="Boris")
    store.create_admin("boss", hash_password(PASSWORD))
    with pytest.raises(LoginTaken):
        store.set_employee_sign_in(anna.id, login="BOSS", password_hash=hash_password(PASSWORD))
    with pytest.raises(LoginTaken):
        store.create_admin("Boss", hash_password(PASSWORD))
    with pytest.raises(ValueError, match="give a login"):
        store.set_employee_sign_in(boris.id, login=None, password_hash=hash_password(PASSWORD))
    assert store.set_employee_sign_in(999, login="x", password_hash="h") is None


def test_an_expired_or_closed_web_session_signs_nobody_in(store: Store) -> None:
    admin = store.create_admin("boss", hash_password(PASSWORD))
    store.open_web_session(admin.id, "old", expires_at=_in(hours=-1))
    store.open_web_session(admin.id, "current", expires_at=_in(hours=1))
    assert store.web_session_account("old") is None
    assert store.web_session_account("current") == admin
    store.close_web_session("current")
    assert store.web_session_account("current") is None


def test_migration_0009_downgrades_to_exactly_what_was_there(database_url: str) -> None:
    store = Store(database_url)
    store.migrate()
    anna = store.create_employee(name="Anna")
    store.set_employee_sign_in(anna.id, login="anna", password_hash=hash_password(PASSWORD))
    store.close()

    schema = downgrade_to(database_url, "0008")

    assert "accounts" not in schema.columns and "web_sessions" not in schema.columns
    again = Store(database_url)
    try:
        again.migrate()
        assert again.get_employee(anna.id) is not None
        assert again.credentials("anna") is None  # the sign-in went with its table
    finally:
        again.close()


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Site]:
    store = Store(f"sqlite:///{tmp_path / 'pbxhub.db'}")
    store.migrate()
    try:
        async with serving_pbxhub(store) as site:
            yield site
    finally:
        store.close()


async def test_the_admin_sets_and_resets_an_employee_s_sign_in_over_the_api(served: Site) -> None:
    employee = served.store.create_employee(name="Anna")
    url = f"/api/v1/employees/{employee.id}/sign-in"
    async with httpx.AsyncClient(base_url=served.url, headers=served.admin) as http:
        assert (await http.get(url)).status_code == 404
        first = await http.put(url, json={"password": PASSWORD})
        assert first.status_code == 422 and "login" in first.text
        short = await http.put(url, json={"login": "anna", "password": "short"})
        assert short.status_code == 422 and "password" in short.text
        given = await http.put(url, json={"login": "Anna", "password": PASSWORD})
        assert given.status_code == 200, given.text
        assert given.json() == {"employee_id": employee.id, "login": "anna"}
        reset = await http.put(url, json={"password": "another passphrase"})
        assert reset.json()["login"] == "anna"
        assert (await http.get(url)).json()["login"] == "anna"
        other = served.store.create_employee(name="Boris")
        taken = await http.put(
            f"/api/v1/employees/{other.id}/sign-in", json={"login": "ANNA", "password": PASSWORD}
        )
        assert taken.status_code == 409 and "login" in taken.text
        missing = await http.put("/api/v1/employees/9999/sign-in", json={"password": PASSWORD})
        assert missing.status_code == 404
        token = served.store.issue_token(employee.id)
        async with httpx.AsyncClient(base_url=served.url) as as_employee:
            refused = await as_employee.put(
                url, json={"password": PASSWORD}, headers={"Authorization": f"Bearer {token}"}
            )
        assert refused.status_code == 403
        assert (await http.delete(url)).status_code == 204
        assert (await http.get(url)).status_code == 404
    assert served.store.credentials("anna") is None


async def test_a_wrong_login_or_password_get_one_answer_after_a_pause_that_blocks_nobody(
    served: Site,
) -> None:
    served.store.create_admin("boss", hash_password(PASSWORD))
    async with httpx.AsyncClient(base_url=served.url) as http:
        token = await signin_form_token(http)

        async def sign_in(login: str, password: str) -> tuple[httpx.Response, float]:
            started = time.monotonic()
            answer = await http.post(
                "/signin", data={"login": login, "password": password, "csrf_token": token}
            )
            return answer, time.monotonic() - started

        async def health_while_waiting() -> float:
            await asyncio.sleep(0.3)  # the sign-in is in its pause by now
            started = time.monotonic()
            assert (await http.get("/healthz")).status_code == 200
            return time.monotonic() - started

        (wrong_password, waited), health = await asyncio.gather(
            sign_in("boss", "not the password"), health_while_waiting()
        )
        wrong_login, waited_too = await sign_in("nobody", "not the password")

    for answer, seconds in ((wrong_password, waited), (wrong_login, waited_too)):
        assert answer.status_code == 401
        assert WRONG_CREDENTIALS in answer.text
        assert seconds >= WRONG_PASSWORD_DELAY.total_seconds()
        assert "pbxhub_session" not in answer.headers.get("set-cookie", "")
    # nothing tells a login that exists from one that does not
    assert wrong_password.text.replace("boss", "nobody") == wrong_login.text
    assert health < 0.5


async def test_signing_in_needs_the_form_s_own_token_and_gives_a_signed_httponly_cookie(
    served: Site,
) -> None:
    served.store.create_admin("boss", hash_password(PASSWORD))
    async with httpx.AsyncClient(base_url=served.url) as http:
        token = await signin_form_token(http)
        forged = await http.post(
            "/signin", data={"login": "boss", "password": PASSWORD, "csrf_token": "forged"}
        )
        assert forged.status_code == 403
        signed_in = await http.post(
            "/signin",
            data={"login": "boss", "password": PASSWORD, "csrf_token": token, "next": "//evil"},
        )
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == "/"  # never to another site
        cookie = signed_in.headers["set-cookie"]
        assert "pbxhub_session=" in cookie and "HttpOnly" in cookie
        assert "SameSite=lax" in cookie or "samesite=lax" in cookie.lower()
        assert (await http.get("/calls")).status_code == 200
        # the signature holds the cookie: an altered one signs nobody in
        session = http.cookies["pbxhub_session"]
        http.cookies.set("pbxhub_session", "x" + session[1:])
        assert (await http.get("/calls")).status_code == 303


async def test_state_changing_requests_of_the_pages_need_the_session_s_csrf_token(
    served: Site,
) -> None:
    served.store.create_admin("boss", hash_password(PASSWORD))
    async with httpx.AsyncClient(base_url=served.url) as http:
        token = await signin_form_token(http)
        await http.post(
            "/signin", data={"login": "boss", "password": PASSWORD, "csrf_token": token}
        )
        assert (await http.post("/signout")).status_code == 403
        assert (await http.post("/signout", data={"csrf_token": token})).status_code == 403
        from_elsewhere = await http.post(
            "/signout", data={"csrf_token": token}, headers={"Origin": "https://evil.example"}
        )
        assert from_elsewhere.status_code == 403
        assert (await http.get("/calls")).status_code == 200  # still signed in


def test_pbxhub_admin_create_makes_the_first_admin_and_resets_their_password(
    tmp_path: Path,
) -> None:
    database = f"sqlite:///{tmp_path / 'pbxhub.db'}"

    def admin(*args: str, password: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pbxhub.cli", "admin", "create", *args, "--password-stdin"],
            input=password + "\n",
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PBXHUB_DATABASE_URL": database, "PBXHUB_DATA_DIR": str(tmp_path)},
        )

    created = admin("Boss", password=PASSWORD)
    assert created.returncode == 0, created.stderr
    assert "admin 'boss' created" in created.stdout and "/signin" in created.stdout
    again = admin("boss", password=PASSWORD)
    assert again.returncode != 0 and "taken" in again.stderr
    weak = admin("other", password="short")
    assert weak.returncode != 0 and "at least 8" in weak.stderr
    reset = admin("boss", "--reset", password="a new passphrase")
    assert reset.returncode == 0, reset.stderr
    store = Store(database)
    try:
        credentials = store.credentials("boss")
        assert credentials is not None and credentials.account.is_admin
        assert store.credentials("other") is None
    finally:
        store.close()


def _in(**delta: float) -> datetime:
    return datetime.now(UTC) + timedelta(**delta)
