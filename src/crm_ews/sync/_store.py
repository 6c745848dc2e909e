"""What the sync engine remembers between runs, and the store that keeps it.

The engine keeps four kinds of state per mailbox:

- a :class:`Link` for each CRM record paired (or being paired) with an
  Exchange item, with the hashes and versions seen at the last sync;
- checkpoints: the EWS ``SyncState`` per folder and the CRM change cursor
  per entity type;
- an append-only journal of what each run did (:class:`JournalEntry`);
- a lease per mailbox (:class:`Lease`), so one worker at a time syncs it.

:class:`StateStore` is the interface; :class:`MemoryStateStore` and
:class:`SQLiteStateStore` implement it with the same semantics.

Transactions are visible: ``with store.transaction(): ...`` commits every
write inside it together, or none when the block raises. Nested blocks are
savepoints: an exception leaving an inner block undoes only the inner
block's writes (and still propagates). A method called outside any block is
its own transaction. A transaction belongs to the thread that opened it;
other threads using the same store object wait until it ends.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from crm_ews.repository import EntityType

__all__ = [
    "Clock",
    "JournalEntry",
    "Lease",
    "Link",
    "LinkState",
    "StateStore",
    "new_correlation_id",
    "utc_now",
]

#: A function returning the current time as a timezone-aware datetime.
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Return the current time in UTC; the stores' default clock."""
    return datetime.now(UTC)


def new_correlation_id() -> str:
    """Return a fresh random correlation id (a UUID4 string)."""
    return str(uuid.uuid4())


class LinkState(StrEnum):
    """Where a linked pair stands.

    - ``pending_ews_create``: the CRM record exists; creating its Exchange
      item was started (the correlation id is stamped on it) and may or may
      not have happened.
    - ``pending_crm_create``: the Exchange item exists; creating the CRM
      record was started under the correlation id as idempotency key.
    - ``linked``: both sides exist and are paired.
    - ``parked``: syncing the pair failed; it is retried from
      ``next_attempt_at`` (or never, while that is ``None``).
    - ``conflict``: both sides changed and the policy left the pair for a
      person to resolve.
    - ``deleted``: the pair was removed on both sides; the link is kept as
      a tombstone so a late change is not mistaken for a new record.
    - ``pending_crm_delete``: Exchange deleted the item; deleting the CRM
      record waits for the run's mass-deletion guard.
    - ``pending_ews_delete``: the CRM deleted the record; deleting the
      Exchange item waits for the run's mass-deletion guard.
    """

    PENDING_EWS_CREATE = "pending_ews_create"
    PENDING_CRM_CREATE = "pending_crm_create"
    LINKED = "linked"
    PARKED = "parked"
    CONFLICT = "conflict"
    DELETED = "deleted"
    PENDING_CRM_DELETE = "pending_crm_delete"
    PENDING_EWS_DELETE = "pending_ews_delete"


