"""How a call's workflow answers the generic telephony API: the call and its ticket opened once,
then each create_call/update_call applied to them (the API's request and answer types are in
contracts.api_requests)."""

from __future__ import annotations

from dataclasses import replace

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.api_calls import ApiCallActivities
    from contracts.api_requests import ApiCallAnswer, ApiCallRequest, next_status
    from contracts.call_workflow import CallInput
    from contracts.messages import ApplyApiRequestInput, OpenApiCallInput, OpenTicketInput
    from workflows.store_activity import store_activity
    from workflows.summary import CallSummary


async def open_api_call(
    data: CallInput, summary: CallSummary, request: ApiCallRequest
) -> ApiCallAnswer:
    """The call row (new, or as an earlier run left it) and its ticket."""
    opened = await store_activity(
        ApiCallActivities.open_api_call,
        OpenApiCallInput(
            data.channel_id,
            data.session_id,
            data.provider,
            summary.direction,
            summary.contact_phone,
            summary.contact_phone_raw,
            summary.started_at,
        ),
    )
    ticket_id = await store_activity(
        ApiCallActivities.open_ticket,
        OpenTicketInput(opened.call_id, request.department, request.employee_id),
    )
    return ApiCallAnswer(
        call_id=opened.call_id,
        ticket_id=ticket_id,
        call_status=opened.status or request.call_status,
        employee_id=opened.employee_id,
        employee_pbx_id=opened.employee_pbx_id,
        recording_sha256=opened.recording_sha256,
    )


async def apply_api_request(request: ApiCallRequest, current: ApiCallAnswer) -> ApiCallAnswer:
    """One request applied to the call and its ticket (applying it twice repeats nothing)."""
    status = next_status(current.call_status, request.call_status)
    await store_activity(
        ApiCallActivities.apply_api_request,
        ApplyApiRequestInput(
            call_id=current.call_id,
            ticket_id=current.ticket_id,
            call_status=status,
            request_key=request.key,
            employee_id=request.employee_id,
            employee_pbx_id=request.employee_pbx_id,
            comment=request.comment,
            audio=request.audio,
        ),
    )
    return replace(
        current,
        call_status=status,
        employee_id=request.employee_id or current.employee_id,
        employee_pbx_id=request.employee_pbx_id or current.employee_pbx_id,
        recording_sha256=request.audio.sha256 if request.audio else current.recording_sha256,
    )
