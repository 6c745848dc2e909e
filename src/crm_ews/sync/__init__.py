"""The two-way sync engine, its policies, state store and mailbox interface.

:class:`SyncEngine` syncs one enrolled mailbox per call; :class:`SyncRunner`
runs it over many mailboxes concurrently.  The engine reaches mailboxes
through the :class:`MailboxBackend` protocol (Exchange via
:class:`crm_ews.backends.EWSMailboxBackend`, or the in-memory
:class:`InMemoryMailboxBackend`) and remembers what it linked in a
:class:`StateStore` (:class:`SQLiteStateStore` for production,
:class:`MemoryStateStore` for tests).  It never imports httpx or lxml.
"""

from __future__ import annotations

from crm_ews.sync._actions import (
    Action,
    AdoptCreated,
    CreateInCRM,
    CreateInExchange,
    DeleteInCRM,
    DeleteInExchange,
    LinkMatched,
    Refresh,
    ResolveConflict,
    Skip,
    Unlink,
    UpdateCRM,
    UpdateExchange,
)
from crm_ews.sync._backend import (
    ItemRef,
    MailboxBackend,
    MailboxChange,
    MailboxChangePage,
    MailboxItem,
)
from crm_ews.sync._doctor import (
    AccessStatus,
    DoctorReport,
    MailboxCheck,
    doctor,
    scope_script,
)
from crm_ews.sync._engine import ParkedRetry, SyncEngine
from crm_ews.sync._memory_backend import InMemoryMailboxBackend
from crm_ews.sync._policy import (
    ConflictChoice,
    ConflictPolicy,
    ConflictResolver,
    CRMDeletePolicy,
    Direction,
    EntityPolicy,
    EWSDeletePolicy,
    MassDeletionGuard,
    TimeWindow,
)
from crm_ews.sync._report import EntityReport, MailboxReport, RunReport
from crm_ews.sync._runner import Progress, SyncRunner
from crm_ews.sync._store import (
    Clock,
    JournalEntry,
    Lease,
    Link,
    LinkState,
    StateStore,
    new_correlation_id,
    utc_now,
)
from crm_ews.sync._store_memory import MemoryStateStore
from crm_ews.sync._store_sqlite import SQLiteStateStore, Synchronous

__all__ = [
    "AccessStatus",
    "Action",
    "AdoptCreated",
    "CRMDeletePolicy",
    "Clock",
    "ConflictChoice",
    "ConflictPolicy",
    "ConflictResolver",
    "CreateInCRM",
    "CreateInExchange",
    "DeleteInCRM",
    "DeleteInExchange",
    "Direction",
    "DoctorReport",
    "EWSDeletePolicy",
    "EntityPolicy",
    "EntityReport",
    "InMemoryMailboxBackend",
    "ItemRef",
    "JournalEntry",
    "Lease",
    "Link",
    "LinkMatched",
    "LinkState",
    "MailboxBackend",
    "MailboxChange",
    "MailboxChangePage",
    "MailboxCheck",
    "MailboxItem",
    "MailboxReport",
    "MassDeletionGuard",
    "MemoryStateStore",
    "ParkedRetry",
    "Progress",
    "Refresh",
    "ResolveConflict",
    "RunReport",
    "SQLiteStateStore",
    "Skip",
    "StateStore",
    "SyncEngine",
    "SyncRunner",
    "Synchronous",
    "TimeWindow",
    "Unlink",
    "UpdateCRM",
    "UpdateExchange",
    "doctor",
    "new_correlation_id",
    "scope_script",
    "utc_now",
]
