"""Item operations: CreateItem, GetItem, UpdateItem, DeleteItem, MoveItem.

Each request item gets its own response message; one item's error does not
stop the others.  ``UpdateItem`` implements the three ``ConflictResolution``
modes against the item's ChangeKey history:

* ``NeverOverwrite``: a stale ChangeKey fails with ``ErrorIrresolvableConflict``;
* ``AutoResolve``: a stale ChangeKey fails only when a property in the request
  changed since that ChangeKey; otherwise the changes merge;
* ``AlwaysOverwrite``: the request wins; ``ConflictResults/Count`` says how
  many of its properties had changed in between.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Final

from lxml import etree

from crm_ews._soap import m, t
from crm_ews.testing._context import (
    ItemRef,
    OperationContext,
    children,
    optional,
    required,
    resolve_folder,
    resolve_item,
)
from crm_ews.testing._fields import ITEM_TYPES, ItemType, insert_ordered, local
from crm_ews.testing._ids import is_change_key, occurrence_id
from crm_ews.testing._items import (
    adopt,
    apply_updates,
    derive,
    occurrence_element,
    prepare_new,
    rebuild_occurrence_lists,
)
from crm_ews.testing._render import parse_shape, render_item
from crm_ews.testing._store import Folder, StoredItem
from crm_ews.testing._wire import ItemError, add_message, new_response, schema_fault

#: Where an item goes when the request names no SavedItemFolderId.
_HOME_FOLDERS: Final = {
    "CalendarItem": "calendar",
    "Contact": "contacts",
    "Task": "tasks",
    "Message": "drafts",
    "Item": "drafts",
}
_CONFLICT_MODES: Final = frozenset({"NeverOverwrite", "AutoResolve", "AlwaysOverwrite"})
_DELETE_TYPES: Final = frozenset({"HardDelete", "SoftDelete", "MoveToDeletedItems"})


def _target(ctx: OperationContext, name: str) -> Folder | ItemError | None:
    """The folder in an optional ``TargetFolderIdType`` child, or its error."""
    container = optional(ctx.request, name)
    if container is None:
        return None
    refs = children(container)
    if len(refs) != 1:
        raise schema_fault(f"'{name}' holds exactly one folder id.")
    try:
        return resolve_folder(ctx, refs[0])
    except ItemError as error:
        return error


def _id_only(item: StoredItem, shown_id: str | None = None) -> etree._Element:
    element = etree.Element(t(item.item_type.tag))
    etree.SubElement(
        element, t("ItemId"), Id=shown_id or item.item_id, ChangeKey=item.change_key
    )
    return element


def _error(
    response: etree._Element, operation: str, error: ItemError
) -> etree._Element:
    message = add_message(response, operation, code=error.code, text=error.text)
    if operation != "DeleteItem":
        etree.SubElement(message, m("Items"))
    return message


def create_item(ctx: OperationContext) -> etree._Element:
    """CreateItem: store each item in the named or the default folder."""
    disposition = ctx.request.get("MessageDisposition")
    saved = _target(ctx, "SavedItemFolderId")
    response = new_response("CreateItem")
    for source in children(required(ctx.request, "Items")):
        tag = local(source)
        item_type = ITEM_TYPES.get(tag)
        try:
            if item_type is None:
                raise ItemError(
                    "ErrorInvalidItemForOperationCreateItem",
                    f"The simulator cannot create {tag or 'this'} items.",
                )
            if tag == "Message" and disposition is None:
                raise ItemError(
                    "ErrorMessageDispositionRequired",
                    "MessageDisposition is required for messages.",
                )
            if isinstance(saved, ItemError):
                raise saved
            # Limitation: mail is never sent; a Message with SendOnly or
            # SendAndSaveCopy is stored like a draft, so tests cannot observe
            # delivery to other mailboxes.
            folder = saved or ctx.mailbox.distinguished[_HOME_FOLDERS[tag]]
            stored = _create_one(ctx, source, item_type, folder)
        except ItemError as error:
            _error(response, "CreateItem", error)
            continue
        message = add_message(response, "CreateItem")
        etree.SubElement(message, m("Items")).append(_id_only(stored))
    return response


def _create_one(
    ctx: OperationContext, source: etree._Element, item_type: ItemType, folder: Folder
) -> StoredItem:
    wanted = item_type.folder_class
    if (
        wanted is not None
        and item_type.wrong_folder_code is not None
        and not (folder.folder_class or "").startswith(wanted)
    ):
        raise ItemError(
            item_type.wrong_folder_code,
            f"A {item_type.tag} cannot be created in a {folder.folder_class} folder.",
        )
    element = prepare_new(source, item_type, ctx.mailbox, ctx.now)
    derived = derive(element, item_type, ctx.now)
    stored = ctx.mailbox.add(folder, element, item_type)
    adopt(stored, derived)
    return stored


def get_item(ctx: OperationContext) -> etree._Element:
    """GetItem: items and occurrences in the requested shape."""
    shape = parse_shape(required(ctx.request, "ItemShape"))
    response = new_response("GetItem")
    for ref_element in children(required(ctx.request, "ItemIds")):
        try:
            ref = resolve_item(ctx, ref_element)
        except ItemError as error:
            _error(response, "GetItem", error)
            continue
        item = ref.item
        stored = item.element
        if ref.occurrence is not None:
            stored = occurrence_element(item, ref.occurrence)
        message = add_message(response, "GetItem")
        items = etree.SubElement(message, m("Items"))
        items.append(render_item(stored, item.item_type, shape))
    return response


def update_item(ctx: OperationContext) -> etree._Element:
    """UpdateItem: apply each ItemChange atomically, honouring ChangeKeys."""
    mode = ctx.request.get("ConflictResolution")
    if mode not in _CONFLICT_MODES:
        raise schema_fault("The 'ConflictResolution' attribute is missing or invalid.")
    response = new_response("UpdateItem")
    for change in children(required(ctx.request, "ItemChanges")):
        parts = children(change)
        if local(change) != "ItemChange" or len(parts) < 2:
            raise schema_fault("Each ItemChange needs an item id and Updates.")
        try:
            ref = resolve_item(ctx, parts[0])
            conflicts = _update_one(ctx, ref, parts[0].get("ChangeKey"), parts[1], mode)
        except ItemError as error:
            _error(response, "UpdateItem", error)
            continue
        message = add_message(response, "UpdateItem")
        shown = None
        if ref.occurrence is not None:
            shown = occurrence_id(ref.item.item_id, ref.occurrence)
        etree.SubElement(message, m("Items")).append(_id_only(ref.item, shown))
        results = etree.SubElement(message, m("ConflictResults"))
        etree.SubElement(results, t("Count")).text = str(conflicts)
    return response


def _update_one(
    ctx: OperationContext,
    ref: ItemRef,
    sent_change_key: str | None,
    updates: etree._Element,
    mode: str,
) -> int:
    """Apply one change; return the number of overwritten conflicting fields."""
    if local(updates) != "Updates":
        raise schema_fault("'Updates' is expected after the item id.")
    item = ref.item
    base = (
        item.element
        if ref.occurrence is None
        else occurrence_element(item, ref.occurrence)
    )
    working = copy.deepcopy(base)
    changed = apply_updates(working, item.item_type, updates)

    conflicts = 0
    if sent_change_key is not None and sent_change_key != item.change_key:
        if not is_change_key(sent_change_key):
            raise ItemError("ErrorInvalidChangeKey", "The change key is invalid.")
        seen = item.change_keys.get(sent_change_key)
        overlapping = {
            name
            for name in changed
            if seen is None or item.field_versions.get(name, 0) > seen
        }
        if mode == "NeverOverwrite" or (mode == "AutoResolve" and overlapping):
            raise ItemError(
                "ErrorIrresolvableConflict",
                "The send or update operation could not be performed because the "
                "change key passed in the request does not match the current change "
                "key for the item.",
            )
        conflicts = len(overlapping)

    derived = derive(working, item.item_type, ctx.now)
    if ref.occurrence is None:
        item.element = working
        adopt(item, derived)
        if item.recurrence is None or "Recurrence" in changed:
            # A new pattern discards every exception, as on Exchange.
            item.exceptions.clear()
            item.deleted_occurrences.clear()
        rebuild_occurrence_lists(item)
    else:
        _store_exception(item, ref.occurrence, working)
        changed = changed | {"ModifiedOccurrences"}
    ctx.mailbox.touch(item, changed)
    return conflicts


# Limitation: a modified occurrence keeps its own full copy; later edits of
# the master (subject, location) do not flow into existing exceptions as they
# do on Exchange.  Tests that edit both should re-read the occurrence.
def _store_exception(
    item: StoredItem, original: datetime, working: etree._Element
) -> None:
    for name, value in (("CalendarItemType", "Exception"), ("IsRecurring", "true")):
        element = etree.Element(t(name))
        element.text = value
        insert_ordered(working, element, item.item_type.order)
    item.exceptions[original] = working
    rebuild_occurrence_lists(item)


def delete_item(ctx: OperationContext) -> etree._Element:
    """DeleteItem: hard, soft (to Recoverable Items) or to Deleted Items.

    Deleting an occurrence leaves a gap in its series.
    """
    delete_type = ctx.request.get("DeleteType")
    if delete_type not in _DELETE_TYPES:
        raise schema_fault("The 'DeleteType' attribute is missing or invalid.")
    response = new_response("DeleteItem")
    trash = ctx.mailbox.distinguished["deleteditems"]
    dumpster = ctx.mailbox.distinguished["recoverableitemsdeletions"]
    for ref_element in children(required(ctx.request, "ItemIds")):
        try:
            ref = resolve_item(ctx, ref_element)
        except ItemError as error:
            _error(response, "DeleteItem", error)
            continue
        item = ref.item
        if ref.occurrence is not None:
            item.exceptions.pop(ref.occurrence, None)
            item.deleted_occurrences.add(ref.occurrence)
            rebuild_occurrence_lists(item)
            ctx.mailbox.touch(item, {"DeletedOccurrences"})
        elif delete_type == "HardDelete" or item.folder is dumpster:
            ctx.mailbox.remove(item)
        elif delete_type == "MoveToDeletedItems" and item.folder is not trash:
            ctx.mailbox.move(item, trash)
        else:
            # Soft deletes, and deletes out of Deleted Items, land in the
            # Recoverable Items folder, where Exchange keeps them for recovery.
            ctx.mailbox.move(item, dumpster)
        add_message(response, "DeleteItem")
    return response


def move_item(ctx: OperationContext) -> etree._Element:
    """MoveItem: the moved item gets a new ItemId, as on Exchange."""
    target = _target(ctx, "ToFolderId")
    if target is None:
        raise schema_fault("'ToFolderId' is expected.")
    response = new_response("MoveItem")
    for ref_element in children(required(ctx.request, "ItemIds")):
        try:
            if isinstance(target, ItemError):
                raise target
            ref = resolve_item(ctx, ref_element)
            if ref.occurrence is not None:
                raise ItemError(
                    "ErrorInvalidOperation", "An occurrence cannot be moved alone."
                )
            moved = ctx.mailbox.move(ref.item, target)
        except ItemError as error:
            _error(response, "MoveItem", error)
            continue
        message = add_message(response, "MoveItem")
        etree.SubElement(message, m("Items")).append(_id_only(moved))
    return response
