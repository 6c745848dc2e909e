"""Sync actions: one small class per thing the engine may do to a pair.

The planner turns what it read (an Exchange change, a CRM change, the link
between them) into one of these; the engine applies it, or, in a dry run,
only reports it.  Every action carries a reason code for the journal and the
run report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crm_ews.repository import CRMRecord
    from crm_ews.sync._backend import MailboxItem
    from crm_ews.sync._store import Link

__all__ = [
    "Action",
    "AdoptCreated",
    "CreateInCRM",
    "CreateInExchange",
    "DeleteInCRM",
    "DeleteInExchange",
    "LinkMatched",
    "Refresh",
    "ResolveConflict",
    "Skip",
    "Unlink",
    "UpdateCRM",
    "UpdateExchange",
]


@dataclass(frozen=True, slots=True)
class CreateInCRM:
    """Create a CRM record for an Exchange item nobody has linked yet.

    ``link`` is set when a create left pending by an earlier run is retried
    under its original correlation id (the CRM's idempotency key).
    """

    item: MailboxItem
    link: Link | None = None
    reason: str = "new_in_exchange"


@dataclass(frozen=True, slots=True)
class CreateInExchange:
    """Create an Exchange item for a CRM record nobody has linked yet.

    ``link`` is set when a create left pending by an earlier run is retried
    under its original correlation id.
    """

    record: CRMRecord
    link: Link | None = None
    reason: str = "new_in_crm"


@dataclass(frozen=True, slots=True)
class UpdateCRM:
    """Write the Exchange side's content into the linked CRM record."""

    link: Link
    item: MailboxItem
    reason: str = "changed_in_exchange"


@dataclass(frozen=True, slots=True)
class UpdateExchange:
    """Write the CRM side's content into the linked Exchange item."""

    link: Link
    record: CRMRecord
    reason: str = "changed_in_crm"


@dataclass(frozen=True, slots=True)
class DeleteInCRM:
    """Delete the CRM record whose Exchange item was deleted."""

    link: Link
    reason: str = "deleted_in_exchange"


@dataclass(frozen=True, slots=True)
class DeleteInExchange:
    """Delete the Exchange item whose CRM record was deleted."""

    link: Link
    reason: str = "deleted_in_crm"


@dataclass(frozen=True, slots=True)
class LinkMatched:
    """Pair an unlinked item and record that describe the same thing.

    First-time linking: appointments match by subject, start and end,
    contacts by e-mail address, tasks by subject and due date.
    """

    record: CRMRecord
    item: MailboxItem
    reason: str = "matched"


@dataclass(frozen=True, slots=True)
class AdoptCreated:
    """Complete a pending create: the item carrying the correlation id exists."""

    link: Link
    item: MailboxItem
    reason: str = "recovered_create"


@dataclass(frozen=True, slots=True)
class ResolveConflict:
    """Both sides changed since the last sync; the conflict policy decides."""

    link: Link
    record: CRMRecord
    item: MailboxItem
    reason: str = "changed_on_both_sides"


@dataclass(frozen=True, slots=True)
class Unlink:
    """Forget a pair without touching either side (e.g. it left the selection)."""

    link: Link
    reason: str


@dataclass(frozen=True, slots=True)
class Refresh:
    """Remember a side's new version without writing anything.

    Used when a change key or CRM version moved but the mapped content did
    not (an echo of the engine's own write, or an unmapped field).
    """

    link: Link
    record: CRMRecord | None = None
    item: MailboxItem | None = None
    reason: str = "unchanged_projection"


@dataclass(frozen=True, slots=True)
class Skip:
    """Do nothing, for a reason worth counting."""

    reason: str
    crm_id: str | None = None
    ews_item_id: str | None = None


#: Any one of the action classes the planner produces.
Action = (
    CreateInCRM
    | CreateInExchange
    | UpdateCRM
    | UpdateExchange
    | DeleteInCRM
    | DeleteInExchange
    | LinkMatched
    | AdoptCreated
    | ResolveConflict
    | Unlink
    | Refresh
    | Skip
)
