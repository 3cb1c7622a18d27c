"""The report pages: the week's calls by employee or by contact (with a chart of calls per day,
answered against missed, for the whole report and for each employee), and the missed calls
with their call-backs, where an open one can be called back. Moving week to week or over a date
range. The API's reports read as the API reads them (`api.report_scope`, `api.report_views`),
with the viewer's rights: an employee sees their own calls and their contacts', the admin all."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Final, Literal
from urllib.parse import urlencode

import anyio
from fastapi import Depends, HTTPException, Query, status
from fastapi.responses import RedirectResponse, Response

from api.bounds import Offset, StoredId
from api.deps import ContextDep
from api.report_scope import PeriodQuery, ReportRequest, period_query, report_request
from api.report_views import (
    TYPE_NAMES,
    CallsReportOut,
    DayOut,
    Figures,
    MissedReportOut,
    calls_report_out,
    missed_report_out,
)
from api.routes.click_to_call import ClickToCallIn
from api.sessions import CsrfCheckedDep, Viewer, ViewerDep
from crm import Store
from crm.report_periods import Period
from crm.reports import INCOMING, MISSED, NOT_REACHED, OUTGOING
from web.charts import DayChart, DayCount, day_chart, long_day
from web.click_to_call_pages import calling_page
from web.page_route import page_router
from web.templates import page

router = page_router()

# Employees (or contacts) on one page, and the calls listed under them at most.
GROUPS_PER_PAGE: Final = 20
MAX_LISTED: Final = 2_000
MISSED_PER_PAGE: Final = 500

Period_ = Annotated[PeriodQuery, Depends(period_query)]


@dataclass(frozen=True)
class PeriodNav:
    """Where the period's links lead: the one before, the one after, this week."""

    title: str
    days_in: str
    earlier: str
    later: str
    this_week: str
    week: str
    first: date
    last: date


def period_nav(path: str, request: ReportRequest, kept: dict[str, str]) -> PeriodNav:
    covered = request.period
    length = (covered.last - covered.first).days + 1

    def link(first: date, last: date) -> str:
        return _link(path, {**kept, **_period_values(Period(first, last))})

    step = timedelta(days=length)
    last = f"{long_day(covered.last)} {covered.last.year}"
    if covered.iso_week:
        title = f"Week {covered.iso_week}: {long_day(covered.first)} – {last}"
    else:
        title = f"{long_day(covered.first)} {covered.first.year} – {last}"
    year, week, _ = covered.first.isocalendar()
    return PeriodNav(
        title=title,
        days_in=f"days in {request.zone}" if request.zone else "days in each channel's time zone",
        earlier=link(covered.first - step, covered.last - step),
        later=link(covered.first + step, covered.last + step),
        this_week=_link(path, kept),
        week=covered.iso_week or f"{year}-W{week:02d}",
        first=covered.first,
        last=covered.last,
    )


def _link(path: str, values: Mapping[str, object]) -> str:
    return f"{path}?{urlencode(values)}" if values else path


def _kept(tz: str | None, **values: str) -> dict[str, str]:
    return {name: value for name, value in {**values, "tz": tz or ""}.items() if value}


def _day_counts(days: list[DayOut]) -> dict[date, DayCount]:
    counts = {}
    for day in days:
        types = {kind.call_type: kind.calls for kind in day.types}
        counts[day.date] = DayCount(
            day=day.date,
            answered=types.get(INCOMING, 0) + types.get(OUTGOING, 0),
            missed=types.get(MISSED, 0) + types.get(NOT_REACHED, 0),
            calls=day.calls,
        )
    return counts


def report_chart(report: CallsReportOut) -> DayChart:
    counts = [
        DayCount(day.date, day.incoming + day.outgoing, day.missed + day.not_reached, day.calls)
        for day in report.days
    ]
    return day_chart("chart-all", "All calls per day", counts)


def group_chart(report: CallsReportOut, index: int, name: str) -> DayChart:
    """An employee's days, every day of the period drawn (a quiet day is a bar of none)."""
    known = _day_counts(report.groups[index].days)
    counts = [known.get(day.date, DayCount(day.date, 0, 0, 0)) for day in report.days]
    return day_chart(f"chart-{index}", f"Calls of {name} per day", counts)


@dataclass(frozen=True)
class ShownGroup:
    name: str
    figures: Figures
    days: list[DayOut]
    chart: DayChart | None


def _group_name(by: str, name: str | None, phone: str | None) -> str:
    return name or phone or ("No employee" if by == "employee" else "No contact")


@router.get("/reports")
async def reports_start() -> Response:
    return RedirectResponse("/reports/calls", status_code=status.HTTP_307_TEMPORARY_REDIRECT)


@router.get("/reports/calls")
async def calls_report_page(
    context: ContextDep,
    viewer: ViewerDep,
    asked: Period_,
    by: Annotated[Literal["employee", "contact"], Query()] = "employee",
    offset: Offset = 0,
) -> Response:
    """The week's (or the range's) calls by employee or contact: totals, a chart of each
    employee's days, and their calls grouped by day and call type."""
    store = context.store

    def read() -> tuple[ReportRequest, CallsReportOut]:
        request = report_request(viewer.caller, store, asked)
        report = store.calls_report(
            request.scope, by=by, limit=GROUPS_PER_PAGE, offset=offset, max_calls=MAX_LISTED
        )
        shown = calls_report_out(request, report, by=by, limit=GROUPS_PER_PAGE, offset=offset)
        return request, shown

    request, report = await anyio.to_thread.run_sync(read)
    path = "/reports/calls"
    kept = _kept(asked.tz, by=by)
    nav = period_nav(path, request, kept)
    other = "contact" if by == "employee" else "employee"
    groups = []
    for index, group in enumerate(report.groups):
        name = _group_name(by, group.name, group.phone)
        chart = group_chart(report, index, name) if by == "employee" else None
        groups.append(ShownGroup(name, group, group.days, chart))
    same_period = {**kept, **_period_values(request.period)}
    return page(
        "report_calls.html",
        viewer=viewer,
        by=by,
        report=report,
        nav=nav,
        chart=report_chart(report),
        groups=groups,
        type_names=TYPE_NAMES,
        switch_to=_link(path, {**same_period, "by": other}),
        csv=_link("/api/v1/reports/calls.csv", same_period),
        fewer=_link(path, {**same_period, "offset": max(offset - GROUPS_PER_PAGE, 0)})
        if offset
        else None,
        more=_link(path, {**same_period, "offset": offset + GROUPS_PER_PAGE})
        if offset + GROUPS_PER_PAGE < report.total_groups
        else None,
        tz=asked.tz or "",
    )


def _period_values(covered: Period) -> dict[str, str]:
    if covered.iso_week:
        return {"week": covered.iso_week}
    return {"from": covered.first.isoformat(), "to": covered.last.isoformat()}


@router.get("/reports/missed-calls")
async def missed_report_page(
    context: ContextDep, viewer: ViewerDep, asked: Period_, offset: Offset = 0
) -> Response:
    """Missed calls by day, which were called back and after how long; an open one offers
    "Call back"."""
    store = context.store

    def read() -> tuple[ReportRequest, MissedReportOut]:
        request = report_request(viewer.caller, store, asked)
        days, calls = store.missed_report(request.scope, limit=MISSED_PER_PAGE, offset=offset)
        shown = missed_report_out(request, days, calls, limit=MISSED_PER_PAGE, offset=offset)
        return request, shown

    request, report = await anyio.to_thread.run_sync(read)
    path = "/reports/missed-calls"
    kept = _kept(asked.tz)
    same_period = {**kept, **_period_values(request.period)}
    listed = sum(len(day.rows) for day in report.days)
    return page(
        "report_missed.html",
        viewer=viewer,
        report=report,
        nav=period_nav(path, request, kept),
        type_names=TYPE_NAMES,
        long_day=long_day,
        tz=asked.tz or "",
        csv=_link("/api/v1/reports/missed-calls.csv", same_period),
        fewer=_link(path, {**same_period, "offset": max(offset - MISSED_PER_PAGE, 0)})
        if offset
        else None,
        more=_link(path, {**same_period, "offset": offset + MISSED_PER_PAGE})
        if offset + listed < report.totals.missed
        else None,
    )


@router.post("/reports/missed-calls/{call_id}/call-back")
async def call_back(call_id: StoredId, context: ContextDep, viewer: CsrfCheckedDep) -> Response:
    """Ask the call's PBX to ring the employee, then the contact (as any number's "Call",
    `web.click_to_call_pages`): the employee signed in, or for the admin the employee the
    missed call was for."""
    store = context.store
    body = await anyio.to_thread.run_sync(_call_back_request, viewer, store, call_id)
    return await calling_page(
        context,
        viewer,
        channel_id=body.channel_id,
        employee_id=body.employee_id,
        phone=body.phone,
        back="/reports/missed-calls",
    )


def _call_back_request(viewer: Viewer, store: Store, call_id: int) -> ClickToCallIn:
    call = store.get_call(call_id)
    if call is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such call")
    employee = viewer.employee
    if employee is not None:
        # as the report: their own calls and those of the contacts they are responsible for
        contact = store.get_contact(call.contact_id) if call.contact_id is not None else None
        responsible = contact is not None and employee.id in contact.responsible_employee_ids
        if call.employee_id != employee.id and not responsible:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, detail="this call is neither yours nor your contact's"
            )
    ringing = employee.id if employee is not None else call.employee_id
    if ringing is None:
        raise HTTPException(
            422, detail="employee: no employee took this call; an employee calls back"
        )
    if not call.contact_phone:
        raise HTTPException(422, detail="phone: the call has no number to call back")
    return ClickToCallIn(channel_id=call.channel_id, employee_id=ringing, phone=call.contact_phone)
