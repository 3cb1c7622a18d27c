"""What a set of call events adds up to, whatever order they arrived in. Pure and deterministic."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TypeVar

from contracts.events import CallEvent, Direction, EventKind
from contracts.messages import CallLeg, EmployeeRef

_EPOCH = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Leg:
    """One employee's part in a call: rung, and perhaps talked."""

    employee: EmployeeRef
    leg_id: str | None = None
    rang_at: datetime | None = None
    answered_at: datetime | None = None
    talk_ended_at: datetime | None = None
    talk_seconds: int | None = None
    # The PBX closed this employee's part without ending the call (another employee answered,
    # or a hunt group moved on): a status update naming the employee with answered = false.
    closed: bool = False
    closed_at: datetime | None = None

    @property
    def answered(self) -> bool:
        return self.answered_at is not None or bool(self.talk_seconds)

    def as_call_leg(self) -> CallLeg:
        """The leg as the call is written and shown (its employee's identifiers flattened)."""
        return CallLeg(
            leg_id=self.leg_id,
            employee_extension=self.employee.extension,
            employee_pbx_id=self.employee.pbx_user_id,
            employee_name=self.employee.name,
            rang_at=self.rang_at,
            answered_at=self.answered_at,
            talk_ended_at=self.talk_ended_at,
            talk_seconds=self.talk_seconds,
            answered=self.answered,
            closed=self.closed,
            closed_at=self.closed_at,
        )


@dataclass(frozen=True)
class CallSummary:
    over: bool
    answered: bool
    direction: str | None
    contact_phone: str | None
    contact_phone_raw: str | None
    contact_name: str | None
    virtual_number: str | None
    line_name: str | None
    # Who owns the call: who talked last, or for an unanswered outbound call its caller.
    employee: EmployeeRef | None
    rang: list[EmployeeRef]
    legs: list[Leg]
    started_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    wait_seconds: int | None
    talk_seconds: int | None
    total_seconds: int | None
    tags: list[str] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)
    recording_url: str | None = None
    recording_duration: int | None = None
    # True when any event says a recording will come, False when they only say none will.
    recording_expected: bool | None = None
    # The PBX said a recording is ready (with a link or not: without, its API gives one).
    recording_announced: bool = False
    # Why the call is not to be recorded, when every event that ended it says so.
    skip_reason: str | None = None


def _ref(event: CallEvent) -> EmployeeRef | None:
    if not (event.employee_extension or event.employee_pbx_id):
        return None
    return EmployeeRef(event.employee_extension, event.employee_pbx_id, event.employee_name)


T = TypeVar("T")


def _first(values: list[T | None]) -> T | None:
    """The first value given (not None, not empty)."""
    return next((value for value in values if value not in (None, "")), None)


def _when(event: CallEvent) -> datetime | None:
    return event.occurred_at or event.answered_at or event.started_at or event.ended_at


# Where a kind falls in a call's life: events of the same moment are folded in this order.
_LIFECYCLE_RANK: dict[str, int] = {
    EventKind.CALL_STARTED: 0,
    EventKind.RINGING: 1,
    EventKind.STATUS_UPDATE: 2,
    EventKind.TALK_STARTED: 3,
    EventKind.TALK_FINISHED: 4,
    EventKind.CALL_LOST: 5,
    EventKind.CALL_FINISHED: 6,
    EventKind.RECORDING_READY: 7,
}


def canonical_order(events: list[CallEvent]) -> list[CallEvent]:
    """The events in one total order whatever order they arrived in: the PBX's clock, then the
    kind's place in a call's life, then the idempotency key (unique per event). Recording links
    of the same moment keep their arrival order: a link the PBX sends again replaces the one
    before it (the later one is the call's recording)."""

    def place(item: tuple[int, CallEvent]) -> tuple[datetime, int, int, str]:
        index, event = item
        resent = index if event.kind == EventKind.RECORDING_READY else 0
        rank = _LIFECYCLE_RANK.get(event.kind, 8)
        return (_when(event) or _EPOCH, rank, resent, event.idempotency_key)

    return [event for _, event in sorted(enumerate(events), key=place)]


def arrival_order(events: list[CallEvent]) -> list[CallEvent]:
    """The PBX's clock, arrival breaking ties: how runs from before the canonical order fold."""
    dated = [(_when(event) or _EPOCH, index, event) for index, event in enumerate(events)]
    return [event for _, _, event in sorted(dated, key=lambda item: (item[0], item[1]))]


