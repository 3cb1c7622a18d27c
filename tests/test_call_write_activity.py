"""A call is written by one activity (its owner, contact, row and the channel's rules), and that
activity, retried, changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from conftest import Pbxhub, scenario
from temporalio.api.enums.v1 import EventType
from test_uis_calls import ANSWERED, CALLER, assert_answered_inbound, deliver, uis_line

from activities.call_writes import CallWriteActivities
from contracts.messages import CallRecord, EmployeeRef, FindOrCreateContactInput, WriteCallInput

STEP_ACTIVITIES = {
    "find_employees",
    "find_employee_by_phone",
    "find_or_create_contact",
    "save_call",
    "apply_call_rules",
}


async def activities_scheduled(hub: Pbxhub, workflow_id: str) -> list[str]:
    history = await hub.client.get_workflow_handle(workflow_id).fetch_history()
    return [
        event.activity_task_scheduled_event_attributes.activity_type.name
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


async def test_an_answered_call_with_a_new_contact_is_written_by_one_activity(
    pbxhub: Pbxhub,
) -> None:
    channel, anna, _ = await uis_line(pbxhub)

    await deliver(pbxhub, channel, scenario("uis", "inbound_answered"))

    result = await pbxhub.call_result(channel, ANSWERED)
    call = await pbxhub.the_one_record("call")
    contact = await pbxhub.the_one_contact(CALLER, raw="79161234567")
    assert_answered_inbound(call, anna, contact["id"])
    assert result.call_id == call["id"]
    scheduled = await activities_scheduled(pbxhub, pbxhub.workflow_id(channel, ANSWERED))
    assert scheduled.count("write_call") == 1
    assert not STEP_ACTIVITIES & set(scheduled), scheduled


def answered_call(channel_id: int, session_id: str) -> WriteCallInput:
    record = CallRecord(
        channel_id=channel_id,
        session_id=session_id,
        provider="uis",
        kind="call",
        direction="in",
        contact_phone=CALLER,
        contact_phone_raw="79161234567",
        employee_extension="101",
        started_at=datetime(2024, 3, 12, 7, 15, tzinfo=UTC),
        ended_at=datetime(2024, 3, 12, 7, 16, tzinfo=UTC),
    )
    return WriteCallInput(
        call=record,
        employee=EmployeeRef(extension="101"),
        contact=FindOrCreateContactInput(CALLER, "79161234567", channel_id=channel_id),
        apply_rules=True,
    )


async def test_write_call_retried_writes_the_same_call_and_contact(pbxhub: Pbxhub) -> None:
    channel, anna, _ = await uis_line(pbxhub)
    write = CallWriteActivities(pbxhub.store).write_call
    data = answered_call(channel["id"], "retried-1")

    first = write(data)
    again = write(data)

    assert first.call_id is not None and again.call_id == first.call_id
    assert first.new_contact and not again.new_contact
    assert first.owner_extension == "101" and first.rules_applied
    call = await pbxhub.the_one_record("call")
    assert call["employee_id"] == anna["id"]
    contact = await pbxhub.the_one_contact(CALLER, raw="79161234567")
    assert call["contact_id"] == contact["id"]


async def test_write_call_keeps_a_call_of_an_unknown_employee_as_skipped(pbxhub: Pbxhub) -> None:
    channel, _, _ = await uis_line(pbxhub)
    data = answered_call(channel["id"], "unknown-1")
    data = WriteCallInput(call=data.call, employee=EmployeeRef(extension="199"))

    written = CallWriteActivities(pbxhub.store).write_call(data)

    assert written.call_id is None
    assert written.skip is not None and written.skip.code == "unknown_employee"
    assert "extension 199" in written.skip.detail
    skipped = pbxhub.store.get_skipped_call_by_session(channel["id"], "unknown-1")
    assert skipped is not None and skipped.reason == "unknown_employee"
    assert pbxhub.store.get_call_by_session(channel["id"], "unknown-1") is None
