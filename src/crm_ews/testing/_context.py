"""What an operation handler gets, and how it resolves ids in the request.

Handlers receive an :class:`OperationContext` (the target mailbox, the
operation element, the time, the sync-state codec) and run under the
mailbox's lock.  Folder and item references (``t:FolderId``,
``t:DistinguishedFolderId``, ``t:ItemId``, ``t:OccurrenceItemId``...) resolve
here, failing with the per-item error codes Exchange uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from crm_ews._soap import t
from crm_ews.testing._fields import local
from crm_ews.testing._ids import IdKind, SyncStateCodec, decode_id, split_occurrence_id
from crm_ews.testing._items import is_occurrence, occurrence_at
from crm_ews.testing._store import Folder, Mailbox, StoredItem
from crm_ews.testing._wire import ItemError, schema_fault


@dataclass(slots=True)
class OperationContext:
    """Everything one operation handler needs."""

    operation: str
    mailbox: Mailbox
    request: etree._Element
    now: datetime
    sync_states: SyncStateCodec
    find_mailbox: Callable[[str], Mailbox | None]


@dataclass(frozen=True, slots=True)
class ItemRef:
    """A resolved item reference: the stored item, maybe one occurrence of it."""

    item: StoredItem
    occurrence: datetime | None = None


def children(element: etree._Element | None) -> list[etree._Element]:
    """Element children only (comments and processing instructions skipped)."""
    if element is None:
        return []
    return [child for child in element if isinstance(child.tag, str)]


def required(parent: etree._Element, name: str) -> etree._Element:
    """The ``t:``/``m:`` child ``name`` of ``parent``, or a schema fault."""
    for child in parent:
        if isinstance(child.tag, str) and etree.QName(child).localname == name:
            return child
    raise schema_fault(
        f"The element '{etree.QName(parent).localname}' has incomplete content; "
        f"'{name}' is expected."
    )


def optional(parent: etree._Element, name: str) -> etree._Element | None:
    """The child ``name`` of ``parent`` in any EWS namespace, if present."""
    for child in parent:
        if isinstance(child.tag, str) and etree.QName(child).localname == name:
            return child
    return None


def text_of(element: etree._Element | None) -> str:
    """The stripped text of an optional element; empty when absent."""
    if element is None or element.text is None:
        return ""
    return element.text.strip()


def resolve_folder(ctx: OperationContext, element: etree._Element) -> Folder:
    """The folder named by a ``t:FolderId`` or ``t:DistinguishedFolderId``.

    Raises:
        ItemError: ``ErrorFolderNotFound``, ``ErrorInvalidIdMalformed``,
            ``ErrorAccessDenied`` or ``ErrorNonExistentMailbox``.
        SimulatorFault: The element is not a folder reference.
    """
    name = local(element)
    if name == "DistinguishedFolderId":
        distinguished = (element.get("Id") or "").strip()
        if not distinguished:
            raise schema_fault("The required attribute 'Id' is missing.")
        _check_mailbox(ctx, element)
        folder = ctx.mailbox.distinguished.get(distinguished)
        if folder is None:
            raise ItemError(
                "ErrorFolderNotFound",
                "The specified folder could not be found in the store.",
            )
        return folder
    if name == "FolderId":
        folder_id = element.get("Id")
        if folder_id is None:
            raise schema_fault("The required attribute 'Id' is missing.")
        if not folder_id:
            raise ItemError("ErrorInvalidIdEmpty", "Id is empty.")
        decoded = decode_id(folder_id)
        if decoded is None or decoded[0] is not IdKind.FOLDER:
            raise ItemError("ErrorInvalidIdMalformed", "Id is malformed.")
        found = ctx.mailbox.folders.get(folder_id)
        if found is None:
            raise ItemError(
                "ErrorFolderNotFound",
                "The specified folder could not be found in the store.",
            )
        return found
    raise schema_fault(
        f"The element '{etree.QName(element).localname}' is not a folder id."
    )


def _check_mailbox(ctx: OperationContext, element: etree._Element) -> None:
    mailbox = element.find(t("Mailbox"))
    if mailbox is None:
        return
    address = (mailbox.findtext(t("EmailAddress")) or "").strip().lower()
    if not address or address == ctx.mailbox.address:
        return
    if ctx.find_mailbox(address) is None:
        raise ItemError(
            "ErrorNonExistentMailbox",
            "The SMTP address has no mailbox associated with it.",
        )
    # Limitation: no delegate permissions are modelled; a folder of another
    # mailbox is always refused, as for a user without folder permissions.
    raise ItemError(
        "ErrorAccessDenied", "Access is denied. Check credentials and try again."
    )


def resolve_item(ctx: OperationContext, element: etree._Element) -> ItemRef:
    """The item (or occurrence) named by an item id element.

    Raises:
        ItemError: ``ErrorItemNotFound``, ``ErrorInvalidIdMalformed``,
            ``ErrorInvalidIdEmpty`` or an occurrence-range error.
        SimulatorFault: The element is not an item id.
    """
    name = local(element)
    if name == "ItemId":
        return _by_id(ctx, element.get("Id"))
    if name == "OccurrenceItemId":
        master = _by_id(ctx, element.get("RecurringMasterId"))
        try:
            index = int(element.get("InstanceIndex") or "")
        except ValueError as exc:
            raise schema_fault(
                "The attribute 'InstanceIndex' is not an integer."
            ) from exc
        original = occurrence_at(master.item, index) if index >= 1 else None
        if original is None:
            raise ItemError(
                "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange",
                "The occurrence index is out of the recurrence range.",
            )
        if original in master.item.deleted_occurrences:
            raise ItemError(
                "ErrorCalendarOccurrenceIsDeletedFromRecurrence",
                "The occurrence was deleted from the recurrence.",
            )
        return ItemRef(master.item, original)
    if name == "RecurringMasterItemId":
        ref = _by_id(ctx, element.get("OccurrenceId"))
        return ItemRef(ref.item)
    raise schema_fault(
        f"The element '{etree.QName(element).localname}' is not an item id."
    )


def _by_id(ctx: OperationContext, item_id: str | None) -> ItemRef:
    if item_id is None:
        raise schema_fault("The required attribute 'Id' is missing.")
    if not item_id:
        raise ItemError("ErrorInvalidIdEmpty", "Id is empty.")
    decoded = decode_id(item_id)
    if decoded is None or decoded[0] is IdKind.FOLDER:
        raise ItemError("ErrorInvalidIdMalformed", "Id is malformed.")
    kind, raw = decoded
    if kind is IdKind.OCCURRENCE:
        master_id, original = split_occurrence_id(raw)
        master = ctx.mailbox.items.get(master_id)
        if master is None or not is_occurrence(master, original):
            raise _not_found()
        return ItemRef(master, original)
    item = ctx.mailbox.items.get(item_id)
    if item is None:
        raise _not_found()
    return ItemRef(item)


def _not_found() -> ItemError:
    return ItemError(
        "ErrorItemNotFound", "The specified object was not found in the store."
    )