def summarize(events: list[CallEvent], *, canonical: bool = True) -> CallSummary:
    """Fold the events of one call session into one view: the same whatever order they came in
    (`canonical`; without it, events of the same moment fold in arrival order, as old runs did)."""
    ordered = canonical_order(events) if canonical else arrival_order(events)
    kinds = {event.kind for event in ordered}
    of = {kind: [e for e in ordered if e.kind == kind] for kind in kinds}
    finished = of.get(EventKind.CALL_FINISHED, [])
    lost = of.get(EventKind.CALL_LOST, [])
    started = of.get(EventKind.CALL_STARTED, [])
    recordings = of.get(EventKind.RECORDING_READY, [])

    legs = _legs(ordered)
    # Lost is the PBX's word and wins; otherwise any talk, or the PBX's own verdict, means answered.
    explicit = [e.answered for e in finished if e.answered is not None]
    answered = not lost and (
        any(leg.answered for leg in legs) or any(e.talk_seconds for e in finished) or any(explicit)
    )
    direction = _first([e.direction for e in started + finished + ordered])

    employee: EmployeeRef | None = None
    talkers = [leg for leg in legs if leg.answered]
    # The finish's own word on who ended the call wins when that employee talked: the PBX's
    # clocks on talks may be missing or only our arrival times (Zadarma), so order can lie.
    finisher = _first([_ref(e) for e in reversed(finished)])
    named = [leg for leg in talkers if finisher is not None and leg.employee.same_as(finisher)]
    if answered and named:
        employee = named[-1].employee
    elif answered and talkers:
        employee = max(
            talkers, key=lambda leg: leg.answered_at or leg.talk_ended_at or _EPOCH
        ).employee
    elif answered or direction == Direction.OUT:
        employee = _first([_ref(e) for e in started + finished + recordings + ordered])

    rang: list[EmployeeRef] = []
    for event in ordered:
        refs = [EmployeeRef(extension=x) for x in event.rang_extensions]
        refs += [EmployeeRef(pbx_user_id=x) for x in event.rang_pbx_ids]
        for ref in refs:
            if ref not in rang:
                rang.append(ref)
    for leg in legs:
        bare = EmployeeRef(leg.employee.extension, leg.employee.pbx_user_id)
        if not any(r.same_as(bare) for r in rang):
            rang.append(bare)

    final = finished[-1:] + lost[-1:]
    talk_seconds = _first([e.talk_seconds for e in finished])
    if talk_seconds is None and legs:
        talk_seconds = sum(leg.talk_seconds or 0 for leg in legs) or None
    started_at = (
        _first([e.started_at or e.occurred_at for e in started])
        or _first([e.started_at for e in ordered])
        or (_when(ordered[0]) if ordered else None)
    )
    ended_at = _first([e.ended_at or e.occurred_at for e in finished + lost])
    answered_at = _first([leg.answered_at for leg in legs if leg.answered]) or _first(
        [e.answered_at for e in ordered]
    )

    expected = [e.recording_expected for e in ordered if e.recording_expected is not None]
    skips = [e.skip_reason for e in finished + lost]

    extra: dict[str, str] = {}
    tags: list[str] = []
    for event in ordered:
        extra.update(event.extra)
        tags.extend(tag for tag in event.tags if tag not in tags)

    return CallSummary(
        over=bool(finished or lost),
        answered=answered,
        direction=direction,
        contact_phone=_first([e.contact_phone for e in ordered]),
        contact_phone_raw=_first([e.contact_phone_raw for e in ordered]),
        contact_name=_first([e.contact_name for e in ordered]),
        virtual_number=_first([e.virtual_number for e in ordered]),
        line_name=_first([e.line_name for e in ordered]),
        employee=employee,
        rang=rang,
        legs=legs,
        started_at=started_at,
        answered_at=answered_at if answered else None,
        ended_at=ended_at,
        wait_seconds=_first([e.wait_seconds for e in final]),
        talk_seconds=talk_seconds if answered else 0 if final else None,
        total_seconds=_first([e.total_seconds for e in final]),
        tags=tags,
        extra=extra,
        recording_url=_first([e.recording_url for e in reversed(recordings)]),
        recording_duration=_first([e.recording_duration for e in reversed(recordings)]),
        recording_expected=any(expected) if expected else None,
        recording_announced=bool(recordings),
        skip_reason=skips[0] if skips and all(skips) else None,
    )


_LEG_KINDS = (EventKind.RINGING, EventKind.TALK_STARTED, EventKind.TALK_FINISHED)


def _legs(ordered: list[CallEvent]) -> list[Leg]:
    """One leg per employee reached: a transfer adds legs; a leg id tells them apart."""
    legs: dict[tuple[str | None, str | None, str | None], Leg] = {}
    for event in ordered:
        ref = _ref(event)
        closes = event.kind == EventKind.STATUS_UPDATE and event.answered is False
        if ref is None or not (closes or event.kind in _LEG_KINDS):
            continue
        key = _leg_key(legs, event, ref)
        leg = legs.get(key) or Leg(employee=ref, leg_id=event.leg_id)
        when = _when(event)
        if closes:
            leg = replace(leg, closed=True, closed_at=leg.closed_at or event.ended_at or when)
        elif event.kind == EventKind.RINGING:
            leg = replace(leg, rang_at=leg.rang_at or when)
        elif event.kind == EventKind.TALK_STARTED:
            leg = replace(leg, answered_at=leg.answered_at or event.answered_at or when)
        else:
            leg = replace(
                leg,
                talk_ended_at=event.ended_at or when,
                talk_seconds=event.talk_seconds
                if event.talk_seconds is not None
                else leg.talk_seconds,
            )
        legs[key] = leg
    return list(legs.values())


def _leg_key(
    legs: dict[tuple[str | None, str | None, str | None], Leg], event: CallEvent, ref: EmployeeRef
) -> tuple[str | None, str | None, str | None]:
    # Talk events may name the leg differently from the ring (UIS: leg_id vs leg_ids): the
    # employee's latest leg is the one that talks, unless the event names a leg we know.
    if event.leg_id and (event.leg_id, ref.extension, ref.pbx_user_id) in legs:
        return (event.leg_id, ref.extension, ref.pbx_user_id)
    same = [k for k in legs if k[1] == ref.extension and k[2] == ref.pbx_user_id]
    if same and event.kind != EventKind.RINGING:
        return same[-1]
    return (event.leg_id, ref.extension, ref.pbx_user_id)
