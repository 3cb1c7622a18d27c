"""The store of pbxhub: channels, employees, contacts and calls (SQLite by default, or PostgreSQL).

It knows nothing above it; callers get and give the frozen records defined in `crm.records`.
"""

from __future__ import annotations

from crm.phones import is_e164, require_e164
from crm.records import (
    CALL_KINDS,
    DIRECTIONS,
    CallRecord,
    Channel,
    Contact,
    ContactPhone,
    Employee,
    EmployeeLink,
    StoredCall,
)
from crm.store import ConflictError, Store

__all__ = [
    "CALL_KINDS",
    "DIRECTIONS",
    "CallRecord",
    "Channel",
    "ConflictError",
    "Contact",
    "ContactPhone",
    "Employee",
    "EmployeeLink",
    "Store",
    "StoredCall",
    "is_e164",
    "require_e164",
]
