"""Whose call it is, or why it is not recorded, from what the store knows of the employees a PBX
named: one decision, taken by the call's workflow step by step (its older runs) and by the
write_call activity at once."""

from __future__ import annotations

from contracts.messages import (
    CallRecord,
    EmployeeRef,
    FoundEmployee,
    SaveSkippedCallInput,
    SkipReason,
)


def employee_refs(employee: EmployeeRef | None, rang: list[EmployeeRef]) -> list[EmployeeRef]:
    """The employees a call names, looked up in this order: its own, then those it rang."""
    refs = [employee] if employee else []
    return refs + [ref for ref in rang if ref not in refs]


def skip_for_employees(
    employee: EmployeeRef | None,
    rang: list[EmployeeRef],
    found: list[FoundEmployee | None],
    other: EmployeeRef | None,
    colleague: FoundEmployee | None,
) -> SkipReason | None:
    """Why the call is not recorded by its employees (`found`: the store's answer for each of
    `employee_refs`; `colleague`: the other party's extension, when it is one of ours)."""
    if employee is not None and found[0] is None:
        return SkipReason("unknown_employee", f"unknown employee: {employee.describe()}")
    if employee is None and rang and not any(found):
        described = ", ".join(ref.describe() for ref in rang)
        return SkipReason("unknown_employee", f"rang only unknown employees: {described}")
    if colleague is not None and other is not None:
        return SkipReason(
            "internal", f"internal call: the other party is {other.describe()} ({colleague.name})"
        )
    return None


def employee_phone_skip(own: FoundEmployee) -> SkipReason:
    """The other party's number is an employee's own phone."""
    return SkipReason("employee_phone", f"the other party is employee {own.name}'s own phone")


def pbx_skip(reason: str) -> SkipReason:
    """The PBX itself says the call is not to be recorded (e.g. a channel setting)."""
    return SkipReason("pbx", reason)


def known_id(
    ref: EmployeeRef | None, known: list[tuple[EmployeeRef, FoundEmployee | None]]
) -> int | None:
    """The store's id of an employee the PBX named in this call, if the store knows them."""
    for named, found in known:
        if ref is not None and found is not None and named.same_as(ref):
            return found.employee_id
    return None


def skipped_call(call: CallRecord, skip: SkipReason) -> SaveSkippedCallInput:
    """What is kept of a call not recorded: where it was, who and when, and why not."""
    return SaveSkippedCallInput(
        channel_id=call.channel_id,
        session_id=call.session_id,
        provider=call.provider,
        reason=skip,
        direction=call.direction,
        contact_phone=call.contact_phone,
        contact_phone_raw=call.contact_phone_raw,
        virtual_number=call.virtual_number,
        employee_extension=call.employee_extension,
        employee_pbx_id=call.employee_pbx_id,
        started_at=call.started_at,
        ended_at=call.ended_at,
        extra=call.extra,
    )
