"""The call reports: a week (or any period up to a quarter) of calls by employee or by contact,
and the missed calls with their call-backs; as JSON, or as CSV (`Accept: text/csv`, or the
`.csv` path). The admin sees every call; an employee their own calls and those of the contacts
they are responsible for, with recordings offered as their rights allow (`crm.access`)."""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request, Security
from fastapi.responses import StreamingResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.bounds import Offset
from api.csv_export import CONTENT_TYPE, csv_chunks
from api.deps import Caller, CallerDep, ContextDep, get_caller
from api.errors import AUTHENTICATED, errors
from api.report_csv import MISSED_HEADER, calls_header, calls_rows, missed_rows
from api.report_scope import PeriodQuery, ReportRequest, period_query, report_request
from api.report_views import (
    CallsReportOut,
    MissedReportOut,
    calls_report_out,
    missed_report_out,
)
from api.sessions import find_viewer
from crm import Store

router = APIRouter(prefix="/api/v1/reports", tags=["reports"], responses=AUTHENTICATED)

# The most calls one JSON answer lists under its groups (beyond: `calls_complete` is false).
MAX_LISTED: Final = 5_000
# A CSV reads its groups this many at a time, and lists at most this many calls per read.
CSV_GROUPS: Final = 20
CSV_MAX_LISTED: Final = 50_000
# ...and its missed calls this many at a time.
CSV_MISSED_PAGE: Final = MAX_LISTED

CSV_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON, or with `Accept: text/csv` the report as CSV (UTF-8 with BOM)",
        "content": {CONTENT_TYPE: {"schema": {"type": "string"}}},
    },
    **errors(422),
}
By = Annotated[Literal["employee", "contact"], Query(description="Group by employee or by contact")]
GroupLimit = Annotated[int, Query(ge=1, le=200, description="How many groups in one page")]
CallLimit = Annotated[int, Query(ge=1, le=MAX_LISTED, description="How many missed calls")]
Delimiter = Annotated[
    Literal[",", ";"],
    Query(description="';' for a spreadsheet in a locale whose decimal mark is a comma"),
]
Period = Annotated[PeriodQuery, Depends(period_query)]
Accept = Annotated[str | None, Header(include_in_schema=False)]


_API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="The admin key")
_BEARER = HTTPBearer(auto_error=False, description="The admin key, or an employee's token")


def csv_caller(
    request: Request,
    context: ContextDep,
    x_api_key: Annotated[str | None, Security(_API_KEY)] = None,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)] = None,
) -> Caller:
    """Whom a CSV is for: the API's key or token, or else the signed-in browser's session (the
    report pages link here; a download is read-only, the same rights as the page). Sync:
    FastAPI runs it in a worker thread."""
    if x_api_key is None and credentials is None:
        viewer = find_viewer(request, context)
        if viewer is not None:
            return viewer.caller
    return get_caller(context, x_api_key, credentials)


CsvCallerDep = Annotated[Caller, Depends(csv_caller)]


def wants_csv(accept: str | None) -> bool:
    return accept is not None and "text/csv" in accept.lower()


def _calls(
    store: Store,
    request: ReportRequest,
    by: Literal["employee", "contact"],
    limit: int,
    offset: int,
    max_calls: int,
) -> CallsReportOut:
    report = store.calls_report(
        request.scope, by=by, limit=limit, offset=offset, max_calls=max_calls
    )
    return calls_report_out(request, report, by=by, limit=limit, offset=offset)


def _missed(store: Store, request: ReportRequest, limit: int, offset: int) -> MissedReportOut:
    days, calls = store.missed_report(request.scope, limit=limit, offset=offset)
    return missed_report_out(request, days, calls, limit=limit, offset=offset)


