"""Folder operations: get, find, create, and sync the folder hierarchy.

A sync finds or creates the folder it mirrors once, then works on items;
these operations cover that setup and noticing when folders come and go.
Folder shapes are ``IdOnly`` plus the properties :class:`Folder` maps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import ClassVar, Final, Self

from lxml import etree

from crm_ews._soap import DecodedResponse, m, t
from crm_ews.errors import EWSError
from crm_ews.ews._models._folder import Folder, FolderKind, folder_from_xml
from crm_ews.ews._models._ids import DistinguishedFolderId, FolderId
from crm_ews.ews._operations._base import batch_results, new_request, single_message
from crm_ews.ews._operations._find_item import IndexedPageView
from crm_ews.ews._operations._options import FolderTraversal
from crm_ews.ews._operations._shapes import (
    check_enum,
    check_folder_id,
    check_sequence,
    check_sync_state,
)
from crm_ews.ews._operations._xml import DecodeContext, sub

__all__ = [
    "CreateFolder",
    "FindFolder",
    "FindFolderPage",
    "FolderCreated",
    "FolderDeleted",
    "FolderHierarchyChange",
    "FolderUpdated",
    "GetFolder",
    "SyncFolderHierarchy",
    "SyncFolderHierarchyPage",
]

#: Which folder element a new folder is sent as, by its MAPI class.
_KIND_BY_CLASS: Final = {
    "IPF.Appointment": FolderKind.CALENDAR_FOLDER,
    "IPF.Contact": FolderKind.CONTACTS_FOLDER,
    "IPF.Task": FolderKind.TASKS_FOLDER,
}


def _folder_shape(parent: etree._Element) -> None:
    """Append ``m:FolderShape``: ``IdOnly`` plus the model's properties."""
    shape = sub(parent, m("FolderShape"))
    sub(shape, t("BaseShape"), "IdOnly")
    additional = sub(shape, t("AdditionalProperties"))
    for path in Folder.shape_elements():
        additional.append(path)


def _first_folder(message: etree._Element, context: DecodeContext) -> etree._Element:
    """The one folder element inside a response message's ``m:Folders``."""
    folders = context.child(message, m("Folders"))
    for element in context.children(folders):
        return element
    raise context.error("Folders holds no folder")


class GetFolder:
    """Read folders by id.

    Args:
        folder_ids: Folder ids or well-known folders (``calendar``...).

    Raises:
        TypeError: An id has the wrong type.
        ValueError: ``folder_ids`` is empty.
    """

    name: ClassVar[str] = "GetFolder"
    is_idempotent: ClassVar[bool] = True

    def __init__(self, folder_ids: Sequence[FolderId | DistinguishedFolderId]) -> None:
        checked = check_sequence(folder_ids, "folder_ids")
        for index, folder_id in enumerate(checked):
            check_folder_id(folder_id, f"folder_ids[{index}]")

        self.folder_ids: tuple[FolderId | DistinguishedFolderId, ...] = checked  # type: ignore[assignment]  # checked above

    def build(self) -> etree._Element:
        """The ``m:GetFolder`` element."""
        request = new_request(self.name)
        _folder_shape(request)
        ids = sub(request, m("FolderIds"))
        for folder_id in self.folder_ids:
            ids.append(folder_id.to_xml())

        return request

    def parse(
        self, response: DecodedResponse, *, mailbox: str
    ) -> list[Folder | EWSError]:
        """One folder or error per requested id, in request order.

        Raises:
            ResponseDecodeError: The reply does not match the request.
        """
        return batch_results(
            response,
            operation=self.name,
            mailbox=mailbox,
            expected=len(self.folder_ids),
            parse_one=lambda message, context: folder_from_xml(
                _first_folder(message, context)
            ),
        )


@dataclass(frozen=True, slots=True)
class FindFolderPage:
    """What one ``FindFolder`` call returned.

    Attributes:
        folders: The folders found, in server order.
        includes_last_item_in_range: Whether no further page exists.
        next_offset: Where the next page starts, when the server says.
        total_items_in_view: How many folders the whole view holds.
    """

    folders: list[Folder]
    includes_last_item_in_range: bool
    next_offset: int | None = None
    total_items_in_view: int | None = None

    @property
    def entry_count(self) -> int:
        """How many folders the page holds."""
        return len(self.folders)


