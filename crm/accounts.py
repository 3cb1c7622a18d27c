"""The store's sign-in side: accounts (an employee's or an admin's login and password hash) and
the sessions of signed-in browsers. A mixin of `crm.store.Store`, which holds the sessions."""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from crm.tables import AccountRow, EmployeeRow, WebSessionRow, utcnow

MAX_LOGIN_LENGTH: Final = 100


@dataclass(frozen=True)
class Account:
    """Who signs in: an employee's account (`employee_id`), or an admin's (`is_admin`)."""

    id: int
    login: str
    employee_id: int | None
    is_admin: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Credentials:
    """An account and its password hash, for the sign-in check only."""

    account: Account
    password_hash: str


class LoginTaken(Exception):
    """Another account already signs in with this login."""


def normalize_login(login: str) -> str:
    """A login as it is kept and looked up: NFKC, case-folded, without surrounding spaces;
    ValueError naming what is wrong."""
    normalized = unicodedata.normalize("NFKC", login).strip().casefold()
    if not normalized:
        raise ValueError("login is empty")
    if len(normalized) > MAX_LOGIN_LENGTH:
        raise ValueError(f"login has at most {MAX_LOGIN_LENGTH} characters")
    if any(c.isspace() or not c.isprintable() for c in normalized):
        raise ValueError("login has no spaces or control characters")
    return normalized


def session_digest(token: str) -> str:
    # A session token is random and long: a plain SHA-256 cannot be turned back into it.
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    """Accounts and web sessions; the database sessions are those of `Store`."""

    _reads: sessionmaker[Session]
    _writes: sessionmaker[Session]

    def create_admin(self, login: str, password_hash: str) -> Account:
        """A new admin account; LoginTaken when the login is someone's already."""
        login = normalize_login(login)
        try:
            with self._writes.begin() as session:
                if session.scalar(select(AccountRow.id).where(AccountRow.login == login)):
                    raise LoginTaken(f"login {login!r} is taken")
                now = utcnow()
                row = AccountRow(
                    login=login,
                    password_hash=password_hash,
                    is_admin=True,
                    created_at=now,
                    updated_at=now,
                )
                session.add(row)
                session.flush()
                return _account(row)
        except IntegrityError as error:  # a racing writer took it between our read and insert
            raise LoginTaken(f"login {login!r} is taken") from error

    def set_admin_password(self, login: str, password_hash: str) -> Account | None:
        """A new password for an admin account, ending its sessions; None if no such admin."""
        with self._writes.begin() as session:
            row = session.scalar(
                select(AccountRow).where(
                    AccountRow.login == normalize_login(login), AccountRow.is_admin.is_(True)
                )
            )
            if row is None:
                return None
            return _new_password(session, row, password_hash)

    def set_employee_sign_in(
        self, employee_id: int, *, login: str | None, password_hash: str
    ) -> Account | None:
        """Give the employee an account (`login` needed then) or a new password (and login, when
        given) for theirs, ending its sessions. None if no such employee; ValueError without a
        login for a new account; LoginTaken when the login is another's."""
        normalized = normalize_login(login) if login is not None else None
        try:
            with self._writes.begin() as session:
                if session.get(EmployeeRow, employee_id) is None:
                    return None
                row = session.scalar(
                    select(AccountRow).where(AccountRow.employee_id == employee_id)
                )
                if normalized is not None:
                    holder = session.scalar(
                        select(AccountRow.id).where(AccountRow.login == normalized)
                    )
                    if holder is not None and (row is None or holder != row.id):
                        raise LoginTaken(f"login {normalized!r} is taken")
                if row is None:
                    if normalized is None:
                        raise ValueError(
                            f"login: employee {employee_id} has no sign-in yet, give a login"
                        )
                    now = utcnow()
                    row = AccountRow(
                        login=normalized,
                        password_hash=password_hash,
                        employee_id=employee_id,
                        created_at=now,
                        updated_at=now,
                    )
                    session.add(row)
                    session.flush()
                    return _account(row)
                if normalized is not None:
                    row.login = normalized
                return _new_password(session, row, password_hash)
        except IntegrityError as error:
            raise LoginTaken(f"login {normalized!r} is taken") from error

    def remove_employee_sign_in(self, employee_id: int) -> bool:
        """Take the employee's account away (their sessions end with it): True if they had one."""
        with self._writes.begin() as session:
            deleted = session.execute(
                delete(AccountRow).where(AccountRow.employee_id == employee_id)
            )
            return bool(getattr(deleted, "rowcount", 0))

    def employee_account(self, employee_id: int) -> Account | None:
        with self._reads() as session:
            row = session.scalar(select(AccountRow).where(AccountRow.employee_id == employee_id))
            return _account(row) if row else None

    def employee_accounts(self) -> dict[int, Account]:
        """Every employee's account, by employee id."""
        with self._reads() as session:
            rows = session.scalars(select(AccountRow).where(AccountRow.employee_id.is_not(None)))
            return {row.employee_id: _account(row) for row in rows if row.employee_id is not None}

    def credentials(self, login: str) -> Credentials | None:
        """The account signing in with `login` and its hash; None for a login nobody has (or
        one no login can be)."""
        try:
            normalized = normalize_login(login)
        except ValueError:
            return None
        with self._reads() as session:
            row = session.scalar(select(AccountRow).where(AccountRow.login == normalized))
            return Credentials(_account(row), row.password_hash) if row else None

    # -- web sessions -------------------------------------------------------------------------

    def open_web_session(self, account_id: int, token: str, *, expires_at: datetime) -> None:
        """Remember a signed-in browser by its token's digest until `expires_at`; sessions of
        any account that have expired are dropped on the way."""
        now = utcnow()
        with self._writes.begin() as session:
            session.execute(delete(WebSessionRow).where(WebSessionRow.expires_at <= now))
            session.add(
                WebSessionRow(
                    token_sha256=session_digest(token),
                    account_id=account_id,
                    created_at=now,
                    expires_at=expires_at,
                )
            )

    def web_session_account(self, token: str) -> Account | None:
        """The account a browser's session token signs in, while the session lasts."""
        query = (
            select(AccountRow)
            .join(WebSessionRow, WebSessionRow.account_id == AccountRow.id)
            .where(
                WebSessionRow.token_sha256 == session_digest(token),
                WebSessionRow.expires_at > utcnow(),
            )
        )
        with self._reads() as session:
            row = session.scalar(query)
            return _account(row) if row else None

    def close_web_session(self, token: str) -> None:
        with self._writes.begin() as session:
            session.execute(
                delete(WebSessionRow).where(WebSessionRow.token_sha256 == session_digest(token))
            )


def _new_password(session: Session, row: AccountRow, password_hash: str) -> Account:
    # a reset password signs every browser out: whoever knew the old one is out too
    row.password_hash = password_hash
    row.updated_at = utcnow()
    session.execute(delete(WebSessionRow).where(WebSessionRow.account_id == row.id))
    session.flush()
    return _account(row)


def _account(row: AccountRow) -> Account:
    return Account(
        id=row.id,
        login=row.login,
        employee_id=row.employee_id,
        is_admin=row.is_admin,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