@router.get(
    "/calls",
    response_model=CallsReportOut,
    summary="Calls of a week by employee or by contact",
    responses=CSV_ANSWER,
)
async def calls_report(
    context: ContextDep,
    caller: CallerDep,
    asked: Period,
    accept: Accept = None,
    by: By = "employee",
    limit: GroupLimit = 20,
    offset: Offset = 0,
    delimiter: Delimiter = ",",
) -> Any:
    """Each group (employee or contact), its days and the call types of each day, with the
    count and minutes of talk at every level and the calls listed; per group also the answered
    calls each way, the missed ones, the mean wait and talk, and the share answered within
    20 s. Days are local: the employee's zone, or for the admin each channel's (or `tz`)."""
    if wants_csv(accept):
        return await _calls_csv(
            context.store, caller, asked, by, delimiter, context.public_base_url
        )
    store = context.store

    def read() -> CallsReportOut:
        request = report_request(caller, store, asked)
        return _calls(store, request, by, limit, offset, MAX_LISTED)

    return await anyio.to_thread.run_sync(read)


@router.get(
    "/calls.csv",
    summary="Calls of a week by employee or by contact, as CSV",
    response_class=StreamingResponse,
    responses=CSV_ANSWER,
)
async def calls_report_csv(
    context: ContextDep,
    caller: CsvCallerDep,
    asked: Period,
    by: By = "employee",
    delimiter: Delimiter = ",",
) -> StreamingResponse:
    return await _calls_csv(context.store, caller, asked, by, delimiter, context.public_base_url)


async def _calls_csv(
    store: Store,
    caller: Caller,
    asked: PeriodQuery,
    by: Literal["employee", "contact"],
    delimiter: str,
    base_url: str,
) -> StreamingResponse:
    # read before the answer starts, so a bad period is a 422 and not a broken download
    request = await anyio.to_thread.run_sync(report_request, caller, store, asked)

    def page(offset: int) -> CallsReportOut:
        return _calls(store, request, by, CSV_GROUPS, offset, CSV_MAX_LISTED)

    rows = calls_rows(by, page, base_url)
    name = f"calls-by-{by}-{request.period.iso_week or request.period.first.isoformat()}.csv"
    return StreamingResponse(
        csv_chunks(calls_header(by), rows, delimiter=delimiter),
        media_type=CONTENT_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/missed-calls",
    response_model=MissedReportOut,
    summary="Missed calls by day, which were called back and after how long",
    responses=CSV_ANSWER,
)
async def missed_calls_report(
    context: ContextDep,
    caller: CallerDep,
    asked: Period,
    accept: Accept = None,
    limit: CallLimit = 500,
    offset: Offset = 0,
    delimiter: Delimiter = ",",
) -> Any:
    """Missed calls (inbound lost, outbound not reached) oldest first, grouped by day with the
    day's count, how many were called back (a later answered call with the same contact, either
    way) and how many are still open; each call with when it was called back."""
    if wants_csv(accept):
        return await _missed_csv(context.store, caller, asked, delimiter)
    store = context.store

    def read() -> MissedReportOut:
        return _missed(store, report_request(caller, store, asked), limit, offset)

    return await anyio.to_thread.run_sync(read)


@router.get(
    "/missed-calls.csv",
    summary="Missed calls and their call-backs, as CSV",
    response_class=StreamingResponse,
    responses=CSV_ANSWER,
)
async def missed_calls_report_csv(
    context: ContextDep, caller: CsvCallerDep, asked: Period, delimiter: Delimiter = ","
) -> StreamingResponse:
    return await _missed_csv(context.store, caller, asked, delimiter)


async def _missed_csv(
    store: Store, caller: Caller, asked: PeriodQuery, delimiter: str
) -> StreamingResponse:
    request = await anyio.to_thread.run_sync(report_request, caller, store, asked)

    def page(offset: int) -> MissedReportOut:
        return _missed(store, request, CSV_MISSED_PAGE, offset)

    name = f"missed-calls-{request.period.iso_week or request.period.first.isoformat()}.csv"
    return StreamingResponse(
        csv_chunks(MISSED_HEADER, missed_rows(page), delimiter=delimiter),
        media_type=CONTENT_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
