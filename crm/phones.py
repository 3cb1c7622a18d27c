"""Checks that a phone number is already in E.164, the only form the store keeps and matches on.

Turning what a PBX sends into E.164 (by the channel's country) is the providers' job; the store
only refuses anything else, so that one number can never become two contacts.
"""

from __future__ import annotations

import re

# ITU-T E.164: a plus, a country code that does not start with 0, at most 15 digits in all.
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")


def is_e164(phone: str) -> bool:
    """Whether `phone` is written in E.164, e.g. `+74951234567`."""
    return _E164.fullmatch(phone) is not None


def require_e164(phone: str) -> str:
    """Return `phone` unchanged if it is E.164, else raise ValueError naming it."""
    if not is_e164(phone):
        raise ValueError(f"phone {phone!r} is not in E.164 form (like +74951234567)")
    return phone
