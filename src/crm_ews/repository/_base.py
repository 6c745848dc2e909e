"""The CRM repository interface that backend adapters implement.

A repository gives the sync engine one entity type (appointments, contacts or
tasks) of one CRM, scoped per mailbox owner. It speaks neutral records only;
turning them into Exchange items is the engine's field mapping, so an adapter
never sees EWS.

Two flavours exist: :class:`CRMRepository` with plain methods and
:class:`AsyncCRMRepository` with coroutines. The engine runs on the async
one; :func:`as_async` lifts a plain repository into it by running each call
in a worker thread.

Errors an adapter raises (all from :mod:`crm_ews.errors`):

- :class:`~crm_ews.errors.RecordNotFoundError`: the record does not exist.
- :class:`~crm_ews.errors.RecordVersionConflictError`: the record changed
  since the version the caller based its write on.
- :class:`~crm_ews.errors.RepositoryError` for anything else, with
  ``is_transient=True`` when retrying later may help (a timeout, a lock); an
  adapter wraps its driver's exceptions into it with ``raise ... from exc``.
"""

from __future__ import annotations

import asyncio
import functools
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar, cast

from crm_ews.repository._records import CRMRecord, EntityType

__all__ = [
    "AsyncCRMRepository",
    "CRMRepository",
    "ChangeSet",
    "as_async",
]

R = TypeVar("R", bound=CRMRecord)


@dataclass(frozen=True, slots=True)
class ChangeSet(Generic[R]):
    """One page of CRM changes for a mailbox.

    With change tracking, a page holds what changed after the cursor it was
    asked for: each record created or updated since then once, in its latest
    state, and the id of each record deleted since then once. Without change
    tracking (``is_full_listing``), a page holds live records only and
    ``deleted`` is empty: the engine collects every page of the listing and
    treats a linked CRM id that no page mentions as deleted.

    Args:
        changed: Records created or updated, each with ``id`` and ``version``.
        deleted: Ids of records deleted (or hidden by a soft delete).
        next_cursor: The cursor for the next call. While ``has_more`` it
            continues this listing; on the last page it is where the next run
            starts (``None`` for adapters without change tracking, which
            always list everything). The engine saves it only after applying
            the page.
        is_full_listing: Whether the page is part of a full listing rather
            than a delta. Change-tracking adapters may also answer with a full
            listing, for example when a cursor is older than the tombstones
            they keep.
        has_more: Whether another page follows; call again with
            ``next_cursor``.

    Raises:
        ValueError: For a record without id or version, an id listed twice,
            or deletions inside a full listing.
    """

    changed: tuple[R, ...] = ()
    deleted: tuple[str, ...] = ()
    next_cursor: str | None = None
    is_full_listing: bool = False
    has_more: bool = False

    def __post_init__(self) -> None:
        ids = [record.id for record in self.changed]
        if any(not record.id or not record.version for record in self.changed):
            msg = "every changed record needs an id and a version"
            raise ValueError(msg)
        if len(set(ids)) != len(ids) or len(set(self.deleted)) != len(self.deleted):
            msg = "a change set lists each id once"
            raise ValueError(msg)
        if set(ids) & set(self.deleted):
            msg = "an id is either changed or deleted, not both"
            raise ValueError(msg)
        if self.is_full_listing and self.deleted:
            msg = "a full listing carries no deletions; the engine infers them"
            raise ValueError(msg)
        if self.has_more and self.next_cursor is None:
            msg = "has_more needs a next_cursor to continue from"
            raise ValueError(msg)


