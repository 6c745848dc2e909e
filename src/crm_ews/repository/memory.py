"""In-memory CRM repositories: the reference adapter for tests and demos.

Each write takes the next number of a per-repository sequence; a record's
version is the sequence number of its last write, and the change cursor is
the highest sequence number a caller has seen. Deleted records stay behind as
tombstones so a delta can report them.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Generic

from crm_ews.errors import RecordNotFoundError, RecordVersionConflictError
from crm_ews.repository._base import ChangeSet, CRMRepository, R
from crm_ews.repository._checks import (
    FULL_LISTING_PREFIX,
    check_key,
    check_mailbox,
    check_record,
    parse_listing_cursor,
    parse_sequence_cursor,
)
from crm_ews.repository._records import Appointment, Contact, EntityType, Task

__all__ = [
    "InMemoryAppointmentRepository",
    "InMemoryContactRepository",
    "InMemoryRepository",
    "InMemoryTaskRepository",
]

#: Records per page that list_changes returns unless told otherwise.
DEFAULT_PAGE_SIZE = 500


@dataclass(slots=True)
class _Row(Generic[R]):
    record: R
    sequence: int
    is_deleted: bool = False


class InMemoryRepository(CRMRepository[R]):
    """A thread-safe CRM held in a dictionary; use an entity subclass.

    Records live as long as the object. Every method takes one lock, so the
    repository is safe behind :func:`~crm_ews.repository.as_async`.

    Args:
        selector: Optional predicate ``(mailbox, record) -> bool`` that
            :meth:`belongs_to` answers with; by default every record syncs.
        page_size: The most records one :meth:`list_changes` page holds.

    Raises:
        TypeError: When instantiated without an entity subclass.
        ValueError: For a page size below 1.
    """

    # Limitation: tombstones are kept for the repository's lifetime, and each
    # listing scans every row of the mailbox. Fine for tests and demos; a
    # long-lived process with heavy churn grows without bound. Use SQLiteCRM
    # or a real adapter for anything that lives long.

    def __init__(
        self,
        *,
        selector: Callable[[str, R], bool] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        if not isinstance(getattr(type(self), "entity", None), EntityType):
            msg = "instantiate an entity subclass such as InMemoryContactRepository"
            raise TypeError(msg)
        if page_size < 1:
            msg = "page_size must be at least 1"
            raise ValueError(msg)

        self._selector = selector
        self._page_size = page_size
        self._lock = threading.Lock()
        self._rows: dict[tuple[str, str], _Row[R]] = {}
        self._keys: dict[tuple[str, str], str] = {}
        self._sequence = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(records={len(self._rows)})"

    def list_changes(self, mailbox: str, cursor: str | None) -> ChangeSet[R]:
        """Return the next page of changes; see :meth:`CRMRepository.list_changes`."""
        check_mailbox(mailbox)
        if not self.supports_change_tracking:
            return self._full_listing(mailbox, cursor)

        after = parse_sequence_cursor(cursor)
        with self._lock:
            rows = sorted(
                (
                    row
                    for (owner, _), row in self._rows.items()
                    if owner == mailbox
                    and row.sequence > after
                    and not (cursor is None and row.is_deleted)
                ),
                key=lambda row: row.sequence,
            )
            high_water = self._sequence

        page = rows[: self._page_size]
        has_more = len(rows) > len(page)
        # Past the last page the cursor jumps to the repository's high-water
        # mark, so other owners' writes are not rescanned next time.
        next_sequence = page[-1].sequence if has_more else max(high_water, after)

        return ChangeSet(
            changed=tuple(row.record for row in page if not row.is_deleted),
            deleted=tuple(_id(row.record) for row in page if row.is_deleted),
            next_cursor=str(next_sequence),
            has_more=has_more,
        )

    def get(self, mailbox: str, record_id: str) -> R | None:
        """Return the live record or ``None``; see :meth:`CRMRepository.get`."""
        check_mailbox(mailbox)
        with self._lock:
            row = self._rows.get((mailbox, record_id))

        return None if row is None or row.is_deleted else row.record

    def create(self, mailbox: str, record: R, *, idempotency_key: str) -> R:
        """Create at most once per key; see :meth:`CRMRepository.create`."""
        check_mailbox(mailbox)
        check_record(self.entity, record)
        check_key(idempotency_key)
        if record.id is not None:
            msg = "a record to create must not have an id yet"
            raise ValueError(msg)

        with self._lock:
            existing_id = self._keys.get((mailbox, idempotency_key))
            if existing_id is not None:
                row = self._rows[(mailbox, existing_id)]
                if row.is_deleted:
                    msg = "the record created under this idempotency key was deleted"
                    raise RecordNotFoundError(msg, operation="create", mailbox=mailbox)
                return row.record

            sequence = self._next_sequence()
            stored = record.with_identity(uuid.uuid4().hex, str(sequence))
            self._rows[(mailbox, _id(stored))] = _Row(stored, sequence)
            self._keys[(mailbox, idempotency_key)] = _id(stored)

        return stored

    def update(self, mailbox: str, record: R, *, expected_version: str) -> R:
        """Update if unchanged; see :meth:`CRMRepository.update`."""
        check_mailbox(mailbox)
        check_record(self.entity, record)
        if record.id is None:
            msg = "a record to update needs its id"
            raise ValueError(msg)

        with self._lock:
            row = self._live_row(mailbox, record.id, expected_version, "update")
            row.sequence = self._next_sequence()
            row.record = record.with_identity(record.id, str(row.sequence))

            return row.record

    def delete(
        self, mailbox: str, record_id: str, *, expected_version: str | None = None
    ) -> None:
        """Delete a record; see :meth:`CRMRepository.delete`."""
        check_mailbox(mailbox)
        with self._lock:
            row = self._live_row(mailbox, record_id, expected_version, "delete")
            row.sequence = self._next_sequence()
            row.is_deleted = True

    def belongs_to(self, mailbox: str, record: R) -> bool:
        """Answer with the selector given to the constructor, else ``True``."""
        return True if self._selector is None else self._selector(mailbox, record)

    def records(self, mailbox: str) -> list[R]:
        """Return the owner's live records, ordered by id.

        Args:
            mailbox: The owner's mailbox.

        Returns:
            A new list; changing it changes nothing stored.
        """
        with self._lock:
            rows = [
                row
                for (owner, _), row in self._rows.items()
                if owner == mailbox and not row.is_deleted
            ]

        return sorted((row.record for row in rows), key=_id)

    def _full_listing(self, mailbox: str, cursor: str | None) -> ChangeSet[R]:
        after = parse_listing_cursor(cursor)
        live = self.records(mailbox)
        if after is not None:
            live = [record for record in live if _id(record) > after]

        page = live[: self._page_size]
        has_more = len(live) > len(page)

        return ChangeSet(
            changed=tuple(page),
            next_cursor=f"{FULL_LISTING_PREFIX}{_id(page[-1])}" if has_more else None,
            is_full_listing=True,
            has_more=has_more,
        )

    def _live_row(
        self, mailbox: str, record_id: str, expected_version: str | None, step: str
    ) -> _Row[R]:
        """Find a live row and check its version; the caller holds the lock."""
        row = self._rows.get((mailbox, record_id))
        if row is None or row.is_deleted:
            msg = "no such record"
            raise RecordNotFoundError(msg, operation=step, mailbox=mailbox)

        current = row.record.version
        if expected_version is not None and current != expected_version:
            msg = "the record changed since it was read"
            raise RecordVersionConflictError(
                msg, current_version=current, operation=step, mailbox=mailbox
            )

        return row

    def _next_sequence(self) -> int:
        self._sequence += 1
        return self._sequence


def _id(record: R) -> str:
    """Return a stored record's id, which storing always sets."""
    return record.id or ""


class InMemoryAppointmentRepository(InMemoryRepository[Appointment]):
    """In-memory appointments; see :class:`InMemoryRepository`."""

    entity: ClassVar[EntityType] = EntityType.APPOINTMENT


class InMemoryContactRepository(InMemoryRepository[Contact]):
    """In-memory contacts; see :class:`InMemoryRepository`."""

    entity: ClassVar[EntityType] = EntityType.CONTACT


class InMemoryTaskRepository(InMemoryRepository[Task]):
    """In-memory tasks; see :class:`InMemoryRepository`."""

    entity: ClassVar[EntityType] = EntityType.TASK
