"""Who is looking at a page: a browser's signed session cookie → its account → the `Caller` the
API's rights are decided for; and the CSRF tokens every form and state-changing request of the
pages carries.

The cookie holds a random session token and its HMAC signature (a forged or altered cookie is
refused before the store is asked); the store keeps only the token's SHA-256, so signing out or
a password reset ends a session for good. Cookies are HttpOnly and SameSite=Lax (Secure behind
https): Lax, not Strict, so that the contact link a PBX shows opens signed in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Final
from urllib.parse import quote, urlsplit

from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import Response

from api.deps import ADMIN, Caller, ContextDep
from crm import Employee
from crm.accounts import Account

SESSION_COOKIE: Final = "pbxhub_session"
# A sign-in form's own token, before there is a session (no login CSRF).
SIGNIN_COOKIE: Final = "pbxhub_signin"
CSRF_FIELD: Final = "csrf_token"
CSRF_HEADER: Final = "X-CSRF-Token"
SESSION_LIFETIME: Final = timedelta(days=7)


@dataclass(frozen=True)
class Viewer:
    """A signed-in person: their account, whom the API's rights see in them (the admin, or the
    employee), and the CSRF token their pages' forms carry."""

    account: Account
    caller: Caller
    csrf_token: str

    @property
    def employee(self) -> Employee | None:
        return self.caller.employee

    @property
    def is_admin(self) -> bool:
        return self.caller.is_admin


def signing_key(admin_key: str) -> bytes:
    """The key cookies and CSRF tokens are signed with, derived from the admin key: every API
    replica has it, and changing the admin key signs everyone out."""
    return hmac.new(admin_key.encode(), b"pbxhub web sessions v1", hashlib.sha256).digest()


def _mac(key: bytes, purpose: str, value: str) -> str:
    digest = hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def signed(key: bytes, token: str) -> str:
    return f"{token}.{_mac(key, 'cookie', token)}"


def unsigned(key: bytes, cookie: str | None) -> str | None:
    """The token inside a cookie whose signature holds, else None."""
    if not cookie or cookie.count(".") != 1:
        return None
    token, mac = cookie.split(".")
    return token if hmac.compare_digest(mac, _mac(key, "cookie", token)) else None


def csrf_token(key: bytes, session_token: str) -> str:
    return _mac(key, "csrf", session_token)


def signin_form_token(key: bytes, nonce: str) -> str:
    return _mac(key, "signin", nonce)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=_is_https(request),
    )


def forget_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(name, path="/", httponly=True, samesite="lax", secure=_is_https(request))


def _is_https(request: Request) -> bool:
    base: str = request.app.state.context.public_base_url
    return base.startswith("https://")


class SignInNeeded(Exception):
    """The page needs a signed-in person: the browser is sent to sign in and back."""

    def __init__(self, back_to: str) -> None:
        super().__init__(back_to)
        self.back_to = back_to


def signin_url(back_to: str | None) -> str:
    return "/signin" if not back_to or back_to == "/" else f"/signin?next={quote(back_to)}"


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path on this site, never another site (no open
    redirect: `//host`, `/\\host` and schemes are refused)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in value):
        return "/"
    return value


def session_token(request: Request, context: ContextDep) -> str | None:
    return unsigned(signing_key(context.admin_key), request.cookies.get(SESSION_COOKIE))


def find_viewer(request: Request, context: ContextDep) -> Viewer | None:
    """The signed-in person, or None (sync: FastAPI runs it in a worker thread)."""
    token = session_token(request, context)
    if token is None:
        return None
    account = context.store.web_session_account(token)
    if account is None:
        return None
    if account.is_admin:
        caller = ADMIN
    else:
        employee = (
            context.store.get_employee(account.employee_id)
            if account.employee_id is not None
            else None
        )
        if employee is None:
            return None
        caller = Caller(employee)
    return Viewer(account, caller, csrf_token(signing_key(context.admin_key), token))


MaybeViewerDep = Annotated[Viewer | None, Depends(find_viewer)]


def require_viewer(request: Request, viewer: MaybeViewerDep) -> Viewer:
    if viewer is None:
        back_to = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInNeeded(back_to)
    return viewer


ViewerDep = Annotated[Viewer, Depends(require_viewer)]


async def check_csrf(request: Request, viewer: ViewerDep) -> Viewer:
    """A state-changing request from a page: it carries the session's CSRF token (a form field
    or the X-CSRF-Token header) and, when the browser says where it comes from, comes from
    this site. 403 otherwise."""
    check_same_origin(request)
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        form = await request.form()
        field = form.get(CSRF_FIELD)
        given = field if isinstance(field, str) else None
    if not given or not hmac.compare_digest(given, viewer.csrf_token):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail="this form's security token is missing or stale: reload the page and try again",
        )
    return viewer


CsrfCheckedDep = Annotated[Viewer, Depends(check_csrf)]


def check_same_origin(request: Request) -> None:
    """403 for a request a browser says comes from another site (Origin, else Referer)."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if source is None:  # the CSRF token alone decides
        return
    parts = urlsplit(source)  # "null" (a sandboxed frame, a file) is no site of ours
    own = urlsplit(str(request.base_url))
    if (parts.scheme, parts.netloc) != (own.scheme, own.netloc):
        public = urlsplit(request.app.state.context.public_base_url)
        if (parts.scheme, parts.netloc) != (public.scheme, public.netloc):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, detail="a request from another site is refused"
            )
