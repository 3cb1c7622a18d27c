"""FastAPI dependencies as `Annotated` aliases: the context, the store, the admin check."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status

from api.context import ApiContext
from crm import Store


def get_context(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.context
    return context


ContextDep = Annotated[ApiContext, Depends(get_context)]


def get_store(context: ContextDep) -> Store:
    return context.store


StoreDep = Annotated[Store, Depends(get_store)]


def require_admin(
    context: ContextDep,
    x_api_key: Annotated[str | None, Header()] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> None:
    """The admin key, as `X-API-Key: <key>` or `Authorization: Bearer <key>`."""
    given = x_api_key
    if given is None and authorization and authorization.lower().startswith("bearer "):
        given = authorization[7:].strip()
    if not given or not hmac.compare_digest(given.encode(), context.admin_key.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="an admin API key is required (X-API-Key header)",
            headers={"WWW-Authenticate": "Bearer"},
        )


AdminDep = Depends(require_admin)