class CRMRepository(ABC, Generic[R]):
    """One entity type of a CRM, for the sync engine; subclass it per entity.

    Every method takes the owner's ``mailbox`` (the SMTP address the engine
    syncs, compared exactly as given) and only ever sees that owner's records:
    ``get`` of another owner's record returns ``None``.

    Implementations must be safe to call from several threads at once when
    used through :func:`as_async`, which runs calls in worker threads.

    Class attributes:
        entity: The entity type this repository holds.
        supports_change_tracking: ``True`` when :meth:`list_changes` returns
            deltas after a cursor; ``False`` when it can only list everything
            (then every page is a full listing).

    The engine's field mapping sits between this interface and Exchange:
    adapters produce and accept neutral records and carry CRM-only fields in
    ``record.extra``.
    """

    entity: ClassVar[EntityType]
    supports_change_tracking: ClassVar[bool] = True

    @abstractmethod
    def list_changes(self, mailbox: str, cursor: str | None) -> ChangeSet[R]:
        """Return the next page of changes after ``cursor``.

        Args:
            mailbox: The owner's mailbox.
            cursor: ``None`` for a first listing of all live records, or a
                ``next_cursor`` an earlier page returned.

        Returns:
            A :class:`ChangeSet`. Every record is returned whether or not
            :meth:`belongs_to` accepts it, so the engine sees records leave
            the selection.

        Raises:
            ValueError: For a cursor this repository never issued.
            RepositoryError: When the CRM cannot be read.
        """

    @abstractmethod
    def get(self, mailbox: str, record_id: str) -> R | None:
        """Return the live record with this id, or ``None``.

        Args:
            mailbox: The owner's mailbox.
            record_id: The CRM id.

        Returns:
            The record with ``id`` and ``version`` set, or ``None`` when it
            does not exist, was deleted, or belongs to another owner.

        Raises:
            RepositoryError: When the CRM cannot be read.
        """

    @abstractmethod
    def create(self, mailbox: str, record: R, *, idempotency_key: str) -> R:
        """Create a record, at most once per idempotency key.

        The engine passes the link's correlation id as the key, so a create
        repeated after a crash finds the record the first attempt made. A
        second call with the same mailbox and key returns that record (in its
        current state) and ignores the new content.

        Args:
            mailbox: The owner's mailbox.
            record: The record to store; its ``id`` and ``version`` must be
                ``None``.
            idempotency_key: A non-empty key unique per intended record.

        Returns:
            The stored record with ``id`` and ``version`` set.

        Raises:
            ValueError: For a record that already has an id, or an empty key.
            TypeError: For a record of another entity type.
            RecordNotFoundError: When the record made under this key was
                deleted since; the key is never reused for a new record.
            RepositoryError: When the CRM refuses or fails.
        """

    @abstractmethod
    def update(self, mailbox: str, record: R, *, expected_version: str) -> R:
        """Replace a record's fields if nobody changed it meanwhile.

        Args:
            mailbox: The owner's mailbox.
            record: The new content; ``record.id`` names the record, its
                ``version`` is ignored.
            expected_version: The version the change was based on.

        Returns:
            The stored record with its new ``version``.

        Raises:
            ValueError: For a record without id.
            TypeError: For a record of another entity type.
            RecordNotFoundError: When the record does not exist (any more).
            RecordVersionConflictError: When its version is no longer
                ``expected_version``; nothing was written.
            RepositoryError: When the CRM refuses or fails.
        """

    @abstractmethod
    def delete(
        self, mailbox: str, record_id: str, *, expected_version: str | None = None
    ) -> None:
        """Delete a record.

        Whether the CRM erases the row or only marks it (a soft delete) is
        the adapter's business; afterwards :meth:`get` returns ``None`` and
        :meth:`list_changes` reports the id as deleted once.

        Args:
            mailbox: The owner's mailbox.
            record_id: The CRM id.
            expected_version: When given, delete only if the record still has
                this version.

        Raises:
            RecordNotFoundError: When the record does not exist (any more);
                the engine treats that as already done.
            RecordVersionConflictError: When ``expected_version`` is stale;
                nothing was deleted.
            RepositoryError: When the CRM refuses or fails.
        """

    def belongs_to(self, mailbox: str, record: R) -> bool:
        """Tell whether a record is in this owner's sync selection.

        The default accepts every record. Override it to sync a subset, for
        example only contacts flagged for Outlook. The engine calls it for
        each listed record; one that stops belonging is treated as having
        left the sync. It must be cheap and free of I/O: it decides from the
        record alone.

        Args:
            mailbox: The owner's mailbox.
            record: A record this repository returned.

        Returns:
            ``True`` when the record syncs.
        """
        return True


