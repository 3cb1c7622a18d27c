"""What a call's workflow tells the card publishing activity: the call as a live card shows it,
at one moment (ringing, talking, finished). Standard library only: the workflow imports it.

Its JSON is in every running call's history: a field added keeps a default, none is renamed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

# A card's stages, in the order a call goes through them; "finished" closes the card.
RINGING: Final = "ringing"
TALKING: Final = "talking"
FINISHED: Final = "finished"
# A leg's states: rung and waiting, talking, done talking, or closed without an answer.
LEG_STATES: Final = ("ringing", "talking", "ended", "cancelled")


@dataclass(frozen=True)
class CardLeg:
    """One employee's part as the card shows it."""

    state: str
    extension: str | None = None
    pbx_user_id: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class CardUpdate:
    """A call's card now; `target_employee_ids` are the telephony API's targets and
    `everyone` says its card is for every employee of the channel (an API call naming none)."""

    channel_id: int
    session_id: str
    provider: str
    stage: str
    direction: str | None = None
    contact_phone: str | None = None
    contact_phone_raw: str | None = None
    contact_name: str | None = None
    line_name: str | None = None
    virtual_number: str | None = None
    answered: bool = False
    legs: list[CardLeg] = field(default_factory=list)
    target_employee_ids: list[int] = field(default_factory=list)
    everyone: bool = False
    # Bumped by an employee's action on the call (a contact made): the card is published again.
    revision: int = 0
