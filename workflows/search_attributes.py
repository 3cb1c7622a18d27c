"""The search attributes that make calls findable in the Temporal UI (registered by the dev
runner and `pbxhub.temporal_setup`), and how a call's workflow sets them."""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from workflows.summary import CallSummary

PROVIDER = SearchAttributeKey.for_keyword("PbxProvider")
CHANNEL = SearchAttributeKey.for_keyword("PbxChannel")
DIRECTION = SearchAttributeKey.for_keyword("CallDirection")
CONTACT_PHONE = SearchAttributeKey.for_keyword("ContactPhone")
EMPLOYEE_EXTENSION = SearchAttributeKey.for_keyword("EmployeeExtension")
OUTCOME = SearchAttributeKey.for_keyword("CallOutcome")
SEARCH_ATTRIBUTES = [PROVIDER, CHANNEL, DIRECTION, CONTACT_PHONE, EMPLOYEE_EXTENSION, OUTCOME]


def index_channel(provider: str, channel_id: int) -> None:
    """Where the call came from, known from its start."""
    workflow.upsert_search_attributes(
        [PROVIDER.value_set(provider), CHANNEL.value_set(str(channel_id))]
    )


def index_call(summary: CallSummary, outcome: str, extension: str | None) -> None:
    """What became of the call, its direction, contact and employee."""
    pairs: list[SearchAttributeUpdate[str]] = [OUTCOME.value_set(outcome)]
    if summary.direction:
        pairs.append(DIRECTION.value_set(summary.direction))
    if summary.contact_phone:
        pairs.append(CONTACT_PHONE.value_set(summary.contact_phone))
    extension = extension or (summary.employee.extension if summary.employee else None)
    if extension:
        pairs.append(EMPLOYEE_EXTENSION.value_set(extension))
    workflow.upsert_search_attributes(pairs)
