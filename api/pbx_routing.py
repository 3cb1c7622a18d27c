"""PBX routing: the answers to a routing question's lookups (providers.lookups: whose caller
this is, whether to forward to them), read from the store under a deadline. The PBX waits on the
reply, so a store that is slow or failing gets the spec's fallback reply ("continue by your own
scenario") instead of making the PBX time out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any

import anyio

from api.context import ApiContext
from crm import Channel, Store
from crm.responsible_lookup import Responsible, find_responsible
from policies.forwarding import forwarding_decision, forwarding_mode
from providers.engine import Outcome, PreparedRequest, fallback_outcome, finish_request
from providers.lookups import ContactAnswer, EmployeeAnswer, ResponsibleAnswer
from providers.rejections import MappingError, RequestRejected

__all__ = ["ANSWERERS", "answer_lookups", "answer_responsible", "reply_outcome"]

log = logging.getLogger("pbxhub.routing")


async def reply_outcome(
    context: ApiContext, channel: Channel, prepared: PreparedRequest, *, where: str
) -> Outcome:
    """The request's outcome with its reply: rendered with the lookups answered, or the fallback
    reply when they are not answered within `context.routing_timeout` or the store fails.

    Raises MappingError (a spec bug) or RequestRejected (a value of the request it cannot read)
    only when the fallback itself cannot be rendered, or when the request needs no lookups.
    """
    if not prepared.lookups_needed:
        return finish_request(prepared, {})
    started = time.perf_counter()
    read = partial(
        answer_lookups,
        context.store,
        channel,
        prepared.lookups_needed,
        public_base_url=context.public_base_url,
        now=datetime.now(UTC),
    )
    answers: dict[str, Any] | None = None
    failure = "no answer within the deadline"
    with anyio.move_on_after(context.routing_timeout.total_seconds()):
        try:
            # abandoned on timeout: the thread finishes on its own, the PBX is not kept waiting
            answers = await anyio.to_thread.run_sync(read, abandon_on_cancel=True)
        except Exception as error:  # any store failure: the PBX still gets an answer
            # the type only: a driver's message may carry the query's parameters (the phone)
            failure = f"store error {type(error).__name__}"
            log.debug("lookups for %s failed", where, exc_info=True)
    elapsed_ms = (time.perf_counter() - started) * 1000
    if answers is None:
        log.warning("lookups for %s: %s after %.0f ms; fallback reply", where, failure, elapsed_ms)
        return fallback_outcome(prepared)
    try:
        outcome = finish_request(prepared, answers)
    except MappingError as error:
        log.error("reply for %s failed at %s: %s; fallback reply", where, error.path, error.message)
        return fallback_outcome(prepared)
    except RequestRejected as rejected:  # the reply reads a value of the request it cannot
        log.warning("reply for %s failed on %s; fallback reply", where, rejected.field)
        return fallback_outcome(prepared)
    _log_decision(where, answers, elapsed_ms)
    return outcome


def answer_lookups(
    store: Store,
    channel: Channel,
    needed: Mapping[str, Mapping[str, Any]],
    *,
    public_base_url: str,
    now: datetime,
) -> dict[str, Any]:
    """Every lookup answered from the store (blocking: run it in a thread)."""
    return {
        kind: ANSWERERS[kind](store, channel, arguments, public_base_url, now)
        for kind, arguments in needed.items()
    }


def answer_responsible(
    store: Store,
    channel: Channel,
    arguments: Mapping[str, Any],
    public_base_url: str,
    now: datetime,
) -> ResponsibleAnswer:
    """`responsible`: the contact owning the phone, its first responsible employee, and whether
    the channel's forwarding setting lets the call go to them at `now`."""
    phone = arguments.get("phone")
    responsible = find_responsible(
        store, phone if isinstance(phone, str) else None, channel_id=channel.id
    )
    decision = forwarding_decision(forwarding_mode(channel.settings), responsible, now)
    return ResponsibleAnswer(
        contact=_contact(responsible, public_base_url),
        employee=_employee(responsible),
        forward=decision.forward,
        reason=decision.reason,
    )


# One answerer per kind of providers.lookups.LOOKUP_KINDS (a test keeps the two lists equal).
ANSWERERS: Mapping[str, Callable[[Store, Channel, Mapping[str, Any], str, datetime], Any]] = {
    "responsible": answer_responsible
}


def _contact(responsible: Responsible | None, base: str) -> ContactAnswer | None:
    if responsible is None:
        return None
    contact_id = responsible.contact_id
    return ContactAnswer(
        id=contact_id,
        name=responsible.contact_name,
        # the contact's page for people (the pages come later; the link stays stable)
        url=f"{base}/contacts/{contact_id}",
        api_url=f"{base}/api/v1/contacts/{contact_id}",
    )


def _employee(responsible: Responsible | None) -> EmployeeAnswer | None:
    if responsible is None or responsible.employee is None:
        return None
    employee = responsible.employee
    return EmployeeAnswer(
        id=employee.id, name=employee.name, extension=employee.extension, phones=employee.phones
    )


def _log_decision(where: str, answers: Mapping[str, Any], elapsed_ms: float) -> None:
    # ids and the reason only: no phone numbers, no channel key (`where` masks it)
    for kind, answer in answers.items():
        if isinstance(answer, ResponsibleAnswer):
            log.info(
                "%s for %s: contact %s, employee %s, %s (%s) in %.1f ms",
                kind,
                where,
                answer.contact.id if answer.contact else None,
                answer.employee.id if answer.employee else None,
                "forward" if answer.forward else "no forwarding",
                answer.reason,
                elapsed_ms,
            )
