"""An in-memory mailbox backend: the engine's interface without any server.

It keeps items per mailbox and entity with change keys and a change log, so
incremental sync, edit conflicts and correlation-id searches behave as they
do against Exchange.  Tests of the engine and of CRM adapters use it where
SOAP would only add time; the Exchange simulator in :mod:`crm_ews.testing`
covers the wire.
"""

from __future__ import annotations

import base64
import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from crm_ews.errors import (
    EditConflictError,
    InvalidSyncStateError,
    ItemNotFoundError,
    MailboxNotFoundError,
)
from crm_ews.repository import CRMRecord, EntityType
from crm_ews.sync._backend import ItemRef, MailboxChange, MailboxChangePage, MailboxItem
from crm_ews.sync._store import Clock, utc_now

__all__ = ["InMemoryMailboxBackend"]

#: Called before each backend call with (operation, mailbox); raise to fail it.
FaultHook = Callable[[str, str], None]


@dataclass(slots=True)
class _Stored:
    record: CRMRecord
    change_key: str
    correlation_id: str | None
    last_modified: datetime
    is_read_only: bool


@dataclass(slots=True)
class _Folder:
    items: dict[str, _Stored] = field(default_factory=dict)
    # (sequence, item_id): the last change of each item, in order.
    log: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    sequence: int = 0