def _require_aware(value: datetime | None, name: str) -> datetime | None:
    """Reject naive datetimes and normalise aware ones to UTC."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        msg = f"{name} must be a datetime, got {type(value).__name__}"
        raise TypeError(msg)
    if value.utcoffset() is None:
        msg = f"{name} must be timezone-aware, got a naive datetime"
        raise ValueError(msg)
    return value.astimezone(UTC)


def _require_text(value: str, name: str) -> None:
    if not isinstance(value, str):
        msg = f"{name} must be a string, got {type(value).__name__}"
        raise TypeError(msg)
    if not value.strip():
        msg = f"{name} must not be empty"
        raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class Link:
    """The remembered pairing of one CRM record and one Exchange item.

    A link is identified by its ``correlation_id``, which exists before
    either side's create is attempted, so a crash between "create sent" and
    "result stored" can be recovered: the engine finds the item (or record)
    carrying the correlation id and completes the link. Within a mailbox and
    entity type, a CRM id and an Exchange item id each belong to at most one
    link. Change a link with :func:`dataclasses.replace` and store it again.

    Args:
        mailbox: The owner's mailbox.
        entity: The entity type.
        state: Where the pair stands.
        correlation_id: The link's identity; a fresh UUID by default.
        crm_id: The CRM record's id; ``None`` while the CRM create is pending.
        crm_version: The CRM version last synced.
        crm_hash: Hash of the CRM record's projection last synced.
        ews_item_id: The Exchange item id; ``None`` while its create is
            pending.
        ews_change_key: The Exchange change key last synced.
        ews_hash: Hash of the Exchange item's mapped projection last synced.
        last_error_code: Short code of the last failure, e.g.
            ``"ErrorItemNotFound"``.
        last_error_text: A short message without secrets or content.
        last_error_at: When the last failure happened.
        retry_count: Failed attempts since the last success.
        next_attempt_at: When a parked link is due again.
        updated_at: When the store last wrote the link; stamped by the
            store, whatever is passed in.
        is_read_only: The Exchange item is a meeting the mailbox owner only
            attends; CRM changes are never written back to it.

    Raises:
        ValueError: For empty identifiers, naive datetimes, a negative retry
            count, a link naming neither side, or a state whose side is
            missing (``linked`` needs both ids, ``pending_ews_create`` the
            CRM id, ``pending_crm_create`` the Exchange id).
    """

    mailbox: str
    entity: EntityType
    state: LinkState
    correlation_id: str = field(default_factory=new_correlation_id)
    crm_id: str | None = None
    crm_version: str | None = None
    crm_hash: str | None = None
    ews_item_id: str | None = None
    ews_change_key: str | None = None
    ews_hash: str | None = None
    last_error_code: str | None = None
    last_error_text: str | None = None
    last_error_at: datetime | None = None
    retry_count: int = 0
    next_attempt_at: datetime | None = None
    updated_at: datetime | None = None
    is_read_only: bool = False

    def __post_init__(self) -> None:
        _require_text(self.mailbox, "mailbox")
        _require_text(self.correlation_id, "correlation_id")
        # Frozen dataclass: normalised values go in through object.__setattr__.
        object.__setattr__(self, "entity", EntityType(self.entity))
        object.__setattr__(self, "state", LinkState(self.state))
        for name in ("last_error_at", "next_attempt_at", "updated_at"):
            object.__setattr__(self, name, _require_aware(getattr(self, name), name))
        for name in ("crm_id", "ews_item_id"):
            value = getattr(self, name)
            if value is not None:
                _require_text(value, name)
        if self.retry_count < 0:
            msg = "retry_count must not be negative"
            raise ValueError(msg)
        self._check_sides()

    def _check_sides(self) -> None:
        if self.crm_id is None and self.ews_item_id is None:
            msg = "a link names at least one side (crm_id or ews_item_id)"
            raise ValueError(msg)
        both = (
            LinkState.LINKED,
            LinkState.PENDING_CRM_DELETE,
            LinkState.PENDING_EWS_DELETE,
        )
        # A pending Exchange delete may have lost its CRM id: a CRM create
        # whose link never recorded the id, deleted in the CRM since.
        needs_crm = self.state in (
            LinkState.LINKED,
            LinkState.PENDING_CRM_DELETE,
            LinkState.PENDING_EWS_CREATE,
        )
        needs_ews = self.state in (*both, LinkState.PENDING_CRM_CREATE)
        if needs_crm and self.crm_id is None:
            msg = f"a {self.state} link needs crm_id"
            raise ValueError(msg)
        if needs_ews and self.ews_item_id is None:
            msg = f"a {self.state} link needs ews_item_id"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One line of the append-only journal: what a run did to one pair.

    Args:
        run_id: The sync run.
        mailbox: The owner's mailbox.
        entity: The entity type.
        action: What was done, e.g. ``"create_ews"`` (the engine's vocabulary).
        reason: Why, e.g. ``"new in CRM"``; may be empty.
        outcome: How it ended, e.g. ``"ok"``, ``"parked"``.
        at: When, timezone-aware.
        crm_id: The CRM id involved, if any.
        ews_item_id: The Exchange item id involved, if any.

    Raises:
        ValueError: For empty run id, mailbox, action or outcome, or a naive
            ``at``.
    """

    run_id: str
    mailbox: str
    entity: EntityType
    action: str
    reason: str
    outcome: str
    at: datetime
    crm_id: str | None = None
    ews_item_id: str | None = None

    def __post_init__(self) -> None:
        for name in ("run_id", "mailbox", "action", "outcome"):
            _require_text(getattr(self, name), name)
        object.__setattr__(self, "entity", EntityType(self.entity))
        object.__setattr__(self, "at", _require_aware(self.at, "at"))


@dataclass(frozen=True, slots=True)
class Lease:
    """Who may sync a mailbox, and until when.

    Args:
        mailbox: The mailbox.
        owner: The holder's name (a worker id).
        expires_at: When the lease lapses unless renewed.
    """

    mailbox: str
    owner: str
    expires_at: datetime


def check_lease_args(mailbox: str, owner: str, ttl_seconds: float) -> None:
    """Validate lease arguments the same way in every store."""
    _require_text(mailbox, "mailbox")
    _require_text(owner, "owner")
    if not ttl_seconds > 0:
        msg = "ttl_seconds must be positive"
        raise ValueError(msg)


def check_key_part(value: str, name: str) -> None:
    """Validate a non-empty string key (mailbox, folder key, id)."""
    _require_text(value, name)


def check_clock_value(value: datetime) -> datetime:
    """Validate what an injected clock returned and normalise it to UTC."""
    checked = _require_aware(value, "clock()")
    if checked is None:
        msg = "the clock returned None"
        raise TypeError(msg)
    return checked


