"""Mailboxes, folders and stored items, with per-folder change logs.

Items are kept as the XML elements a client would read back (``t:Contact``,
``t:CalendarItem``...), with the server-managed children kept current.  Each
folder numbers its changes; ``changes`` maps an item id to the number of its
latest change and is kept in that order (an item that changes again moves to
the end), so "everything since change N" is a walk from the end that stops at
N, without scanning unchanged items.

A mailbox's state is guarded by its own re-entrant lock; callers hold
``mailbox.lock`` around any read-modify-write.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Final

from lxml import etree

from crm_ews._soap import t
from crm_ews.testing._fields import ItemType
from crm_ews.testing._ids import IdFactory
from crm_ews.testing._recurrence import Recurrence

#: How many past ChangeKeys an item remembers for conflict detection.
_CHANGE_KEY_HISTORY: Final = 64

#: (distinguished id, display name, folder class, element name, parent).
DISTINGUISHED_FOLDERS: Final = (
    ("root", "", None, "Folder", None),
    ("recoverableitemsroot", "Recoverable Items", None, "Folder", "root"),
    ("recoverableitemsdeletions", "Deletions", None, "Folder", "recoverableitemsroot"),
    ("msgfolderroot", "Top of Information Store", "IPF.Note", "Folder", "root"),
    ("inbox", "Inbox", "IPF.Note", "Folder", "msgfolderroot"),
    ("drafts", "Drafts", "IPF.Note", "Folder", "msgfolderroot"),
    ("calendar", "Calendar", "IPF.Appointment", "CalendarFolder", "msgfolderroot"),
    ("contacts", "Contacts", "IPF.Contact", "ContactsFolder", "msgfolderroot"),
    ("tasks", "Tasks", "IPF.Task", "TasksFolder", "msgfolderroot"),
    ("deleteditems", "Deleted Items", "IPF.Note", "Folder", "msgfolderroot"),
)

#: Folder element name for each folder class a client may create.
FOLDER_TAGS: Final = {
    "IPF.Appointment": "CalendarFolder",
    "IPF.Contact": "ContactsFolder",
    "IPF.Task": "TasksFolder",
}


# Limitation: tombstones of deleted items are kept for the simulator's
# lifetime so any old sync state still sees the delete; memory grows with the
# number of deletes.  Long benchmarks that delete heavily should use a fresh
# simulator per run.
@dataclass(slots=True)
class Tombstone:
    """What a sync client must hear about a deleted item."""

    created_seq: int
    tag: str


@dataclass(slots=True, eq=False)
class StoredItem:
    """One item: its XML, identity, version history and occurrence edits."""

    item_id: str
    change_key: str
    element: etree._Element
    item_type: ItemType
    folder: Folder
    created_seq: int
    version: int = 1
    change_keys: dict[str, int] = field(default_factory=dict)
    field_versions: dict[str, int] = field(default_factory=dict)
    recurrence: Recurrence | None = None
    zone: tzinfo | None = None
    start: datetime | None = None
    end: datetime | None = None
    exceptions: dict[datetime, etree._Element] = field(default_factory=dict)
    deleted_occurrences: set[datetime] = field(default_factory=set)

    def set_identity(self) -> None:
        """Write the current id, change key and folder into the element."""
        item_id = self.element.find(t("ItemId"))
        if item_id is not None:
            item_id.set("Id", self.item_id)
            item_id.set("ChangeKey", self.change_key)
        parent = self.element.find(t("ParentFolderId"))
        if parent is not None:
            parent.set("Id", self.folder.folder_id)
            parent.set("ChangeKey", self.folder.change_key)


@dataclass(slots=True, eq=False)
class Folder:
    """A mailbox folder and the change log of the items in it."""

    folder_id: str
    change_key: str
    display_name: str
    folder_class: str | None
    tag: str
    key: bytes
    parent: Folder | None
    distinguished: str | None = None
    items: dict[str, StoredItem] = field(default_factory=dict)
    changes: dict[str, int] = field(default_factory=dict)
    tombstones: dict[str, Tombstone] = field(default_factory=dict)
    sequence: int = 0
    children: list[Folder] = field(default_factory=list)
    created_hseq: int = 0

    def record(self, item_id: str) -> int:
        """Log a change to ``item_id`` and return its sequence number."""
        self.sequence += 1
        self.changes.pop(item_id, None)
        self.changes[item_id] = self.sequence
        return self.sequence

    def changes_since(self, sequence: int) -> list[tuple[str, int]]:
        """``(item id, change number)`` after ``sequence``, oldest first."""
        newer: list[tuple[str, int]] = []
        for item_id, number in reversed(self.changes.items()):
            if number <= sequence:
                break
            newer.append((item_id, number))
        newer.reverse()
        return newer

    def descendants(self) -> Iterator[Folder]:
        """Every folder below this one, depth first."""
        for child in self.children:
            yield child
            yield from child.descendants()


class Mailbox:
    """One user's mailbox: folders, items, and the hierarchy change log."""

    def __init__(
        self,
        address: str,
        *,
        display_name: str,
        ids: IdFactory,
        sid: str,
    ) -> None:
        self.address = address
        self.display_name = display_name
        self.sid = sid
        self.lock = threading.RLock()
        self.guid = ids.guid()
        self.hierarchy_key = ids.key()
        self.hierarchy_sequence = 0
        self.hierarchy_changes: dict[str, int] = {}
        self.folder_tombstones: dict[str, int] = {}
        #: ``(count, anchor)`` of sample data not yet materialised.
        self.pending_seeds: list[tuple[int, datetime]] = []
        self.folders: dict[str, Folder] = {}
        self.distinguished: dict[str, Folder] = {}
        self.items: dict[str, StoredItem] = {}
        self._ids = ids

        for name, display, folder_class, tag, parent in DISTINGUISHED_FOLDERS:
            folder = self.new_folder(
                display or name,
                folder_class,
                tag,
                parent=self.distinguished[parent] if parent else None,
            )
            folder.display_name = display
            folder.distinguished = name
            self.distinguished[name] = folder

    def new_guid(self) -> str:
        """A fresh GUID from the simulator's seeded source (e.g. a UID)."""
        return self._ids.guid()

    @property
    def root(self) -> Folder:
        """The ``msgfolderroot`` folder that visible folders live under."""
        return self.distinguished["msgfolderroot"]

    def new_folder(
        self,
        display_name: str,
        folder_class: str | None,
        tag: str,
        *,
        parent: Folder | None,
    ) -> Folder:
        """Create a folder under ``parent`` and log it for hierarchy sync."""
        folder = Folder(
            folder_id=self._ids.folder_id(self.guid),
            change_key=self._ids.change_key(),
            display_name=display_name,
            folder_class=folder_class,
            tag=tag,
            key=self._ids.key(),
            parent=parent,
        )
        self.folders[folder.folder_id] = folder
        if parent is not None:
            parent.children.append(folder)
        self.record_folder(folder)
        folder.created_hseq = self.hierarchy_sequence
        return folder

    def delete_folder(self, folder: Folder) -> None:
        """Delete ``folder``, its subfolders and their items."""
        for child in list(folder.children):
            self.delete_folder(child)
        for item_id in list(folder.items):
            del self.items[item_id]
        folder.items.clear()
        if folder.parent is not None:
            folder.parent.children.remove(folder)
        del self.folders[folder.folder_id]
        self.record_folder(folder)
        self.folder_tombstones[folder.folder_id] = folder.created_hseq

    def record_folder(self, folder: Folder) -> None:
        """Log a folder change for ``SyncFolderHierarchy``."""
        self.hierarchy_sequence += 1
        self.hierarchy_changes.pop(folder.folder_id, None)
        self.hierarchy_changes[folder.folder_id] = self.hierarchy_sequence

    def folder_named(self, parent: Folder, display_name: str) -> Folder | None:
        """The child of ``parent`` called ``display_name`` (case-insensitive)."""
        wanted = display_name.casefold()
        for child in parent.children:
            if child.display_name.casefold() == wanted:
                return child
        return None

    def add(
        self, folder: Folder, element: etree._Element, item_type: ItemType
    ) -> StoredItem:
        """Store ``element`` as a new item in ``folder``; it gets new ids."""
        item_id = self._ids.item_id(self.guid)
        change_key = self._ids.change_key()
        item = StoredItem(
            item_id=item_id,
            change_key=change_key,
            element=element,
            item_type=item_type,
            folder=folder,
            created_seq=folder.sequence + 1,
        )
        item.change_keys[change_key] = item.version
        item.set_identity()
        folder.record(item_id)
        folder.items[item_id] = item
        self.items[item_id] = item
        return item

    def touch(self, item: StoredItem, fields: set[str]) -> None:
        """Mark ``item`` modified: new ChangeKey, new version, logged change."""
        item.version += 1
        item.change_key = self._ids.change_key()
        item.change_keys[item.change_key] = item.version
        while len(item.change_keys) > _CHANGE_KEY_HISTORY:
            del item.change_keys[next(iter(item.change_keys))]
        for name in fields:
            item.field_versions[name] = item.version
        item.set_identity()
        item.folder.record(item.item_id)

    def remove(self, item: StoredItem) -> None:
        """Delete ``item`` from its folder, leaving a tombstone for sync."""
        folder = item.folder
        del folder.items[item.item_id]
        del self.items[item.item_id]
        folder.record(item.item_id)
        folder.tombstones[item.item_id] = Tombstone(
            item.created_seq, item.item_type.tag
        )

    def move(self, item: StoredItem, target: Folder) -> StoredItem:
        """Move ``item`` to ``target``; like Exchange, it gets a new id."""
        self.remove(item)
        moved = self.add(target, item.element, item.item_type)
        moved.recurrence = item.recurrence
        moved.zone = item.zone
        moved.start, moved.end = item.start, item.end
        moved.exceptions = item.exceptions
        moved.deleted_occurrences = item.deleted_occurrences
        return moved


ClockFn = Callable[[], datetime]
