"""The FastAPI application: routers wired to an `ApiContext` handed in by the caller."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from api.card_bus import CardBus
from api.context import ApiContext
from api.routes import (
    call_api,
    call_comments,
    call_time,
    calls,
    cards,
    channels,
    click_to_call,
    contact_writes,
    contacts,
    employee_sign_in,
    employees,
    groups,
    health,
    hooks,
    metrics,
    notifications,
    recordings,
    reports,
    skipped_calls,
    tasks,
)
from web.routes import add_pages


def create_app(context: ApiContext) -> FastAPI:
    app = FastAPI(
        title="pbxhub",
        summary="Cloud PBX webhooks in, durable call records out",
        version="0.1.0",
    )
    app.state.context = context
    app.state.card_bus = CardBus(context.store)
    app.include_router(hooks.router)
    app.include_router(channels.router)
    app.include_router(click_to_call.router)
    app.include_router(employees.router)
    app.include_router(calls.router)
    app.include_router(call_comments.router)
    app.include_router(call_time.router)
    app.include_router(skipped_calls.router)
    app.include_router(metrics.router)
    app.include_router(health.router)
    app.include_router(contacts.router)
    app.include_router(contacts.comments_router)
    app.include_router(call_api.router)
    app.include_router(groups.router)
    app.include_router(tasks.router)
    app.include_router(tasks.comments_router)
    app.include_router(notifications.router)
    app.include_router(recordings.router)
    app.include_router(recordings.call_router)
    app.include_router(reports.router)
    app.include_router(contact_writes.router)
    app.include_router(employee_sign_in.router)
    app.include_router(cards.router)
    add_pages(app)

    @app.exception_handler(RequestValidationError)
    async def name_the_field(_: Request, error: RequestValidationError) -> JSONResponse:
        # Say which field is wrong in a line a person reads, beside FastAPI's own details.
        problems = [
            {"field": ".".join(str(p) for p in item["loc"] if p != "body"), "error": item["msg"]}
            for item in error.errors()
        ]
        return JSONResponse({"detail": problems}, status_code=422)

    return app
