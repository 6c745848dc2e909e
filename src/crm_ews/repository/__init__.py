"""The CRM side of the sync: neutral records and the repository interface.

A CRM backend subclasses :class:`CRMRepository` (or
:class:`AsyncCRMRepository`) once per entity type and hands the repositories
to the sync engine. Two reference adapters ship with the package:
:mod:`crm_ews.repository.memory` for tests and
:mod:`crm_ews.repository.sqlite` for demos and as a model for real ones.
Adapter authors check theirs with
:class:`crm_ews.testing.repository_contract.RepositoryContract`.

Nothing here knows about Exchange.
"""

from __future__ import annotations

from crm_ews.repository._base import (
    AsyncCRMRepository,
    ChangeSet,
    CRMRepository,
    as_async,
)
from crm_ews.repository._records import (
    AddressKind,
    Appointment,
    Contact,
    CRMRecord,
    EntityType,
    Frequency,
    Importance,
    PhoneKind,
    PostalAddress,
    Recurrence,
    ShowAs,
    Task,
    TaskStatus,
    Weekday,
    WeekOfMonth,
    projection_hash,
    record_type,
)
from crm_ews.repository.memory import (
    InMemoryAppointmentRepository,
    InMemoryContactRepository,
    InMemoryRepository,
    InMemoryTaskRepository,
)
from crm_ews.repository.sqlite import (
    SampleData,
    SQLiteAppointmentRepository,
    SQLiteContactRepository,
    SQLiteCRM,
    SQLiteRepository,
    SQLiteTaskRepository,
)

__all__ = [
    "AddressKind",
    "Appointment",
    "AsyncCRMRepository",
    "CRMRecord",
    "CRMRepository",
    "ChangeSet",
    "Contact",
    "EntityType",
    "Frequency",
    "Importance",
    "InMemoryAppointmentRepository",
    "InMemoryContactRepository",
    "InMemoryRepository",
    "InMemoryTaskRepository",
    "PhoneKind",
    "PostalAddress",
    "Recurrence",
    "SQLiteAppointmentRepository",
    "SQLiteCRM",
    "SQLiteContactRepository",
    "SQLiteRepository",
    "SQLiteTaskRepository",
    "SampleData",
    "ShowAs",
    "Task",
    "TaskStatus",
    "WeekOfMonth",
    "Weekday",
    "as_async",
    "projection_hash",
    "record_type",
]
