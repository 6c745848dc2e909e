"""The sans-IO EWS operations: build a request element, parse the reply.

Each class validates its arguments when constructed, so misuse raises
``ValueError``/``TypeError`` before anything is sent.  The clients in
:mod:`crm_ews.ews._client` only send what these build.
"""

from __future__ import annotations

from crm_ews.ews._operations._base import Operation
from crm_ews.ews._operations._find_item import (
    DEFAULT_PAGE_SIZE,
    MAX_CALENDAR_VIEW_SPAN,
    MAX_ENTRIES_RETURNED,
    CalendarView,
    FindItem,
    FindItemPage,
    IndexedPageView,
)
from crm_ews.ews._operations._folders import (
    CreateFolder,
    FindFolder,
    FindFolderPage,
    FolderCreated,
    FolderDeleted,
    FolderHierarchyChange,
    FolderUpdated,
    GetFolder,
    SyncFolderHierarchy,
    SyncFolderHierarchyPage,
)
from crm_ews.ews._operations._items import (
    CreateItem,
    DeleteItem,
    GetItem,
    UpdateItem,
    UpdateResult,
)
from crm_ews.ews._operations._options import (
    AffectedTaskOccurrences,
    ConflictResolution,
    DeleteType,
    FolderTraversal,
    SendMeetingInvitations,
    SendMeetingUpdates,
)
from crm_ews.ews._operations._restriction import IsEqualTo
from crm_ews.ews._operations._sync_items import (
    MAX_SYNC_CHANGES,
    ItemChangeEntry,
    ItemCreated,
    ItemDeleted,
    ItemReadFlagChanged,
    ItemUpdated,
    SyncFolderItems,
    SyncItemsPage,
)

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_CALENDAR_VIEW_SPAN",
    "MAX_ENTRIES_RETURNED",
    "MAX_SYNC_CHANGES",
    "AffectedTaskOccurrences",
    "CalendarView",
    "ConflictResolution",
    "CreateFolder",
    "CreateItem",
    "DeleteItem",
    "DeleteType",
    "FindFolder",
    "FindFolderPage",
    "FindItem",
    "FindItemPage",
    "FolderCreated",
    "FolderDeleted",
    "FolderHierarchyChange",
    "FolderTraversal",
    "FolderUpdated",
    "GetFolder",
    "GetItem",
    "IndexedPageView",
    "IsEqualTo",
    "ItemChangeEntry",
    "ItemCreated",
    "ItemDeleted",
    "ItemReadFlagChanged",
    "ItemUpdated",
    "Operation",
    "SendMeetingInvitations",
    "SendMeetingUpdates",
    "SyncFolderHierarchy",
    "SyncFolderHierarchyPage",
    "SyncFolderItems",
    "SyncItemsPage",
    "UpdateItem",
    "UpdateResult",
]