class InMemoryMailboxBackend:
    """A :class:`~crm_ews.sync.MailboxBackend` that keeps items in memory.

    Args:
        mailboxes: Mailboxes that exist; others raise ``MailboxNotFoundError``.
        page_size: Changes per ``read_changes`` page.
        clock: Time source for ``last_modified``.
        fault: Optional hook called before every call, to inject failures.
    """

    def __init__(
        self,
        mailboxes: Sequence[str],
        *,
        page_size: int = 100,
        clock: Clock = utc_now,
        fault: FaultHook | None = None,
    ) -> None:
        if not 1 <= page_size <= 512:
            raise ValueError("page_size must be between 1 and 512")
        self._folders: dict[tuple[str, EntityType], _Folder] = {}
        self._mailboxes = {mailbox.casefold() for mailbox in mailboxes}
        self._page_size = page_size
        self._clock = clock
        self.fault = fault
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.calls: list[tuple[str, str]] = []

    # -- helpers for tests -------------------------------------------------

    def items(self, mailbox: str, entity: EntityType) -> dict[str, CRMRecord]:
        """The records currently in a folder, by item id."""
        folder = self._folder(mailbox, entity)
        return {item_id: stored.record for item_id, stored in folder.items.items()}

    def put(
        self,
        mailbox: str,
        record: CRMRecord,
        *,
        item_id: str | None = None,
        is_read_only: bool = False,
        correlation_id: str | None = None,
    ) -> ItemRef:
        """Create or replace an item as a mailbox user would.

        ``correlation_id`` stamps the engine's property on it, as an item the
        engine created (or one restored from Deleted Items) carries.
        """
        with self._lock:
            folder = self._folder(mailbox, record.entity)
            item_id = item_id or self._new_id()
            old = folder.items.get(item_id)
            stored = _Stored(
                record=record.model_copy(update={"id": None, "version": None}),
                change_key=self._new_key(),
                correlation_id=correlation_id or (old.correlation_id if old else None),
                last_modified=self._clock(),
                is_read_only=is_read_only,
            )
            folder.items[item_id] = stored
            self._touch(folder, item_id)
            return ItemRef(item_id, stored.change_key)

    def remove(self, mailbox: str, entity: EntityType, item_id: str) -> None:
        """Delete an item as a mailbox user would."""
        with self._lock:
            folder = self._folder(mailbox, entity)
            del folder.items[item_id]
            self._forget(folder, item_id)

    # -- MailboxBackend ----------------------------------------------------

    async def read_changes(
        self, mailbox: str, entity: EntityType, sync_state: str | None
    ) -> MailboxChangePage:
        """See :meth:`MailboxBackend.read_changes`."""
        self._call("SyncFolderItems", mailbox)
        with self._lock:
            folder = self._folder(mailbox, entity)
            since = self._decode_state(sync_state, mailbox, entity)
            events = sorted(
                [
                    (seq, item_id, False)
                    for item_id, seq in folder.log.items()
                    if seq > since
                ]
                + [
                    (seq, item_id, True)
                    for item_id, seq in folder.deleted.items()
                    if seq > since
                ]
            )
            page = events[: self._page_size]
            changes = []
            for _, item_id, is_delete in page:
                if is_delete:
                    changes.append(MailboxChange(item_id=item_id, item=None))
                else:
                    changes.append(
                        MailboxChange(item_id=item_id, item=self._item(item_id, folder))
                    )
            last = page[-1][0] if page else since
            if not page:
                last = (
                    max(since, folder.sequence)
                    if sync_state is not None
                    else folder.sequence
                )
            return MailboxChangePage(
                changes=tuple(changes),
                sync_state=self._encode_state(mailbox, entity, last),
                is_last_page=len(events) <= self._page_size,
            )

    async def get_items(
        self, mailbox: str, entity: EntityType, item_ids: Sequence[str]
    ) -> list[MailboxItem | None]:
        """See :meth:`MailboxBackend.get_items`."""
        self._call("GetItem", mailbox)
        with self._lock:
            folder = self._folder(mailbox, entity)
            return [
                self._item(item_id, folder) if item_id in folder.items else None
                for item_id in item_ids
            ]

    async def create_items(
        self,
        mailbox: str,
        entity: EntityType,
        records: Sequence[tuple[CRMRecord, str]],
    ) -> list[ItemRef | Exception]:
        """See :meth:`MailboxBackend.create_items`."""
        self._call("CreateItem", mailbox)
        results: list[ItemRef | Exception] = []
        with self._lock:
            folder = self._folder(mailbox, entity)
            for record, correlation_id in records:
                item_id = self._new_id()
                folder.items[item_id] = _Stored(
                    record=record.model_copy(update={"id": None, "version": None}),
                    change_key=self._new_key(),
                    correlation_id=correlation_id,
                    last_modified=self._clock(),
                    is_read_only=False,
                )
                self._touch(folder, item_id)
                results.append(ItemRef(item_id, folder.items[item_id].change_key))
        self._after("CreateItem", mailbox)
        return results

    async def update_items(
        self,
        mailbox: str,
        entity: EntityType,
        updates: Sequence[tuple[ItemRef, CRMRecord]],
    ) -> list[ItemRef | Exception]:
        """See :meth:`MailboxBackend.update_items`."""
        self._call("UpdateItem", mailbox)
        results: list[ItemRef | Exception] = []
        with self._lock:
            folder = self._folder(mailbox, entity)
            for ref, record in updates:
                stored = folder.items.get(ref.item_id)
                if stored is None:
                    results.append(
                        ItemNotFoundError(
                            "item not found", response_code="ErrorItemNotFound"
                        )
                    )
                    continue
                if stored.change_key != ref.change_key:
                    results.append(
                        EditConflictError(
                            "stale change key",
                            response_code="ErrorIrresolvableConflict",
                        )
                    )
                    continue
                stored.record = record.model_copy(update={"id": None, "version": None})
                stored.change_key = self._new_key()
                stored.last_modified = self._clock()
                self._touch(folder, ref.item_id)
                results.append(ItemRef(ref.item_id, stored.change_key))
        self._after("UpdateItem", mailbox)
        return results

    async def delete_items(
        self, mailbox: str, entity: EntityType, refs: Sequence[ItemRef]
    ) -> list[Exception | None]:
        """See :meth:`MailboxBackend.delete_items`."""
        self._call("DeleteItem", mailbox)
        results: list[Exception | None] = []
        with self._lock:
            folder = self._folder(mailbox, entity)
            for ref in refs:
                if ref.item_id not in folder.items:
                    results.append(
                        ItemNotFoundError(
                            "item not found", response_code="ErrorItemNotFound"
                        )
                    )
                    continue
                del folder.items[ref.item_id]
                self._forget(folder, ref.item_id)
                results.append(None)
        self._after("DeleteItem", mailbox)
        return results

    async def find_by_correlation(
        self, mailbox: str, entity: EntityType, correlation_id: str
    ) -> MailboxItem | None:
        """See :meth:`MailboxBackend.find_by_correlation`."""
        self._call("FindItem", mailbox)
        with self._lock:
            folder = self._folder(mailbox, entity)
            for item_id, stored in folder.items.items():
                if stored.correlation_id == correlation_id:
                    return self._item(item_id, folder)
        return None

    async def check_access(self, mailbox: str) -> None:
        """See :meth:`MailboxBackend.check_access`."""
        self._call("GetFolder", mailbox)

    # -- internals ---------------------------------------------------------

    def _call(self, operation: str, mailbox: str) -> None:
        self.calls.append((operation, mailbox))
        if mailbox.casefold() not in self._mailboxes:
            raise MailboxNotFoundError(
                "mailbox does not exist",
                response_code="ErrorNonExistentMailbox",
                operation=operation,
                mailbox=mailbox,
            )
        if self.fault is not None:
            self.fault(operation, mailbox)

    def _after(self, operation: str, mailbox: str) -> None:
        """Give the fault hook a second chance: after the write committed."""
        if self.fault is not None:
            self.fault(f"{operation}:committed", mailbox)

    def _folder(self, mailbox: str, entity: EntityType) -> _Folder:
        key = (mailbox.casefold(), EntityType(entity))
        folder = self._folders.get(key)
        if folder is None:
            folder = self._folders[key] = _Folder()
        return folder

    def _item(self, item_id: str, folder: _Folder) -> MailboxItem:
        stored = folder.items[item_id]
        return MailboxItem(
            ref=ItemRef(item_id, stored.change_key),
            record=stored.record,
            correlation_id=stored.correlation_id,
            last_modified=stored.last_modified,
            is_read_only=stored.is_read_only,
        )

    def _touch(self, folder: _Folder, item_id: str) -> None:
        folder.sequence += 1
        folder.log[item_id] = folder.sequence
        folder.deleted.pop(item_id, None)

    def _forget(self, folder: _Folder, item_id: str) -> None:
        folder.sequence += 1
        folder.log.pop(item_id, None)
        folder.deleted[item_id] = folder.sequence

    def _new_id(self) -> str:
        return f"item-{next(self._ids):08d}"

    def _new_key(self) -> str:
        return f"ck-{next(self._ids):08d}"

    @staticmethod
    def _encode_state(mailbox: str, entity: EntityType, sequence: int) -> str:
        raw = f"{mailbox.casefold()}|{entity.value}|{sequence}".encode()
        return base64.urlsafe_b64encode(raw).decode("ascii")

    @staticmethod
    def _decode_state(state: str | None, mailbox: str, entity: EntityType) -> int:
        if state is None:
            return 0
        try:
            owner, kind, sequence = base64.urlsafe_b64decode(state).decode().split("|")
            if owner != mailbox.casefold() or kind != entity.value:
                raise ValueError("state of another folder")
            return int(sequence)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidSyncStateError(
                "sync state is not valid for this folder",
                response_code="ErrorInvalidSyncStateData",
                mailbox=mailbox,
            ) from exc
