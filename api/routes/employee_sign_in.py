"""An employee's sign-in to the pages: the admin gives them a login and a password, resets the
password (signing their browsers out), or takes the sign-in away. Admin only; the password is
kept as its argon2 hash (`crm.passwords`) and never shown again."""

from __future__ import annotations

from typing import Annotated, Final

import anyio
from fastapi import APIRouter, HTTPException, Response, status
from pydantic import BaseModel, Field

from api.bounds import StoredId, StoredText
from api.deps import AdminDep, StoreDep
from api.errors import AUTHENTICATED, WITH_BODY, errors
from crm import Store
from crm.accounts import MAX_LOGIN_LENGTH, Account, LoginTaken
from crm.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, hash_password

router = APIRouter(
    prefix="/api/v1/employees", tags=["employees"], dependencies=[AdminDep], responses=AUTHENTICATED
)

# Passwords hashed or checked at once (here and at sign-in): each holds 64 MiB and a core for
# ~50 ms, so a burst of them waits its turn instead of taking the memory and the threads.
PASSWORD_WORK: Final = anyio.CapacityLimiter(2)


class SignInIn(BaseModel):
    login: Annotated[StoredText, Field(min_length=1, max_length=MAX_LOGIN_LENGTH)] | None = Field(
        default=None,
        description="What they sign in with (case does not matter); needed the first time, "
        "left out to keep theirs",
    )
    password: Annotated[
        StoredText, Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)
    ]


class SignInOut(BaseModel):
    employee_id: int
    login: str


def sign_in_out(account: Account) -> SignInOut:
    assert account.employee_id is not None
    return SignInOut(employee_id=account.employee_id, login=account.login)


async def set_sign_in(
    store: Store, employee_id: int, *, login: str | None, password: str
) -> Account:
    """Hash the password off the event loop and give it to the employee; the HTTP error to
    answer otherwise (also for the pages)."""
    try:
        password_hash = await anyio.to_thread.run_sync(
            hash_password, password, limiter=PASSWORD_WORK
        )
    except ValueError as error:
        raise HTTPException(422, detail=f"password: {error}") from None
    try:
        account = await anyio.to_thread.run_sync(
            lambda: store.set_employee_sign_in(
                employee_id, login=login, password_hash=password_hash
            )
        )
    except LoginTaken as error:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=f"login: {error}") from None
    except ValueError as error:
        problem = str(error)
        raise HTTPException(
            422, detail=problem if problem.startswith("login") else f"login: {problem}"
        ) from None
    if account is None:
        raise HTTPException(404, detail="no such employee")
    return account


@router.put(
    "/{employee_id}/sign-in",
    response_model=SignInOut,
    summary="Set the employee's login and password for the pages (a reset signs them out)",
    responses={**WITH_BODY, **errors(404, 409)},
)
async def put_sign_in(employee_id: StoredId, body: SignInIn, store: StoreDep) -> SignInOut:
    account = await set_sign_in(store, employee_id, login=body.login, password=body.password)
    return sign_in_out(account)


@router.get(
    "/{employee_id}/sign-in",
    response_model=SignInOut,
    summary="The employee's login for the pages",
    responses=errors(404),
)
def get_sign_in(employee_id: StoredId, store: StoreDep) -> SignInOut:
    account = store.employee_account(employee_id)
    if account is None:
        raise HTTPException(404, detail="the employee has no sign-in (or there is no such one)")
    return sign_in_out(account)


@router.delete(
    "/{employee_id}/sign-in",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Take the employee's sign-in away (their browsers are signed out)",
    responses=errors(404),
)
def delete_sign_in(employee_id: StoredId, store: StoreDep) -> Response:
    if not store.remove_employee_sign_in(employee_id):
        raise HTTPException(404, detail="the employee has no sign-in (or there is no such one)")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
