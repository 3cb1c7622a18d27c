"""Whether an inbound call is put through to the caller's responsible employee: the channel's
forwarding setting, and the decision at a given moment (pure, so it is tested at fixed instants).
Who the responsible is, the store answers (`crm.responsible_lookup`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from crm.responsible_lookup import Responsible
from policies.working_hours import is_working_at

__all__ = [
    "FORWARDING_MODES",
    "FORWARDING_SETTING",
    "Forwarding",
    "forwarding_decision",
    "forwarding_mode",
]

# The channel setting, and its values: never forward, always forward to the responsible, or
# only while the responsible is within their working hours. A channel without it does not
# forward: answering a PBX's routing question changes who gets every call, so it is opted into.
FORWARDING_SETTING: Final = "forward_to_responsible"
FORWARDING_MODES: Final = ("off", "on", "working_hours")
_DEFAULT_MODE: Final = "off"


@dataclass(frozen=True)
class Forwarding:
    """Whether to forward the call to the responsible, and why (one of
    providers.lookups.FORWARDING_REASONS, kept as plain text here: policies know nothing above)."""

    forward: bool
    reason: str


def forwarding_mode(settings: Mapping[str, Any]) -> str:
    """The channel's forwarding mode; a missing or unknown value is "off" (closed, not open)."""
    mode = settings.get(FORWARDING_SETTING, _DEFAULT_MODE)
    if isinstance(mode, bool):  # a JSON true/false typed by an admin means on/off
        return "on" if mode else "off"
    return mode if mode in FORWARDING_MODES else _DEFAULT_MODE


def forwarding_decision(mode: str, responsible: Responsible | None, moment: datetime) -> Forwarding:
    """Whether a call at `moment` (aware) goes to the responsible under the channel's `mode`.

    In "working_hours" mode an employee with no working hours set is treated as not at work:
    forwarding may ring their own phone, which must not happen at night by omission.
    """
    if responsible is None:
        return Forwarding(False, "unknown_caller")
    if responsible.employee is None:
        return Forwarding(False, "no_responsible")
    if mode == "on":
        return Forwarding(True, "forwarding_on")
    if mode != "working_hours":
        return Forwarding(False, "forwarding_off")
    hours = responsible.employee.working_hours
    if hours and is_working_at(hours, moment):
        return Forwarding(True, "within_working_hours")
    return Forwarding(False, "outside_working_hours")
