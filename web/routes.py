"""The pages wired into the app: their routers and the static files."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from web import (
    admin_pages,
    call_pages,
    call_time_pages,
    click_to_call_pages,
    pages,
    report_pages,
    signin,
)
from web.templates import STATIC_DIR


def add_pages(app: FastAPI) -> None:
    routers = (signin.router, pages.router, call_time_pages.router, admin_pages.router)
    for router in (
        *routers,
        report_pages.router,
        call_pages.router,
        click_to_call_pages.router,
    ):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
