"""`/healthz` (the process answers) and `/readyz` (it can take calls: Temporal and the database
answer), for load balancers and orchestrators; no key needed, nothing secret said."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import ContextDep

log = logging.getLogger("pbxhub.health")
router = APIRouter(tags=["ops"])

# How long the database may take to answer SELECT 1 before /readyz calls it unreachable.
DATABASE_CHECK_SECONDS = 2.0


class Readiness(BaseModel):
    """`status` "ready", or "unavailable" with `unavailable` naming each part that is not."""

    status: str
    # part ("temporal", "database") → why it is not ready
    unavailable: dict[str, str] = {}


@router.get("/healthz", summary="The process is up")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Temporal and the database are reachable",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "A part named is unreachable."}},
)
async def ready(context: ContextDep) -> JSONResponse:
    problems: dict[str, str] = {}
    temporal = await context.temporal.health_problem()
    if temporal is not None:
        problems["temporal"] = temporal
    database = await _database_problem(context)
    if database is not None:
        problems["database"] = database
    if problems:
        log.warning("not ready: %s", "; ".join(f"{k}: {v}" for k, v in problems.items()))
        body = Readiness(status="unavailable", unavailable=problems)
        return JSONResponse(body.model_dump(), status_code=503)
    return JSONResponse(Readiness(status="ready").model_dump())


async def _database_problem(context: ContextDep) -> str | None:
    try:
        # a thread left waiting on a dead server is abandoned, not awaited
        await asyncio.wait_for(asyncio.to_thread(context.store.ping), DATABASE_CHECK_SECONDS)
    except TimeoutError:
        return f"no answer within {DATABASE_CHECK_SECONDS:g} s"
    except Exception as error:  # the driver's message may name hosts, never the password
        return f"unreachable: {type(error).__name__}"
    return None