class FindFolder:
    """List the folders below one folder, a page at a time.

    Args:
        parent: The folder to look in.
        traversal: Direct children (``SHALLOW``, the default) or the whole
            subtree (``DEEP``).
        view: Which page; defaults to the first 100 folders.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: ``traversal`` is not a known value.
    """

    name: ClassVar[str] = "FindFolder"
    is_idempotent: ClassVar[bool] = True

    def __init__(
        self,
        parent: FolderId | DistinguishedFolderId,
        *,
        traversal: FolderTraversal = FolderTraversal.SHALLOW,
        view: IndexedPageView | None = None,
    ) -> None:
        check_folder_id(parent, "parent")
        if view is not None and not isinstance(view, IndexedPageView):
            raise TypeError(
                f"view must be an IndexedPageView, not {type(view).__name__}"
            )

        self.parent = parent
        self.traversal = check_enum(traversal, FolderTraversal, "traversal")
        self.view = view if view is not None else IndexedPageView()

    def with_offset(self, offset: int) -> Self:
        """The same search, starting at another position."""
        return type(self)(
            self.parent,
            traversal=self.traversal,
            view=replace(self.view, offset=offset),
        )

    def build(self) -> etree._Element:
        """The ``m:FindFolder`` element."""
        request = new_request(self.name, Traversal=self.traversal.value)
        _folder_shape(request)
        sub(
            request,
            m("IndexedPageFolderView"),
            MaxEntriesReturned=str(self.view.max_entries),
            Offset=str(self.view.offset),
            BasePoint="Beginning",
        )
        sub(request, m("ParentFolderIds")).append(self.parent.to_xml())

        return request

    def parse(self, response: DecodedResponse, *, mailbox: str) -> FindFolderPage:
        """Read the page of folders.

        Raises:
            EWSError: The server refused the search (subclass by its code).
            ResponseDecodeError: ``RootFolder`` or its paging attributes are
                missing or malformed.
        """
        message, context = single_message(
            response, operation=self.name, mailbox=mailbox
        )
        with context.filling():
            root = context.child(message, m("RootFolder"))
            includes_last = context.boolean(
                root.get("IncludesLastItemInRange"), "IncludesLastItemInRange"
            )
            folders_element = root.find(t("Folders"))
            folders = (
                []
                if folders_element is None
                else [
                    folder_from_xml(element)
                    for element in context.children(folders_element)
                ]
            )

            return FindFolderPage(
                folders=folders,
                includes_last_item_in_range=includes_last,
                next_offset=context.integer(
                    root.get("IndexedPagingOffset"), "IndexedPagingOffset"
                ),
                total_items_in_view=context.integer(
                    root.get("TotalItemsInView"), "TotalItemsInView"
                ),
            )


class CreateFolder:
    """Create folders below one parent, returning their ids.

    Args:
        parent: The folder to create them in.
        folders: The new folders; only ``display_name`` and ``folder_class``
            are sent.  The folder element follows the class: an
            ``IPF.Appointment`` folder is created as a calendar folder.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: ``folders`` is empty or a folder has no display name.
    """

    name: ClassVar[str] = "CreateFolder"
    is_idempotent: ClassVar[bool] = False

    def __init__(
        self,
        parent: FolderId | DistinguishedFolderId,
        folders: Sequence[Folder],
    ) -> None:
        check_folder_id(parent, "parent")
        checked = check_sequence(folders, "folders")
        prepared: list[Folder] = []
        for index, folder in enumerate(checked):
            if not isinstance(folder, Folder):
                raise TypeError(
                    f"folders[{index}] must be a Folder, not {type(folder).__name__}"
                )
            if not folder.display_name:
                raise ValueError(f"folders[{index}] needs a display_name")
            prepared.append(_with_kind(folder))

        self.parent = parent
        self.folders = tuple(prepared)

    def build(self) -> etree._Element:
        """The ``m:CreateFolder`` element."""
        request = new_request(self.name)
        sub(request, m("ParentFolderId")).append(self.parent.to_xml())
        folders = sub(request, m("Folders"))
        for folder in self.folders:
            folders.append(folder.to_xml())

        return request

    def parse(
        self, response: DecodedResponse, *, mailbox: str
    ) -> list[FolderId | EWSError]:
        """The new folder's id or the error, per folder in request order.

        Raises:
            ResponseDecodeError: The reply does not match the request.
        """
        return batch_results(
            response,
            operation=self.name,
            mailbox=mailbox,
            expected=len(self.folders),
            parse_one=lambda message, context: FolderId.from_xml(
                context.child(_first_folder(message, context), t("FolderId"))
            ),
        )


