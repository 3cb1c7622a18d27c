"""The store of pbxhub: channels, employees, groups, contacts, calls, tasks and recordings
(SQLite by default, or PostgreSQL).

`crm.Store` is the one door; behind it `crm.store` keeps each aggregate in its own module. It
knows nothing above it (the pure policies over its records live in `policies`); callers get and
give the frozen records defined in `crm.records`, and pick calls with `CallFilter`.
"""

from __future__ import annotations

from contracts.phones import is_e164, require_e164
from crm.records import (
    CALL_KINDS,
    DIRECTIONS,
    SKIP_REASONS,
    TASK_STATUSES,
    CallAttachment,
    CallPlace,
    Channel,
    Comment,
    Contact,
    ContactPhone,
    Employee,
    EmployeeLink,
    Group,
    Notification,
    Recording,
    SkippedCall,
    SkippedCallRecord,
    StoredCall,
    Task,
)
from crm.store import ConflictError, Store
from crm.store.calls import CallFilter, SkippedCallFilter
from crm.store.validation import check_working_hours

__all__ = [
    "CALL_KINDS",
    "DIRECTIONS",
    "TASK_STATUSES",
    "CallAttachment",
    "CallFilter",
    "CallPlace",
    "Channel",
    "Comment",
    "ConflictError",
    "Contact",
    "ContactPhone",
    "Employee",
    "EmployeeLink",
    "Group",
    "Notification",
    "Recording",
    "Store",
    "SKIP_REASONS",
    "SkippedCall",
    "SkippedCallFilter",
    "SkippedCallRecord",
    "StoredCall",
    "Task",
    "check_working_hours",
    "is_e164",
    "require_e164",
]