class StateStore(Protocol):
    """The sync engine's durable memory; see the module docs for semantics.

    Every method raises :class:`~crm_ews.errors.StateStoreError` when the
    underlying storage fails, ``ValueError``/``TypeError`` for bad
    arguments, and ``RuntimeError`` once the store is closed.
    """

    def transaction(self) -> AbstractContextManager[None]:
        """Group writes: all commit when the block ends, none if it raises.

        Nested use opens a savepoint. Returns a context manager.

        Raises:
            StateStoreError: When the transaction cannot start or commit
                (for SQLite: the database stayed locked past the busy
                timeout, or the disk failed).
        """
        ...

    def close(self) -> None:
        """Release the store's resources; idempotent."""
        ...

    def put_link(self, link: Link) -> Link:
        """Insert or replace the link with ``link.correlation_id``.

        Args:
            link: The link to store.

        Returns:
            The stored link, with ``updated_at`` stamped from the clock.

        Raises:
            StateStoreError: When another link of the same mailbox and
                entity holds the same ``crm_id`` or ``ews_item_id``.
            ValueError: When the stored link with this correlation id
                belongs to another mailbox or entity type.
        """
        ...

    def delete_link(self, correlation_id: str) -> bool:
        """Forget a link entirely; ``True`` when there was one."""
        ...

    def get_link_by_crm_id(
        self, mailbox: str, entity: EntityType, crm_id: str
    ) -> Link | None:
        """Return the link holding this CRM id, or ``None``."""
        ...

    def get_link_by_ews_id(
        self, mailbox: str, entity: EntityType, ews_item_id: str
    ) -> Link | None:
        """Return the link holding this Exchange item id, or ``None``."""
        ...

    def get_link_by_correlation_id(self, correlation_id: str) -> Link | None:
        """Return the link with this correlation id, or ``None``."""
        ...

    def iter_links(
        self,
        mailbox: str,
        entity: EntityType,
        *,
        states: Collection[LinkState] | None = None,
    ) -> Iterator[Link]:
        """Yield the links of one mailbox and entity type, by correlation id.

        Links are read in batches, so memory stays flat however many there
        are. Writes made while iterating may or may not be seen; a link is
        never yielded twice.

        Args:
            mailbox: The owner's mailbox.
            entity: The entity type.
            states: Only links in these states; all when ``None``.
        """
        ...

    def iter_due_links(
        self,
        *,
        now: datetime | None = None,
        mailbox: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Link]:
        """Yield parked links whose ``next_attempt_at`` has come.

        Args:
            now: The moment to compare with; the store's clock when ``None``.
            mailbox: Only this mailbox's links; every mailbox when ``None``.
            limit: At most this many links.

        Returns:
            Links ordered by ``next_attempt_at``, then correlation id.
        """
        ...

    def count_links(
        self,
        mailbox: str,
        entity: EntityType,
        *,
        states: Collection[LinkState] | None = None,
    ) -> int:
        """Count the links of one mailbox and entity type (optionally by state)."""
        ...

    def get_sync_state(self, mailbox: str, folder_key: str) -> str | None:
        """Return the EWS SyncState checkpointed for a folder, or ``None``."""
        ...

    def set_sync_state(
        self, mailbox: str, folder_key: str, sync_state: str | None
    ) -> None:
        """Checkpoint a folder's EWS SyncState; ``None`` clears it (full resync)."""
        ...

    def get_crm_cursor(self, mailbox: str, entity: EntityType) -> str | None:
        """Return the CRM change cursor checkpointed for an entity, or ``None``."""
        ...

    def set_crm_cursor(
        self, mailbox: str, entity: EntityType, cursor: str | None
    ) -> None:
        """Checkpoint the CRM change cursor; ``None`` clears it (full listing)."""
        ...

    def append_journal(self, entry: JournalEntry) -> None:
        """Append one journal entry. There is no way to change or remove one."""
        ...

    def iter_journal(
        self, *, run_id: str | None = None, mailbox: str | None = None
    ) -> Iterator[JournalEntry]:
        """Yield journal entries in the order they were appended.

        Args:
            run_id: Only this run's entries.
            mailbox: Only this mailbox's entries.
        """
        ...

    def acquire_lease(self, mailbox: str, owner: str, ttl_seconds: float) -> bool:
        """Take the mailbox's lease for ``ttl_seconds``.

        Succeeds when nobody holds it, when the holder's lease expired (a
        takeover), or when ``owner`` already holds it (then it is renewed).

        Returns:
            ``True`` when ``owner`` now holds the lease.
        """
        ...

    def renew_lease(self, mailbox: str, owner: str, ttl_seconds: float) -> bool:
        """Extend ``owner``'s lease to ``ttl_seconds`` from now.

        An expired lease that nobody took over is still ``owner``'s and is
        renewed.

        Returns:
            ``False`` when someone else holds the lease or nobody does (it
            was released); the caller must then stop syncing the mailbox.
        """
        ...

    def release_lease(self, mailbox: str, owner: str) -> bool:
        """Give the lease up; ``False`` when ``owner`` did not hold it."""
        ...

    def get_lease(self, mailbox: str) -> Lease | None:
        """Return the unexpired lease on a mailbox, or ``None``."""
        ...
