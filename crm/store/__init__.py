"""The store: channels, employees, groups, contacts, calls, tasks and recordings behind one
thread-safe `Store` object.

Synchronous SQLAlchemy on SQLite (the default, one file shared by the API and worker processes) or
PostgreSQL; callers on an event loop run its methods in threads. Each aggregate keeps its own
module and builds on one core (`engine.StoreCore`: the engine, its sessions, migrations):
`people` (channels, employees and tokens, groups), `contacts`, `calls` (and skipped calls),
`tasks` (comments, attachments, notifications), `recordings`; `mapping` turns rows into records
and `validation` holds what the store accepts.
"""

from __future__ import annotations

from crm.accounts import Accounts
from crm.contact_edits import ContactEdits
from crm.reports import ReportQueries
from crm.store.calls import CallStore, SkippedCallStore
from crm.store.cards import CardStore
from crm.store.contacts import ContactStore
from crm.store.people import ChannelStore, ConflictError, EmployeeStore, GroupStore
from crm.store.placed_calls import PlacedCallStore
from crm.store.recordings import RecordingStore
from crm.store.routing import RoutingReads
from crm.store.tasks import FollowUpStore, TaskStore

__all__ = ["ConflictError", "Store"]


class Store(
    ChannelStore,
    EmployeeStore,
    GroupStore,
    ContactStore,
    CallStore,
    SkippedCallStore,
    TaskStore,
    FollowUpStore,
    RecordingStore,
    ReportQueries,
    Accounts,
    ContactEdits,
    CardStore,
    PlacedCallStore,
    RoutingReads,
):
    """Everything pbxhub keeps about telephony; one instance per process, shared by its threads.

    Every method runs in its own short transaction and returns frozen records from
    `crm.records`. Writes that can race (the same contact, the same call) are settled by
    unique constraints, so two threads or two processes end up with one row.
    """
