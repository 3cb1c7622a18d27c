"""Signing in and out of the pages, and `/`: the home page, or the way to sign in.

A wrong login or password gets one message for both (no telling which logins exist), after the
same password work and a short pause that holds back guessing; the pause waits without blocking
the event loop, and the password work runs in a worker thread, a few at a time (argon2 takes
64 MiB each)."""

from __future__ import annotations

import asyncio
import hmac
from datetime import UTC, datetime, timedelta
from typing import Annotated, Final

import anyio
from fastapi import Form, Request, status
from fastapi.responses import RedirectResponse, Response

from api.deps import ContextDep
from api.routes.employee_sign_in import PASSWORD_WORK
from api.sessions import (
    CSRF_FIELD,
    SESSION_COOKIE,
    SESSION_LIFETIME,
    SIGNIN_COOKIE,
    CsrfCheckedDep,
    MaybeViewerDep,
    check_same_origin,
    forget_cookie,
    new_token,
    safe_next,
    session_token,
    set_cookie,
    signed,
    signin_form_token,
    signing_key,
    unsigned,
)
from crm.accounts import MAX_LOGIN_LENGTH
from crm.passwords import MAX_PASSWORD_LENGTH, password_matches
from web.page_route import page_router
from web.templates import page

router = page_router()

# The pause before a wrong password's answer.
WRONG_PASSWORD_DELAY: Final = timedelta(seconds=1)
WRONG_CREDENTIALS: Final = "Wrong login or password."
_SIGNIN_FORM_SECONDS: Final = 60 * 60


@router.get("/")
async def home(viewer: MaybeViewerDep) -> Response:
    if viewer is None:
        return RedirectResponse("/signin", status_code=status.HTTP_303_SEE_OTHER)
    return RedirectResponse("/calls", status_code=status.HTTP_303_SEE_OTHER)


def _signin_page(
    request: Request,
    context: ContextDep,
    *,
    back_to: str,
    login: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    key = signing_key(context.admin_key)
    # the form's token is bound to this browser's sign-in cookie (double submit, signed)
    nonce = unsigned(key, request.cookies.get(SIGNIN_COOKIE)) or new_token()
    response = page(
        "signin.html",
        status_code,
        viewer=None,
        back_to=back_to,
        login=login,
        error=error,
        csrf_field=CSRF_FIELD,
        csrf_token=signin_form_token(key, nonce),
    )
    set_cookie(response, request, SIGNIN_COOKIE, signed(key, nonce), _SIGNIN_FORM_SECONDS)
    return response


@router.get("/signin")
async def signin_form(
    request: Request, context: ContextDep, viewer: MaybeViewerDep, next: str | None = None
) -> Response:
    back_to = safe_next(next)
    if viewer is not None:
        return RedirectResponse(back_to, status_code=status.HTTP_303_SEE_OTHER)
    return _signin_page(request, context, back_to=back_to)


@router.post("/signin")
async def sign_in(
    request: Request,
    context: ContextDep,
    login: Annotated[str, Form(max_length=MAX_LOGIN_LENGTH * 4)] = "",
    password: Annotated[str, Form(max_length=MAX_PASSWORD_LENGTH)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    back_to = safe_next(next)
    check_same_origin(request)
    key = signing_key(context.admin_key)
    nonce = unsigned(key, request.cookies.get(SIGNIN_COOKIE))
    if nonce is None or not hmac.compare_digest(csrf_token, signin_form_token(key, nonce)):
        return _signin_page(
            request,
            context,
            back_to=back_to,
            login=login,
            error="This sign-in form has expired. Please sign in again.",
            status_code=status.HTTP_403_FORBIDDEN,
        )
    store = context.store
    credentials = await anyio.to_thread.run_sync(store.credentials, login)
    matches = await anyio.to_thread.run_sync(
        password_matches,
        credentials.password_hash if credentials else None,
        password,
        limiter=PASSWORD_WORK,
    )
    if credentials is None or not matches:
        await asyncio.sleep(WRONG_PASSWORD_DELAY.total_seconds())
        return _signin_page(
            request,
            context,
            back_to=back_to,
            login=login,
            error=WRONG_CREDENTIALS,
            status_code=status.HTTP_401_UNAUTHORIZED,
        )
    token = new_token()
    await anyio.to_thread.run_sync(
        lambda: store.open_web_session(
            credentials.account.id, token, expires_at=datetime.now(UTC) + SESSION_LIFETIME
        )
    )
    response = RedirectResponse(back_to, status_code=status.HTTP_303_SEE_OTHER)
    set_cookie(
        response,
        request,
        SESSION_COOKIE,
        signed(key, token),
        int(SESSION_LIFETIME.total_seconds()),
    )
    forget_cookie(response, request, SIGNIN_COOKIE)
    return response


@router.post("/signout")
async def sign_out(request: Request, context: ContextDep, _: CsrfCheckedDep) -> Response:
    token = session_token(request, context)
    if token is not None:
        await anyio.to_thread.run_sync(context.store.close_web_session, token)
    response = RedirectResponse("/signin", status_code=status.HTTP_303_SEE_OTHER)
    forget_cookie(response, request, SESSION_COOKIE)
    return response
