"""What a written call leaves behind by its channel's rules (policies.call_rules): a new contact
made from the contact template, missed-call notifications to the contact's responsibles, tasks from
the task rules, the call attached where the channel says, call-back tasks closed once the
contact is reached. Every step is keyed, so a retried or repeated activity repeats nothing."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from temporalio import activity

from contracts.messages import ApplyCallRulesInput, CallRulesResult, FindOrCreateContactInput
from crm import CallAttachment, Channel, Contact, Store, StoredCall, Task
from policies.call_rules import (
    AttachOption,
    CallFacts,
    NewTask,
    RuleError,
    TaskRule,
    attach_option,
    contact_template,
    render,
    task_rules,
)

log = logging.getLogger(__name__)

MISSED_CALL = "missed_call"
# How many of a contact's tasks, newest first, an attach option looks through.
TASKS_LOOKED_AT = 200


def new_contact_values(
    store: Store, data: FindOrCreateContactInput
) -> tuple[str | None, dict[str, str], list[int]]:
    """Name, fields and responsibles of a contact a call is about to create: the channel's
    contact template's, else the PBX's name; responsibles from the template, else whoever
    answered, else the employee the call first rang."""
    channel = store.get_channel(data.channel_id) if data.channel_id is not None else None
    template = None
    if channel is not None:
        try:
            template = contact_template(channel.settings)
        except RuleError as error:
            log.warning("channel %s: contact template ignored: %s", channel.id, error)
    values = {
        "phone": data.phone,
        "raw": data.phone_raw,
        "line": data.line_name or data.virtual_number,
        "virtual_number": data.virtual_number,
        "name": data.name,
        "direction": data.direction,
    }
    name, fields = data.name, {}
    if template is not None:
        name = _rendered(template.name, values, "contact name") or data.name
        for key, source in template.fields.items():
            value = _rendered(source, values, f"contact field {key}")
            if value:
                fields[key] = value
    by_rule: list[list[int | None]] = [
        list(template.responsible_employee_ids) if template is not None else [],
        [data.answered_employee_id],
        [data.first_directed_employee_id],
    ]
    for candidates in by_rule:
        known = [i for i in candidates if i is not None and store.get_employee(i) is not None]
        if known:
            return name, fields, known
    return name, fields, []


class FollowUpActivities:
    """The channel's rules applied after a call is written, bound to one `Store` (sync)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @activity.defn
    def apply_call_rules(self, data: ApplyCallRulesInput) -> CallRulesResult:
        call = self._store.get_call(data.call_id)
        if call is None:
            raise ValueError(f"no call with id {data.call_id}")
        channel = self._store.get_channel(call.channel_id)
        if channel is None:
            raise ValueError(f"no channel with id {call.channel_id}")
        contact = self._store.get_contact(call.contact_id) if call.contact_id else None
        values = self._values(call, contact, channel)

        notified = self._notify_missed(call, contact, values)
        tasks = [
            task.id
            for task in self._tasks_by_rule(call, contact, channel, values, data.new_contact)
        ]
        self._link_to_where_placed(call)
        attachment = self._attach(call, contact, channel, values)
        closed = self._store.close_reached_tasks(contact.id) if contact is not None else []
        for task in closed:
            activity.logger.info("task %s closed: its contact was reached", task.id)
        return CallRulesResult(
            task_ids=tasks,
            notified_employee_ids=notified,
            attach_mode=attachment.mode if attachment else None,
            attached_task_id=attachment.task_id if attachment else None,
            closed_task_ids=[task.id for task in closed],
        )

    # -- the steps ----------------------------------------------------------------------------

    def _notify_missed(
        self, call: StoredCall, contact: Contact | None, values: Mapping[str, Any]
    ) -> list[int]:
        """A missed inbound call tells each of the contact's responsibles, once."""
        if call.kind != "missed" or call.direction == "out" or contact is None:
            return []
        if not contact.responsible_employee_ids:
            return []
        line = f" on {values['line']}" if values["line"] else ""
        told = self._store.add_notifications(
            kind=MISSED_CALL,
            text=f"Missed call from {values['contact']}{line}",
            employee_ids=contact.responsible_employee_ids,
            call_id=call.id,
            contact_id=contact.id,
        )
        return [notification.employee_id for notification in told]

    def _tasks_by_rule(
        self,
        call: StoredCall,
        contact: Contact | None,
        channel: Channel,
        values: Mapping[str, Any],
        new_contact: bool,
    ) -> list[Task]:
        try:
            rules = task_rules(channel.settings)
        except RuleError as error:
            activity.logger.warning("channel %s: task rules ignored: %s", channel.id, error)
            return []
        facts = CallFacts(
            kind=call.kind,
            direction=call.direction,
            line_name=call.line_name,
            virtual_number=call.virtual_number,
            employee_id=call.employee_id,
            new_contact=new_contact,
            country=channel.default_country,
        )
        made = []
        for rule in rules:
            if rule.matches(facts):
                made.append(self._task_for_rule(rule, call, contact, values))
        return made

    def _task_for_rule(
        self, rule: TaskRule, call: StoredCall, contact: Contact | None, values: Mapping[str, Any]
    ) -> Task:
        values = {**values, "rule": rule.name}
        return self._store.create_task(
            title=_title(rule.title, values, fallback=f"{rule.name}: {values['contact']}"),
            description=_rendered(rule.description, values, "description") or None,
            assignee_employee_id=self._assignee(
                rule.assignee, rule.default_assignee, call, contact
            ),
            contact_id=call.contact_id,
            call_id=call.id,
            idempotency_key=f"task-rule:{call.id}:{rule.name}",
            type=rule.type,
            fields=_rendered_fields(rule.fields, values),
            due_at=_due(call, rule.due_in_minutes),
            rule=rule.name,
            closes_on_contact=rule.closes_on_contact,
        )

    def _link_to_where_placed(self, call: StoredCall) -> None:
        """An outbound call placed from a page with a task (click-to-call) hangs on that task,
        as a call made from a task through the telephony API does."""
        if call.direction != "out" or call.employee_id is None or not call.contact_phone:
            return
        placed = self._store.claim_placed_call(
            call_id=call.id,
            channel_id=call.channel_id,
            employee_id=call.employee_id,
            phone=call.contact_phone,
            at=call.started_at or call.ended_at or datetime.now(UTC),
        )
        if placed is not None and placed.task_id is not None:
            self._store.set_call_origin_task(call.id, placed.task_id)

    def _attach(
        self, call: StoredCall, contact: Contact | None, channel: Channel, values: Mapping[str, Any]
    ) -> CallAttachment | None:
        """Hang the call where the channel's attach option says; decided once per call."""
        existing = self._store.get_call_attachment(call.id)
        if existing is not None and existing.attached_at is not None:
            return existing
        try:
            option = attach_option(channel.settings)
        except RuleError as error:
            activity.logger.warning("channel %s: attach option ignored: %s", channel.id, error)
            option = AttachOption()
        mode, task_id = self._attach_target(call, contact, option, values, existing)
        if task_id is None and call.contact_id is None:
            return None
        return self._store.attach_call(
            call.id,
            mode=mode,
            contact_id=call.contact_id,
            task_id=task_id,
            hidden=option.hidden,
            comment_text=_describe(call, values),
        )

    def _attach_target(
        self,
        call: StoredCall,
        contact: Contact | None,
        option: AttachOption,
        values: Mapping[str, Any],
        existing: CallAttachment | None,
    ) -> tuple[str, int | None]:
        if call.kind == "missed":
            # Missed calls always hang on the contact.
            return "contact", None
        if existing is not None and existing.origin_task_id is not None:
            # A call made from a task (the telephony API's ticket) hangs on that task.
            return "origin_task", existing.origin_task_id
        if contact is None or option.target == "contact":
            return "contact", None
        if option.target == "new_task":
            return "new_task", self._new_task(option.new_task, call, contact, values).id
        tasks = self._store.list_tasks(contact_id=contact.id, limit=TASKS_LOOKED_AT)
        if option.target == "latest_active_task":
            found = next((task for task in tasks if task.status == "open"), None)
        else:
            found = next(
                (
                    task
                    for task in tasks
                    if option.conditions.matches(
                        task,
                        responsible_ids=contact.responsible_employee_ids,
                        employee_id=call.employee_id,
                    )
                ),
                None,
            )
        if found is not None:
            return option.target, found.id
        if option.if_none == "new_task":
            return "new_task", self._new_task(option.new_task, call, contact, values).id
        return "contact", None

    def _new_task(
        self, spec: NewTask, call: StoredCall, contact: Contact, values: Mapping[str, Any]
    ) -> Task:
        return self._store.create_task(
            title=_title(spec.title, values, fallback=_describe(call, values)),
            description=_rendered(spec.description, values, "description") or None,
            assignee_employee_id=self._assignee(
                spec.assignee, spec.default_assignee, call, contact
            ),
            contact_id=contact.id,
            call_id=call.id,
            idempotency_key=f"attach-task:{call.id}",
            type=spec.type,
            fields=_rendered_fields(spec.fields, values),
            due_at=_due(call, spec.due_in_minutes),
        )

    # -- helpers ------------------------------------------------------------------------------

    def _assignee(
        self, who: str | int, default: int | None, call: StoredCall, contact: Contact | None
    ) -> int | None:
        """The rule's assignee, else its default assignee; an employee that no longer exists
        counts as nobody."""
        if who == "responsible":
            first = contact.responsible_employee_ids[:1] if contact is not None else []
            chosen = first[0] if first else None
        elif who == "employee":
            chosen = call.employee_id
        else:
            chosen = int(who)
        for candidate in (chosen, default):
            if candidate is not None and self._store.get_employee(candidate) is not None:
                return candidate
        return None

    def _values(
        self, call: StoredCall, contact: Contact | None, channel: Channel
    ) -> dict[str, Any]:
        """What the rules' templates read about a call."""
        employee = self._store.get_employee(call.employee_id) if call.employee_id else None
        started = call.started_at or call.ended_at
        local = started.astimezone(ZoneInfo(channel.timezone)) if started else None
        name = contact.name if contact is not None else None
        return {
            "contact": name or call.contact_phone or call.contact_phone_raw or "an unknown number",
            "phone": call.contact_phone,
            "raw": call.contact_phone_raw,
            "line": call.line_name or call.virtual_number,
            "virtual_number": call.virtual_number,
            "name": name,
            "direction": call.direction,
            "kind": call.kind,
            "employee": employee.name if employee is not None else None,
            "call_id": call.id,
            "started_at": local.strftime("%Y-%m-%d %H:%M") if local else None,
            "wait_seconds": call.wait_seconds,
            "talk_seconds": call.talk_seconds,
            "rule": None,
        }


