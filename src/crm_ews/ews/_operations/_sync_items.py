"""``SyncFolderItems``: what changed in one folder since a sync state.

Each page carries the server's changes in order and a new sync state.  The
caller applies the changes and then stores that state, page by page, so a
crash costs at most one page of repeated work.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Final, Generic, TypeVar

from lxml import etree

from crm_ews._soap import DecodedResponse, m, t
from crm_ews.ews._models._extended import ExtendedPropertyKey
from crm_ews.ews._models._ids import DistinguishedFolderId, FolderId, ItemId
from crm_ews.ews._models._item import Item
from crm_ews.ews._operations._base import new_request, single_message
from crm_ews.ews._operations._shapes import (
    check_extended_keys,
    check_folder_id,
    check_item_type,
    check_sync_state,
    item_shape,
    matching_item,
)
from crm_ews.ews._operations._xml import DecodeContext, sub

__all__ = [
    "MAX_SYNC_CHANGES",
    "ItemChangeEntry",
    "ItemCreated",
    "ItemDeleted",
    "ItemReadFlagChanged",
    "ItemUpdated",
    "SyncFolderItems",
    "SyncItemsPage",
]

ItemT = TypeVar("ItemT", bound=Item)

#: The most changes one ``SyncFolderItems`` page may hold (schema limit).
MAX_SYNC_CHANGES: Final = 512


@dataclass(frozen=True, slots=True)
class ItemCreated(Generic[ItemT]):
    """An item appeared in the folder (or the sync started from scratch)."""

    item: ItemT


@dataclass(frozen=True, slots=True)
class ItemUpdated(Generic[ItemT]):
    """An item in the folder changed."""

    item: ItemT


@dataclass(frozen=True, slots=True)
class ItemDeleted:
    """An item left the folder: deleted, or moved elsewhere."""

    item_id: ItemId


@dataclass(frozen=True, slots=True)
class ItemReadFlagChanged:
    """Only the read flag of an item changed."""

    item_id: ItemId
    is_read: bool


#: One entry of a ``SyncFolderItems`` page.
ItemChangeEntry = (
    ItemCreated[ItemT] | ItemUpdated[ItemT] | ItemDeleted | ItemReadFlagChanged
)


@dataclass(frozen=True, slots=True)
class SyncItemsPage(Generic[ItemT]):
    """One page of item changes.

    Attributes:
        changes: :class:`ItemCreated`, :class:`ItemUpdated`,
            :class:`ItemDeleted` and :class:`ItemReadFlagChanged` entries in
            server order.
        sync_state: The state to pass for the next page; store it once this
            page's changes are applied.
        includes_last_item_in_range: Whether the folder is now fully synced.
    """

    changes: list[ItemChangeEntry[ItemT]]
    sync_state: str
    includes_last_item_in_range: bool

    @property
    def creates(self) -> list[ItemT]:
        """The items created, in server order."""
        return [
            change.item for change in self.changes if isinstance(change, ItemCreated)
        ]

    @property
    def updates(self) -> list[ItemT]:
        """The items updated, in server order."""
        return [
            change.item for change in self.changes if isinstance(change, ItemUpdated)
        ]

    @property
    def deletes(self) -> list[ItemId]:
        """The ids of the items deleted, in server order."""
        return [
            change.item_id for change in self.changes if isinstance(change, ItemDeleted)
        ]

    @property
    def read_flag_changes(self) -> list[ItemReadFlagChanged]:
        """The read-flag changes, in server order."""
        return [
            change for change in self.changes if isinstance(change, ItemReadFlagChanged)
        ]


def _check_max_changes(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"max_changes_returned must be an int, not {type(value).__name__}"
        )
    if not 1 <= value <= MAX_SYNC_CHANGES:
        raise ValueError(
            f"max_changes_returned must be between 1 and {MAX_SYNC_CHANGES}, "
            f"got {value}"
        )
    return value


class SyncFolderItems(Generic[ItemT]):
    """One page of the changes to a folder's items since a sync state.

    Args:
        folder_id: The folder to sync.
        item_type: The model to decode items as; items of other kinds in the
            folder (distribution lists in a contacts folder) are left out of
            the page.
        sync_state: The state the previous page returned; ``None`` starts
            over and reports every item as created.
        max_changes_returned: Page size, ``1..512``.
        ignore: Items whose changes the server should not report (say, the
            ones this sync itself just wrote).
        extended_properties: Extended properties to fetch with each item.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: ``max_changes_returned`` is out of range or
            ``sync_state`` is an empty string.

    An unusable sync state makes :meth:`parse` raise
    :class:`~crm_ews.errors.InvalidSyncStateError`; the caller then starts
    over with ``sync_state=None``.
    """

    name: ClassVar[str] = "SyncFolderItems"
    is_idempotent: ClassVar[bool] = True

    def __init__(
        self,
        folder_id: FolderId | DistinguishedFolderId,
        item_type: type[ItemT],
        *,
        sync_state: str | None = None,
        max_changes_returned: int = MAX_SYNC_CHANGES,
        ignore: Sequence[ItemId] = (),
        extended_properties: Iterable[ExtendedPropertyKey] = (),
    ) -> None:
        check_folder_id(folder_id, "folder_id")
        check_item_type(item_type)
        if not isinstance(ignore, list | tuple):
            raise TypeError(
                f"ignore must be a list or tuple, not {type(ignore).__name__}"
            )
        for index, item_id in enumerate(ignore):
            if not isinstance(item_id, ItemId):
                raise TypeError(
                    f"ignore[{index}] must be an ItemId, not {type(item_id).__name__}"
                )

        self.folder_id = folder_id
        self.item_type = item_type
        self.sync_state = check_sync_state(sync_state)
        self.max_changes_returned = _check_max_changes(max_changes_returned)
        self.ignore: tuple[ItemId, ...] = tuple(ignore)
        self.extended_properties = check_extended_keys(extended_properties)

    def build(self) -> etree._Element:
        """The ``m:SyncFolderItems`` element."""
        request = new_request(self.name)
        item_shape(
            request,
            m("ItemShape"),
            self.item_type.shape_elements(extended_properties=self.extended_properties),
        )
        sub(request, m("SyncFolderId")).append(self.folder_id.to_xml())
        if self.sync_state is not None:
            sub(request, m("SyncState"), self.sync_state)
        if self.ignore:
            ignore = sub(request, m("Ignore"))
            for item_id in self.ignore:
                ignore.append(item_id.to_xml())
        sub(request, m("MaxChangesReturned"), str(self.max_changes_returned))

        return request

    def parse(self, response: DecodedResponse, *, mailbox: str) -> SyncItemsPage[ItemT]:
        """Read the page of changes.

        Raises:
            InvalidSyncStateError: The server refused the sync state.
            EWSError: Any other refusal (subclass by its code).
            ResponseDecodeError: ``SyncState``, ``IncludesLastItemInRange``
                or a change is missing or malformed.
        """
        message, context = single_message(
            response, operation=self.name, mailbox=mailbox
        )
        with context.filling():
            sync_state = context.text(message, m("SyncState"))
            if not sync_state:
                raise context.error("SyncState is empty")
            includes_last = context.boolean(
                message.findtext(m("IncludesLastItemInRange")),
                "IncludesLastItemInRange",
            )
            changes: list[ItemChangeEntry[ItemT]] = []
            changes_element = message.find(m("Changes"))
            if changes_element is not None:
                for element in context.children(changes_element):
                    change = self._change(element, context)
                    if change is not None:
                        changes.append(change)

            return SyncItemsPage(
                changes=changes,
                sync_state=sync_state,
                includes_last_item_in_range=includes_last,
            )

    def _change(
        self, element: etree._Element, context: DecodeContext
    ) -> ItemChangeEntry[ItemT] | None:
        """One change element; ``None`` for an item of another kind."""
        tag = element.tag
        if tag == t("Delete"):
            return ItemDeleted(ItemId.from_xml(context.child(element, t("ItemId"))))
        if tag == t("ReadFlagChange"):
            return ItemReadFlagChanged(
                item_id=ItemId.from_xml(context.child(element, t("ItemId"))),
                is_read=context.boolean(context.text(element, t("IsRead")), "IsRead"),
            )
        if tag not in (t("Create"), t("Update")):
            raise context.error(f"unknown change {etree.QName(element).localname}")

        item_element = next(context.children(element), None)
        if item_element is None:
            raise context.error(f"{etree.QName(element).localname} holds no item")
        # Items of another kind are dropped here; see matching_item.
        item = matching_item(item_element, self.item_type, context)
        if item is None:
            return None
        if tag == t("Create"):
            return ItemCreated(item)
        return ItemUpdated(item)
