"""Mailbox access as the sync engine sees it: neutral records, opaque ids.

The engine never talks EWS.  It calls a :class:`MailboxBackend`, which turns
neutral records (:mod:`crm_ews.repository`) into whatever the mailbox server
speaks.  :class:`crm_ews.backends.EWSMailboxBackend` fills it with
Exchange Web Services; another backend (Microsoft Graph, a test fake) can
fill it the same way.

Every method takes the target ``mailbox`` and acts as that mailbox (the EWS
backend impersonates it).  Batch methods return one entry per input, in
order, with an exception instance where that item failed, so one bad item
never hides the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from crm_ews.repository import CRMRecord, EntityType

__all__ = [
    "ItemRef",
    "MailboxBackend",
    "MailboxChange",
    "MailboxChangePage",
    "MailboxItem",
]


@dataclass(frozen=True, slots=True)
class ItemRef:
    """An item's identity in the mailbox and its current version.

    ``change_key`` changes on every modification (EWS ChangeKey); writes send
    it so the server refuses to overwrite an edit the engine has not seen.
    """

    item_id: str
    change_key: str

    def __post_init__(self) -> None:
        if not self.item_id or not self.change_key:
            raise ValueError("an ItemRef needs an item_id and a change_key")


@dataclass(frozen=True, slots=True)
class MailboxItem:
    """One item read from a mailbox, already mapped to a neutral record.

    Attributes:
        ref: Identity and version.
        record: The mapped content (``id``/``version`` are ``None``).
        correlation_id: The engine's correlation id stamped on the item when
            the engine created it, else ``None``.
        last_modified: When the server last changed it, for newest-wins.
        is_read_only: A meeting the owner only attends: the CRM may read it
            but never writes it back.
    """

    ref: ItemRef
    record: CRMRecord
    correlation_id: str | None = None
    last_modified: datetime | None = None
    is_read_only: bool = False


@dataclass(frozen=True, slots=True)
class MailboxChange:
    """A change reported by incremental sync: an item upserted or deleted."""

    item_id: str
    item: MailboxItem | None

    @property
    def is_delete(self) -> bool:
        """Whether the item was deleted (then ``item`` is ``None``)."""
        return self.item is None


@dataclass(frozen=True, slots=True)
class MailboxChangePage:
    """One page of incremental changes and the state to resume after it."""

    changes: tuple[MailboxChange, ...]
    sync_state: str
    is_last_page: bool


@runtime_checkable
class MailboxBackend(Protocol):
    """What the engine needs from a mailbox server, per entity.

    Errors are the classes of :mod:`crm_ews.errors`: ``AccessDeniedError``
    and ``MailboxNotFoundError`` for a mailbox the account cannot reach,
    ``EditConflictError`` for a stale change key, ``ItemNotFoundError`` for a
    vanished item, ``InvalidSyncStateError`` for a rejected sync state, and
    ``RetryLaterError``/``TransportError`` for transient trouble.
    """

    async def read_changes(
        self, mailbox: str, entity: EntityType, sync_state: str | None
    ) -> MailboxChangePage:
        """Return the next page of changes after ``sync_state``.

        ``None`` starts over: every item in the folder comes back as an
        upsert.
        """
        ...

    async def get_items(
        self, mailbox: str, entity: EntityType, item_ids: Sequence[str]
    ) -> list[MailboxItem | None]:
        """Read items by id; ``None`` where an item no longer exists."""
        ...

    async def create_items(
        self,
        mailbox: str,
        entity: EntityType,
        records: Sequence[tuple[CRMRecord, str]],
    ) -> list[ItemRef | Exception]:
        """Create items, each stamped with its correlation id.

        Args:
            records: ``(record, correlation_id)`` pairs.
        """
        ...

    async def update_items(
        self,
        mailbox: str,
        entity: EntityType,
        updates: Sequence[tuple[ItemRef, CRMRecord]],
    ) -> list[ItemRef | Exception]:
        """Overwrite the mapped fields of items, refusing stale change keys."""
        ...

    async def delete_items(
        self, mailbox: str, entity: EntityType, refs: Sequence[ItemRef]
    ) -> list[Exception | None]:
        """Delete items (the EWS backend moves them to Deleted Items)."""
        ...

    async def find_by_correlation(
        self, mailbox: str, entity: EntityType, correlation_id: str
    ) -> MailboxItem | None:
        """Find the item the engine created under ``correlation_id``."""
        ...

    async def check_access(self, mailbox: str) -> None:
        """Raise the typed error when the mailbox cannot be reached."""
        ...
