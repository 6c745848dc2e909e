"""The Exchange Web Services implementation of the engine's MailboxBackend.

Each entity lives in the mailbox's distinguished folder (calendar, contacts,
tasks).  Reads use SyncFolderItems with an explicit per-entity shape plus the
crm_ews extended properties; writes use batched CreateItem, UpdateItem
(``NeverOverwrite`` with the change key) and DeleteItem (to Deleted Items).
Every call impersonates the target mailbox.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Final

from crm_ews.backends._mapping import EntityMapping, default_mappings
from crm_ews.errors import EWSError, ItemNotFoundError
from crm_ews.ews import (
    AsyncEWSClient,
    CalendarItem,
    DistinguishedFolderId,
    DistinguishedFolderName,
    IsEqualTo,
    Item,
    ItemChange,
    ItemCreated,
    ItemDeleted,
    ItemId,
    ItemUpdated,
    SendMeetingInvitations,
)
from crm_ews.repository import CRMRecord, EntityType
from crm_ews.sync import ItemRef, MailboxChange, MailboxChangePage, MailboxItem

__all__ = ["EWSMailboxBackend"]

logger = logging.getLogger(__name__)

_FOLDERS: Final = {
    EntityType.APPOINTMENT: DistinguishedFolderName.CALENDAR,
    EntityType.CONTACT: DistinguishedFolderName.CONTACTS,
    EntityType.TASK: DistinguishedFolderName.TASKS,
}

#: How many per-mailbox semaphores are kept before the oldest are dropped.
_MAX_TRACKED_MAILBOXES: Final = 4096


class EWSMailboxBackend:
    """Mailbox access over EWS for :class:`~crm_ews.sync.SyncEngine`.

    Args:
        client: An open :class:`~crm_ews.ews.AsyncEWSClient` for the service
            account; the backend does not close it.
        mappings: Per-entity field mappings; the defaults of
            :func:`~crm_ews.backends.default_mappings` when ``None``.
        page_size: Changes per SyncFolderItems page (1..512).
        per_mailbox_limit: Concurrent calls allowed against one mailbox.
            Exchange budgets concurrency per target mailbox, so a low value
            keeps one busy mailbox from being throttled.
    """

    def __init__(
        self,
        client: AsyncEWSClient,
        *,
        mappings: Mapping[EntityType, EntityMapping] | None = None,
        page_size: int = 512,
        per_mailbox_limit: int = 4,
    ) -> None:
        if not 1 <= page_size <= 512:
            raise ValueError("page_size must be between 1 and 512")
        if per_mailbox_limit < 1:
            raise ValueError("per_mailbox_limit must be at least 1")
        self._client = client
        self._mappings = dict(mappings) if mappings is not None else default_mappings()
        self._page_size = page_size
        self._per_mailbox_limit = per_mailbox_limit
        self._limits: OrderedDict[str, asyncio.Semaphore] = OrderedDict()

    def mapping(self, entity: EntityType) -> EntityMapping:
        """The field mapping used for an entity."""
        return self._mappings[entity]

    # -- MailboxBackend ----------------------------------------------------

    async def read_changes(
        self, mailbox: str, entity: EntityType, sync_state: str | None
    ) -> MailboxChangePage:
        """One SyncFolderItems page, mapped to neutral records."""
        mapping = self._mappings[entity]
        async with self._limit(mailbox):
            page = await self._client.sync_folder_items(
                self._folder(entity),
                mapping.item_type,
                sync_state=sync_state,
                max_changes_returned=self._page_size,
                extended_properties=mapping.extended_keys,
                mailbox=mailbox,
            )

        changes: list[MailboxChange] = []
        for change in page.changes:
            if isinstance(change, ItemCreated | ItemUpdated):
                item = self._to_mailbox_item(mapping, change.item, mailbox)
                if item is not None:
                    changes.append(MailboxChange(item_id=item.ref.item_id, item=item))
            elif isinstance(change, ItemDeleted):
                changes.append(MailboxChange(item_id=change.item_id.id, item=None))
        return MailboxChangePage(
            changes=tuple(changes),
            sync_state=page.sync_state,
            is_last_page=page.includes_last_item_in_range,
        )

    async def get_items(
        self, mailbox: str, entity: EntityType, item_ids: Sequence[str]
    ) -> list[MailboxItem | None]:
        """Read items by id; ``None`` where one no longer exists."""
        if not item_ids:
            return []
        mapping = self._mappings[entity]
        async with self._limit(mailbox):
            results = await self._client.get_items(
                [ItemId(id=item_id) for item_id in item_ids],
                mapping.item_type,
                extended_properties=mapping.extended_keys,
                mailbox=mailbox,
            )
        items: list[MailboxItem | None] = []
        for result in results:
            if isinstance(result, ItemNotFoundError):
                items.append(None)
            elif isinstance(result, EWSError):
                raise result
            else:
                items.append(self._to_mailbox_item(mapping, result, mailbox))
        return items

    async def create_items(
        self,
        mailbox: str,
        entity: EntityType,
        records: Sequence[tuple[CRMRecord, str]],
    ) -> list[ItemRef | Exception]:
        """CreateItem in the entity's folder, each stamped with its correlation id."""
        if not records:
            return []
        mapping = self._mappings[entity]
        items = [
            mapping.to_item(record, correlation_id=correlation_id)
            for record, correlation_id in records
        ]
        async with self._limit(mailbox):
            results = await self._client.create_items(
                items,
                saved_item_folder_id=self._folder(entity),
                send_meeting_invitations=SendMeetingInvitations.SEND_TO_NONE,
                mailbox=mailbox,
            )
        return [self._ref_or_error(result) for result in results]

    async def update_items(
        self,
        mailbox: str,
        entity: EntityType,
        updates: Sequence[tuple[ItemRef, CRMRecord]],
    ) -> list[ItemRef | Exception]:
        """UpdateItem with NeverOverwrite: a stale change key is refused."""
        if not updates:
            return []
        mapping = self._mappings[entity]
        changes = [
            ItemChange(
                item_id=ItemId(id=ref.item_id, change_key=ref.change_key),
                item_type=mapping.item_type,
                updates=self._updates(mapping, record),
                extended_properties=mapping.extra_properties(record),
            )
            for ref, record in updates
        ]
        async with self._limit(mailbox):
            results = await self._client.update_items(changes, mailbox=mailbox)
        return [self._ref_or_error(result) for result in results]

    async def delete_items(
        self, mailbox: str, entity: EntityType, refs: Sequence[ItemRef]
    ) -> list[Exception | None]:
        """DeleteItem, moving the items to Deleted Items."""
        if not refs:
            return []
        async with self._limit(mailbox):
            results = await self._client.delete_items(
                [ItemId(id=ref.item_id, change_key=ref.change_key) for ref in refs],
                mailbox=mailbox,
            )
        return list(results)

    async def find_by_correlation(
        self, mailbox: str, entity: EntityType, correlation_id: str
    ) -> MailboxItem | None:
        """FindItem restricted to the correlation property, then GetItem."""
        mapping = self._mappings[entity]
        key = mapping.extended_keys[0]
        async with self._limit(mailbox):
            found = await self._client.find_items(
                self._folder(entity),
                mapping.item_type,
                restriction=IsEqualTo(key, correlation_id),
                extended_properties=(key,),
                mailbox=mailbox,
            )
        ids = [item.item_id.id for item in found if item.item_id is not None]
        if not ids:
            return None
        if len(ids) > 1:
            logger.warning(
                "correlation id found on several items",
                extra={
                    "mailbox": mailbox,
                    "operation": "FindItem",
                    "item_ref": correlation_id,
                },
            )
        [item] = await self.get_items(mailbox, entity, ids[:1])
        return item

    async def check_access(self, mailbox: str) -> None:
        """GetFolder on the mailbox root; raises the typed error when refused."""
        async with self._limit(mailbox):
            await self._client.get_folder(
                DistinguishedFolderId(id=DistinguishedFolderName.MSGFOLDERROOT),
                mailbox=mailbox,
            )

    # -- internals ---------------------------------------------------------

    def _limit(self, mailbox: str) -> asyncio.Semaphore:
        key = mailbox.casefold()
        semaphore = self._limits.get(key)
        if semaphore is None:
            semaphore = self._limits[key] = asyncio.Semaphore(self._per_mailbox_limit)
            while len(self._limits) > _MAX_TRACKED_MAILBOXES:
                self._limits.popitem(last=False)
        else:
            self._limits.move_to_end(key)
        return semaphore

    @staticmethod
    def _folder(entity: EntityType) -> DistinguishedFolderId:
        return DistinguishedFolderId(id=_FOLDERS[entity])

    @staticmethod
    def _updates(mapping: EntityMapping, record: CRMRecord) -> dict[str, Any]:
        values = mapping.to_ews_values(record)
        # Empty collections clear the field, like None does.
        return {name: values.get(name) for name in mapping.ews_fields}

    @staticmethod
    def _ref_or_error(result: ItemId | EWSError) -> ItemRef | Exception:
        if isinstance(result, EWSError):
            return result
        if not result.change_key:
            return ItemNotFoundError(
                "server returned an item id without a change key",
                response_code="ErrorItemNotFound",
            )
        return ItemRef(result.id, result.change_key)

    def _to_mailbox_item(
        self, mapping: EntityMapping, item: Item, mailbox: str
    ) -> MailboxItem | None:
        if item.item_id is None or not item.item_id.change_key:
            return None
        record = mapping.to_record(item)
        read_only = False
        if isinstance(item, CalendarItem) and item.is_meeting and item.organizer:
            organizer = item.organizer.email_address.casefold()
            read_only = bool(organizer) and organizer != mailbox.casefold()
        return MailboxItem(
            ref=ItemRef(item.item_id.id, item.item_id.change_key),
            record=record,
            correlation_id=mapping.correlation_id(item),
            last_modified=item.last_modified_time,
            is_read_only=read_only,
        )
