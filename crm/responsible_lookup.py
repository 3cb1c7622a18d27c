"""The PBX's routing question, answered from the store: the contact that owns a caller's number
and its first responsible employee. Whether the call then goes to them is
`policies.forwarding`'s decision.

Reads only; the PBX is waiting on the answer, so the caller runs `find_responsible` under a
deadline.
"""

from __future__ import annotations

from contracts.phones import is_e164
from crm.records import Responsible, RoutedEmployee
from crm.store import Store

__all__ = ["Responsible", "RoutedEmployee", "find_responsible"]


def find_responsible(store: Store, phone: str | None, *, channel_id: int) -> Responsible | None:
    """The contact owning `phone` (E.164) with its first responsible employee (their extension
    on `channel_id`); None for a number no contact has, or one that is not E.164 (nothing to look
    up: no read at all)."""
    if not phone or not is_e164(phone):
        return None
    return store.responsible_for_phone(phone, channel_id=channel_id)
