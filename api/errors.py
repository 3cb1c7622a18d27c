"""The API's error answers as its OpenAPI describes them: one body shape for every error, and
the statuses each route documents (`responses=` on routers and routes), with what each means."""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel


class Problem(BaseModel):
    """One thing wrong with a request: the parameter or body field, and what is wrong with it."""

    field: str
    error: str


class ErrorOut(BaseModel):
    """Every error: `detail` is a list naming each bad field (a request that fails validation),
    or one sentence that says what is wrong, naming the field where one is at fault."""

    detail: str | list[Problem]


_MEANINGS: Final[dict[int, str]] = {
    400: "The body cannot be read (malformed JSON, form or multipart)",
    401: "No admin key (X-API-Key or Bearer) nor an employee's valid token",
    403: "Not this caller's: an employee's token where the admin key is needed, or a thing that "
    "hangs where the employee does not see; the reason names where",
    404: "Nothing has this id (or key)",
    409: "It conflicts with what is there (the reason says what)",
    413: "The body is over the size limit",
    415: "An uploaded file is not of an accepted type",
    422: "A parameter or body field is wrong; each is named",
    502: "The PBX refused or could not be reached; what it said is in the answer",
    503: "Temporal, the store or the PBX cannot answer now: retry later",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a router or route for these error statuses, in the one shape."""
    return {status: {"model": ErrorOut, "description": _MEANINGS[status]} for status in statuses}


# Every route that reads who asks: no key (401), not theirs (403), a bad parameter (422).
AUTHENTICATED: Final = errors(401, 403, 422)
# A route that reads a JSON body: it may be unreadable too.
WITH_BODY: Final = errors(400, 422)