class AsyncCRMRepository(ABC, Generic[R]):
    """The coroutine flavour of :class:`CRMRepository`, for async CRM clients.

    Each method means exactly what its :class:`CRMRepository` namesake means
    and raises the same errors. :meth:`belongs_to` stays a plain method: it
    decides from the record alone.
    """

    entity: ClassVar[EntityType]
    supports_change_tracking: ClassVar[bool] = True

    @abstractmethod
    async def list_changes(self, mailbox: str, cursor: str | None) -> ChangeSet[R]:
        """Return the next page of changes; see :meth:`CRMRepository.list_changes`."""

    @abstractmethod
    async def get(self, mailbox: str, record_id: str) -> R | None:
        """Return the live record or ``None``; see :meth:`CRMRepository.get`."""

    @abstractmethod
    async def create(self, mailbox: str, record: R, *, idempotency_key: str) -> R:
        """Create at most once per key; see :meth:`CRMRepository.create`."""

    @abstractmethod
    async def update(self, mailbox: str, record: R, *, expected_version: str) -> R:
        """Update if unchanged; see :meth:`CRMRepository.update`."""

    @abstractmethod
    async def delete(
        self, mailbox: str, record_id: str, *, expected_version: str | None = None
    ) -> None:
        """Delete a record; see :meth:`CRMRepository.delete`."""

    def belongs_to(self, mailbox: str, record: R) -> bool:
        """Tell whether a record syncs; see :meth:`CRMRepository.belongs_to`."""
        return True


class _ThreadedRepository(AsyncCRMRepository[R]):
    """Runs a plain repository's calls in worker threads."""

    def __init__(self, wrapped: CRMRepository[R]) -> None:
        self.wrapped = wrapped

    def __repr__(self) -> str:
        return f"as_async({self.wrapped!r})"

    async def list_changes(self, mailbox: str, cursor: str | None) -> ChangeSet[R]:
        return await asyncio.to_thread(self.wrapped.list_changes, mailbox, cursor)

    async def get(self, mailbox: str, record_id: str) -> R | None:
        return await asyncio.to_thread(self.wrapped.get, mailbox, record_id)

    async def create(self, mailbox: str, record: R, *, idempotency_key: str) -> R:
        return await asyncio.to_thread(
            functools.partial(
                self.wrapped.create, mailbox, record, idempotency_key=idempotency_key
            )
        )

    async def update(self, mailbox: str, record: R, *, expected_version: str) -> R:
        return await asyncio.to_thread(
            functools.partial(
                self.wrapped.update, mailbox, record, expected_version=expected_version
            )
        )

    async def delete(
        self, mailbox: str, record_id: str, *, expected_version: str | None = None
    ) -> None:
        await asyncio.to_thread(
            functools.partial(
                self.wrapped.delete,
                mailbox,
                record_id,
                expected_version=expected_version,
            )
        )

    def belongs_to(self, mailbox: str, record: R) -> bool:
        return self.wrapped.belongs_to(mailbox, record)


@functools.cache
def _threaded_class(
    entity: EntityType, supports_change_tracking: bool
) -> type[_ThreadedRepository[CRMRecord]]:
    # The class attributes are ClassVars by contract, so each combination gets
    # its own small subclass instead of instance attributes shadowing them.
    namespace = {
        "entity": entity,
        "supports_change_tracking": supports_change_tracking,
        "__module__": __name__,
    }
    name = f"Threaded{entity.value.title()}Repository"

    return cast(
        "type[_ThreadedRepository[CRMRecord]]",
        type(name, (_ThreadedRepository,), namespace),
    )


def as_async(
    repository: CRMRepository[R] | AsyncCRMRepository[R],
) -> AsyncCRMRepository[R]:
    """Give a repository the async interface the engine uses.

    A plain :class:`CRMRepository` is wrapped so that each call runs in a
    worker thread (``asyncio.to_thread``), keeping the event loop free while
    the CRM works; it must therefore be thread-safe. An
    :class:`AsyncCRMRepository` is returned unchanged.

    Args:
        repository: A plain or async repository.

    Returns:
        An :class:`AsyncCRMRepository` with the same ``entity``,
        ``supports_change_tracking`` and :meth:`~CRMRepository.belongs_to`.

    Raises:
        TypeError: For anything that is neither.
    """
    if isinstance(repository, AsyncCRMRepository):
        return repository
    if not isinstance(repository, CRMRepository):
        msg = f"expected a CRMRepository, got {type(repository).__name__}"
        raise TypeError(msg)

    cls = _threaded_class(repository.entity, repository.supports_change_tracking)

    return cast(
        "AsyncCRMRepository[R]", cls(cast("CRMRepository[CRMRecord]", repository))
    )
