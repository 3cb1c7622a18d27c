"""How a page answers a refusal: a page of its own saying why (what the API says in JSON), or,
for a page that needs a signed-in person, the way to sign in and back."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Final

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute

from api.sessions import SignInNeeded, signin_url
from web.templates import page

# The most a page's form may send: the contact form's three textareas and a little more.
MAX_FORM_BYTES: Final = 128 * 1024

_TITLES = {
    status.HTTP_403_FORBIDDEN: "Not yours to see",
    status.HTTP_404_NOT_FOUND: "Not found",
}


class PageRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            refused = _oversized_form(request)
            if refused is not None:
                return refused
            try:
                return await handler(request)
            except SignInNeeded as needed:
                return RedirectResponse(
                    signin_url(needed.back_to), status_code=status.HTTP_303_SEE_OTHER
                )
            except HTTPException as error:
                if error.status_code < 400:
                    raise
                return refusal_page(error.status_code, str(error.detail))
            except RequestValidationError as error:
                # a form field or a query parameter a person can read about, not JSON
                problems = "; ".join(
                    ".".join(str(part) for part in item["loc"][1:]) + f": {item['msg']}"
                    for item in error.errors()
                )
                return refusal_page(422, problems)

        return answer


def _oversized_form(request: Request) -> Response | None:
    """A form's body is read whole before anything checks it: its declared length is bounded
    first (the server holds the body to that length), and a body without one is refused."""
    if request.method != "POST":
        return None
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        return refusal_page(status.HTTP_411_LENGTH_REQUIRED, "a form is sent with its length")
    if int(length) > MAX_FORM_BYTES:
        return refusal_page(
            413,  # Content Too Large
            f"a form is at most {MAX_FORM_BYTES // 1024} KiB",
        )
    return None


def refusal_page(status_code: int, detail: str) -> Response:
    title = _TITLES.get(status_code, "This cannot be done")
    return page("refusal.html", status_code, viewer=None, title=title, detail=detail)


def page_router() -> APIRouter:
    """A router of pages: left out of the OpenAPI, refusals answered as pages."""
    return APIRouter(include_in_schema=False, route_class=PageRoute)
