"""Checks that a phone number is already in E.164, the only form the store keeps and matches on.

Reading what a PBX or a person writes into E.164 (by the channel's country) is done before the
store, by the one reader of numbers, `providers.phones.read_phone`, a pure module crm may use
too; the store only refuses anything else, so that one number can never become two contacts.
"""

from __future__ import annotations

from providers.phones import is_e164

__all__ = ["is_e164", "require_e164"]


def require_e164(phone: str) -> str:
    """Return `phone` unchanged if it is E.164, else raise ValueError naming it."""
    if not is_e164(phone):
        raise ValueError(f"phone {phone!r} is not in E.164 form (like +74951234567)")
    return phone
