"""The closed list of lookups a spec may ask for before it renders a synchronous reply, and the
typed answers its reply templates read as `lookups.<kind>`.

The engine stays pure: a spec event says what it needs (a kind and its arguments, evaluated from
the request); the ingress reads the store and hands the answers back. A lookup kind is a question
about the CRM, never a provider: add a kind here (and to the meta-schema) when a PBX needs one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Final

__all__ = [
    "FORWARDING_REASONS",
    "LOOKUP_KINDS",
    "ContactAnswer",
    "EmployeeAnswer",
    "LookupKind",
    "ResponsibleAnswer",
    "answer_from_mapping",
]

# Why the call is (or is not) to be forwarded to the responsible employee, for logs and for
# templates that answer differently by case. `forward` is true only for the first two.
FORWARDING_REASONS: Final = (
    "forwarding_on",  # the channel forwards to the responsible whenever there is one
    "within_working_hours",  # forwarding "working_hours" and the employee is at work now
    "outside_working_hours",  # forwarding "working_hours", not at work now (or no schedule)
    "forwarding_off",  # the channel does not forward (the default)
    "no_responsible",  # the caller is a known contact without a responsible employee
    "unknown_caller",  # no contact has the caller's number (or the number is not E.164)
)


@dataclass(frozen=True)
class ContactAnswer:
    """The caller's contact: `url` is its page for people, `api_url` its REST resource."""

    id: int
    name: str | None
    url: str
    api_url: str


@dataclass(frozen=True)
class EmployeeAnswer:
    """The contact's first responsible employee, as this channel's PBX can reach them."""

    id: int
    name: str
    # the employee's short number in the channel the request came in on
    extension: str | None
    # their own numbers, E.164 ("+79031234567"), in the order they were entered
    phones: tuple[str, ...] = ()

    @property
    def phone(self) -> str | None:
        """The first own number, or None."""
        return self.phones[0] if self.phones else None


@dataclass(frozen=True)
class ResponsibleAnswer:
    """`lookups.responsible`: who the caller is and whom to forward them to.

    `contact` and `employee` are given whenever known, even when `forward` is false (a PBX may
    still show the caller's name); forward only when `forward` is true.
    """

    contact: ContactAnswer | None = None
    employee: EmployeeAnswer | None = None
    forward: bool = False
    reason: str = "unknown_caller"


@dataclass(frozen=True)
class LookupKind:
    """A question a reply may ask: its arguments (all required, expressions in the spec) and how
    an answer given as plain data (a spec example's `lookups`) becomes the typed answer."""

    name: str
    arguments: tuple[str, ...]
    description: str
    from_mapping: Callable[[Mapping[str, Any]], Any]


def _strict(cls: type[Any], data: Mapping[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: must be a mapping, got {type(data).__name__}")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {sorted(names)}")
    return dict(data)


def _responsible(data: Mapping[str, Any]) -> ResponsibleAnswer:
    values = _strict(ResponsibleAnswer, data, "lookups.responsible")
    contact = values.get("contact")
    if contact is not None:
        values["contact"] = ContactAnswer(
            **_strict(ContactAnswer, contact, "lookups.responsible.contact")
        )
    employee = values.get("employee")
    if employee is not None:
        known = _strict(EmployeeAnswer, employee, "lookups.responsible.employee")
        known["phones"] = tuple(known.get("phones", ()))
        known.setdefault("extension", None)
        values["employee"] = EmployeeAnswer(**known)
    reason = values.get("reason", "unknown_caller")
    if reason not in FORWARDING_REASONS:
        raise ValueError(
            f"lookups.responsible.reason: {reason!r} is not one of {FORWARDING_REASONS}"
        )
    return ResponsibleAnswer(**values)


LOOKUP_KINDS: Final[Mapping[str, LookupKind]] = {
    "responsible": LookupKind(
        name="responsible",
        arguments=("phone",),
        description=(
            "The contact owning `phone` (E.164, usually `body.<caller> | e164`), its first "
            "responsible employee (extension in this channel, own phones, name, id) and whether "
            "the channel's forwarding setting lets the call go to them now: ResponsibleAnswer."
        ),
        from_mapping=_responsible,
    ),
}


def answer_from_mapping(kind: str, data: Any) -> Any:
    """The typed answer of a known kind given as plain data; other names pass through unchanged.
    Raises ValueError for an answer whose shape the ingress would never give."""
    lookup = LOOKUP_KINDS.get(kind)
    if lookup is None or data is None:
        return data
    return lookup.from_mapping(data)
