"""write_call: a call written in one activity — its owner (or why it is skipped), its contact,
its row, the channel's rules — doing what the call's workflow did in up to six (see
WriteCallInput). Every step is a find-or-create, an upsert or keyed, as each activity was:
a retried write_call repeats nothing."""

from __future__ import annotations

from dataclasses import replace

from temporalio import activity

from activities.calls import CallActivities
from activities.follow_up import FollowUpActivities
from contracts.call_owner import (
    employee_phone_skip,
    employee_refs,
    known_id,
    pbx_skip,
    skip_for_employees,
    skipped_call,
)
from contracts.messages import (
    ApplyCallRulesInput,
    EmployeeRef,
    FindEmployeeByPhoneInput,
    FindEmployeesInput,
    FoundEmployee,
    SkipReason,
    WriteCallInput,
    WrittenCall,
)
from crm import Store

# each employee the PBX named, with what the store knows of them
_Known = list[tuple[EmployeeRef, FoundEmployee | None]]


class CallWriteActivities:
    """The one-activity call write, bound to one `Store` (sync: runs in the worker's threads)."""

    def __init__(self, store: Store) -> None:
        self._calls = CallActivities(store)
        self._follow_up = FollowUpActivities(store)

    @activity.defn
    def write_call(self, data: WriteCallInput) -> WrittenCall:
        call = data.call
        owner, skip, known = self._owner(data)
        if data.pbx_skip_reason:
            skip = pbx_skip(data.pbx_skip_reason)
        if skip is not None:
            self._calls.save_skipped_call(skipped_call(call, skip))
            return WrittenCall(skip=skip)
        employee_id = owner.employee_id if owner else None
        owner_extension = owner.extension if owner else None
        new_contact = False
        contact_id = None
        if data.contact is not None:
            contact = self._calls.find_or_create_contact(
                replace(
                    data.contact,
                    answered_employee_id=employee_id if call.kind == "call" else None,
                    first_directed_employee_id=known_id(data.first_directed, known),
                )
            )
            contact_id, new_contact = contact.contact_id, contact.created
        saved = self._calls.save_call(
            replace(
                call,
                contact_id=contact_id,
                employee_id=employee_id,
                employee_extension=call.employee_extension or owner_extension,
            )
        )
        if data.apply_rules:
            self._follow_up.apply_call_rules(ApplyCallRulesInput(saved.call_id, new_contact))
        return WrittenCall(
            call_id=saved.call_id,
            owner_extension=owner_extension,
            new_contact=new_contact,
            rules_applied=data.apply_rules,
        )

    def _owner(
        self, data: WriteCallInput
    ) -> tuple[
        FoundEmployee | None, SkipReason | None, list[tuple[EmployeeRef, FoundEmployee | None]]
    ]:
        """The employee who owns the call or why it is not recorded, and the employees named."""
        refs = employee_refs(data.employee, data.rang)
        other = data.other_extension
        found: list[FoundEmployee | None] = []
        if refs or other:
            asked = refs + ([other] if other else [])
            found = self._calls.find_employees(
                FindEmployeesInput(data.call.channel_id, asked)
            ).employees
        known = list(zip(refs, found, strict=False))
        colleague = found.pop() if other else None
        skip = skip_for_employees(data.employee, data.rang, found, other, colleague)
        if skip is not None:
            return None, skip, known
        if data.call.contact_phone:
            own = self._calls.find_employee_by_phone(
                FindEmployeeByPhoneInput(data.call.contact_phone)
            )
            if own is not None:
                return None, employee_phone_skip(own), known
        return (found[0] if data.employee is not None else None), None, known