def _rendered(source: str | None, values: Mapping[str, Any], what: str) -> str:
    if source is None:
        return ""
    try:
        return render(source, values)
    except RuleError as error:
        log.warning("%s template failed, left empty: %s", what, error)
        return ""


def _title(source: str, values: Mapping[str, Any], *, fallback: str) -> str:
    # a title is required: a template that renders nothing (or fails) gets a plain one
    return (_rendered(source, values, "title") or fallback)[:255]


def _rendered_fields(fields: Mapping[str, str], values: Mapping[str, Any]) -> dict[str, str]:
    return {key: _rendered(source, values, f"field {key}") for key, source in fields.items()}


def _due(call: StoredCall, minutes: int | None) -> datetime | None:
    if minutes is None:
        return None
    # from the call's end, not from when this ran: a retry gives the same due time
    return (call.ended_at or call.started_at or call.created_at) + timedelta(minutes=minutes)


def _describe(call: StoredCall, values: Mapping[str, Any]) -> str:
    """The call as one line in a task's or contact's feed."""
    if call.kind == "missed":
        what = "Missed call from" if call.direction != "out" else "Unanswered call to"
    else:
        what = "Incoming call from" if call.direction == "in" else "Outgoing call to"
    parts = [f"{what} {values['contact']}"]
    if values["line"]:
        parts.append(f"line {values['line']}")
    if values["employee"]:
        parts.append(str(values["employee"]))
    if call.talk_seconds:
        parts.append(f"{call.talk_seconds} s")
    if values["started_at"]:
        parts.append(str(values["started_at"]))
    return ", ".join(parts)