def _with_kind(folder: Folder) -> Folder:
    """The folder sent as the element its class calls for.

    A plain ``t:Folder`` with class ``IPF.Appointment`` would be created, but
    some clients only show calendars that were created as calendar folders.
    """
    if folder.kind is not FolderKind.FOLDER or folder.folder_class is None:
        return folder
    kind = _KIND_BY_CLASS.get(folder.folder_class)
    if kind is None:
        return folder
    return folder.model_copy(update={"kind": kind})


@dataclass(frozen=True, slots=True)
class FolderCreated:
    """A folder appeared since the last sync state."""

    folder: Folder


@dataclass(frozen=True, slots=True)
class FolderUpdated:
    """A folder's properties changed since the last sync state."""

    folder: Folder


@dataclass(frozen=True, slots=True)
class FolderDeleted:
    """A folder was deleted since the last sync state."""

    folder_id: FolderId


#: One entry of a folder hierarchy sync page.
FolderHierarchyChange = FolderCreated | FolderUpdated | FolderDeleted


@dataclass(frozen=True, slots=True)
class SyncFolderHierarchyPage:
    """One page of folder hierarchy changes.

    Attributes:
        changes: The changes in server order.
        sync_state: The state to pass next time; store it once the changes
            are applied.
        includes_last_folder_in_range: Whether no further page is waiting.
    """

    changes: list[FolderHierarchyChange]
    sync_state: str
    includes_last_folder_in_range: bool


class SyncFolderHierarchy:
    """The folders created, changed or deleted since a sync state.

    Args:
        sync_state: The state a previous page returned; ``None`` starts over
            and reports every folder as created.
        folder_id: Only the subtree below this folder; ``None`` means the
            whole mailbox.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: ``sync_state`` is an empty string.
    """

    name: ClassVar[str] = "SyncFolderHierarchy"
    is_idempotent: ClassVar[bool] = True

    def __init__(
        self,
        *,
        sync_state: str | None = None,
        folder_id: FolderId | DistinguishedFolderId | None = None,
    ) -> None:
        self.sync_state = check_sync_state(sync_state)
        if folder_id is not None:
            check_folder_id(folder_id, "folder_id")
        self.folder_id = folder_id

    def build(self) -> etree._Element:
        """The ``m:SyncFolderHierarchy`` element."""
        request = new_request(self.name)
        _folder_shape(request)
        if self.folder_id is not None:
            sub(request, m("SyncFolderId")).append(self.folder_id.to_xml())
        if self.sync_state is not None:
            sub(request, m("SyncState"), self.sync_state)

        return request

    def parse(
        self, response: DecodedResponse, *, mailbox: str
    ) -> SyncFolderHierarchyPage:
        """Read the page of changes.

        Raises:
            InvalidSyncStateError: The server refused the sync state.
            EWSError: Any other refusal (subclass by its code).
            ResponseDecodeError: ``SyncState`` or a change is missing or
                malformed.
        """
        message, context = single_message(
            response, operation=self.name, mailbox=mailbox
        )
        with context.filling():
            sync_state = context.text(message, m("SyncState"))
            includes_last = context.boolean(
                message.findtext(m("IncludesLastFolderInRange")),
                "IncludesLastFolderInRange",
            )
            changes_element = message.find(m("Changes"))
            changes = (
                []
                if changes_element is None
                else [
                    _hierarchy_change(element, context)
                    for element in context.children(changes_element)
                ]
            )

            return SyncFolderHierarchyPage(
                changes=changes,
                sync_state=sync_state,
                includes_last_folder_in_range=includes_last,
            )


def _hierarchy_change(
    element: etree._Element, context: DecodeContext
) -> FolderHierarchyChange:
    """One ``t:Create``/``t:Update``/``t:Delete`` of a hierarchy sync."""
    tag = element.tag
    if tag == t("Delete"):
        return FolderDeleted(FolderId.from_xml(context.child(element, t("FolderId"))))
    if tag not in (t("Create"), t("Update")):
        raise context.error(f"unknown change {etree.QName(element).localname}")
    folder_element = next(context.children(element), None)
    if folder_element is None:
        raise context.error(f"{etree.QName(element).localname} holds no folder")
    folder = folder_from_xml(folder_element)
    if tag == t("Create"):
        return FolderCreated(folder)
    return FolderUpdated(folder)
