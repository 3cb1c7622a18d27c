"""FastAPI dependencies as `Annotated` aliases: the context, the store, who is asking (the admin
or an employee) and the admin check."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Final

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.context import ApiContext
from crm import Employee, Store


def get_context(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.context
    return context


ContextDep = Annotated[ApiContext, Depends(get_context)]


def get_store(context: ContextDep) -> Store:
    return context.store


StoreDep = Annotated[Store, Depends(get_store)]


@dataclass(frozen=True)
class Caller:
    """Who asks: the admin (the admin key), or an employee (their own token), whose access
    follows their rights (`policies.access`)."""

    employee: Employee | None = None

    @property
    def is_admin(self) -> bool:
        return self.employee is None


ADMIN: Final = Caller()


# How a caller says who they are, as the OpenAPI's security schemes (checked in get_caller).
_API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="The admin key")
_BEARER = HTTPBearer(auto_error=False, description="The admin key, or an employee's token")


def get_caller(
    context: ContextDep,
    x_api_key: Annotated[str | None, Security(_API_KEY)] = None,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)] = None,
) -> Caller:
    """The admin key, as `X-API-Key: <key>` or `Authorization: Bearer <key>`; or an employee's
    token, as `Authorization: Bearer <token>`. 401 for anything else."""
    if x_api_key is not None:
        if _is_admin_key(context, x_api_key):
            return ADMIN
        raise _unauthorized("this X-API-Key is not the admin key")
    bearer = credentials.credentials.strip() if credentials is not None else None
    if bearer:
        if _is_admin_key(context, bearer):
            return ADMIN
        # sync dependency: FastAPI runs it in a worker thread, the store may block
        employee = context.store.employee_by_token(bearer)
        if employee is not None:
            return Caller(employee)
        raise _unauthorized(
            "this bearer token is neither the admin key nor an employee's valid token "
            "(unknown, revoked, replaced or expired: ask the admin for a new one)"
        )
    raise _unauthorized(
        "an admin API key (X-API-Key header) or an employee's token "
        "(Authorization: Bearer) is required"
    )


CallerDep = Annotated[Caller, Depends(get_caller)]


def require_admin(caller: CallerDep) -> None:
    """The admin key; an employee's token gets 403 here (it opens only the calls, with their
    recordings and comments, that hang on the contacts and tasks they see, and their own
    notifications)."""
    if not caller.is_admin:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail="this needs the admin key; an employee's token opens only the calls, "
            "recordings and comments of the contacts and tasks they see, and their own "
            "notifications",
        )


AdminDep = Depends(require_admin)


def _is_admin_key(context: ApiContext, given: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), context.admin_key.encode())


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )
