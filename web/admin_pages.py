"""The admin's pages: channels with the webhook URLs to give the PBX, employees with their
numbers per channel and their sign-in (set or reset here), groups, and the calls not recorded
with the reason. The admin only, as the API's admin routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Final

import anyio
from fastapi import Form, HTTPException, status
from fastapi.responses import RedirectResponse, Response

from api.bounds import Offset, StoredId
from api.deps import ContextDep
from api.rest_models import ChannelOut
from api.routes.channels import channel_out
from api.routes.employee_sign_in import set_sign_in
from api.sessions import CsrfCheckedDep, Viewer, ViewerDep
from crm import Channel, Employee, Group, SkippedCall
from crm.accounts import MAX_LOGIN_LENGTH, Account
from crm.passwords import MAX_PASSWORD_LENGTH
from web.page_route import page_router
from web.templates import page

router = page_router()

PAGE_SIZE: Final = 100


def _require_admin(viewer: Viewer) -> Viewer:
    if not viewer.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="this page is the admin's")
    return viewer


@router.get("/admin/channels")
async def channels_page(context: ContextDep, viewer: ViewerDep) -> Response:
    _require_admin(viewer)
    channels = await anyio.to_thread.run_sync(context.store.list_channels)
    shown: list[ChannelOut] = [channel_out(context, channel) for channel in channels]
    return page("admin_channels.html", viewer=viewer, channels=shown)


@dataclass(frozen=True)
class EmployeeRow:
    employee: Employee
    account: Account | None
    # (channel name, extension, PBX user id) for each channel they take calls in
    numbers: list[tuple[str, str | None, str | None]]


@router.get("/admin/employees")
async def employees_page(
    context: ContextDep, viewer: ViewerDep, saved: StoredId | None = None
) -> Response:
    _require_admin(viewer)
    store = context.store

    def read() -> list[EmployeeRow]:
        channels = {channel.id: channel.name for channel in store.list_channels()}
        accounts = store.employee_accounts()
        return [
            EmployeeRow(
                employee=employee,
                account=accounts.get(employee.id),
                numbers=[
                    (
                        channels.get(link.channel_id, f"channel {link.channel_id}"),
                        link.extension,
                        link.pbx_user_id,
                    )
                    for link in employee.links
                ],
            )
            for employee in store.list_employees()
        ]

    rows = await anyio.to_thread.run_sync(read)
    return page("admin_employees.html", viewer=viewer, rows=rows, saved=saved)


@router.post("/admin/employees/{employee_id}/sign-in")
async def set_employee_sign_in(
    employee_id: StoredId,
    context: ContextDep,
    viewer: CsrfCheckedDep,
    password: Annotated[str, Form(max_length=MAX_PASSWORD_LENGTH)],
    login: Annotated[str, Form(max_length=MAX_LOGIN_LENGTH)] = "",
) -> Response:
    """The same as the API's PUT /api/v1/employees/{id}/sign-in: a new or reset password."""
    _require_admin(viewer)
    await set_sign_in(context.store, employee_id, login=login.strip() or None, password=password)
    return RedirectResponse(
        f"/admin/employees?saved={employee_id}#employee-{employee_id}",
        status_code=status.HTTP_303_SEE_OTHER,
    )


@router.get("/admin/groups")
async def groups_page(context: ContextDep, viewer: ViewerDep) -> Response:
    _require_admin(viewer)
    store = context.store

    def read() -> tuple[list[Group], dict[int, str]]:
        groups = store.list_groups()
        members = [employee_id for group in groups for employee_id in group.employee_ids]
        return groups, store.employee_names(members)

    groups, names = await anyio.to_thread.run_sync(read)
    return page("admin_groups.html", viewer=viewer, groups=groups, names=names)


@router.get("/admin/skipped-calls")
async def skipped_calls_page(
    context: ContextDep, viewer: ViewerDep, offset: Offset = 0
) -> Response:
    _require_admin(viewer)
    store = context.store

    def read() -> tuple[list[SkippedCall], int, dict[int, Channel]]:
        skipped = store.list_skipped_calls(limit=PAGE_SIZE, offset=offset)
        channels = {channel.id: channel for channel in store.list_channels()}
        return skipped, store.count_skipped_calls(), channels

    skipped, total, channels = await anyio.to_thread.run_sync(read)
    return page(
        "admin_skipped_calls.html",
        viewer=viewer,
        skipped=skipped,
        total=total,
        channels=channels,
        offset=offset,
        page_size=PAGE_SIZE,
    )
