"""SyncFolderItems: incremental item sync with opaque, folder-bound states.

A sync state names its folder and a position in that folder's change log.
Each round reports every item whose latest change lies after the position,
oldest change first, at most ``MaxChangesReturned`` (1..512) of them: a
``Create`` for items the client has not seen, an ``Update`` for items it has,
a ``Delete`` for items it has seen that are gone.  The returned state points
at the last change reported, so the next round continues exactly there.
"""

from __future__ import annotations

from typing import Final

from lxml import etree

from crm_ews._soap import m, t
from crm_ews.testing._context import (
    OperationContext,
    children,
    optional,
    required,
    resolve_folder,
    text_of,
)
from crm_ews.testing._ids import SyncKind, SyncState
from crm_ews.testing._render import Shape, parse_shape, render_item
from crm_ews.testing._store import Folder
from crm_ews.testing._wire import ItemError, add_message, new_response, schema_fault

#: Bounds of ``MaxChangesReturned`` in the schema.
MAX_CHANGES: Final = 512


def _max_changes(request: etree._Element) -> int:
    raw = (required(request, "MaxChangesReturned").text or "").strip()
    try:
        value = int(raw)
    except ValueError as exc:
        raise schema_fault(
            f"The value '{raw}' of MaxChangesReturned is invalid."
        ) from exc
    if not 1 <= value <= MAX_CHANGES:
        raise schema_fault(
            f"The value '{raw}' of MaxChangesReturned is outside 1..{MAX_CHANGES}."
        )
    return value


def _ignored(request: etree._Element) -> set[str]:
    ignore = optional(request, "Ignore")
    return {ref.get("Id") or "" for ref in children(ignore)}


def _start(ctx: OperationContext, folder: Folder) -> int:
    token = text_of(optional(ctx.request, "SyncState"))
    if not token.strip():
        return 0
    sequence = ctx.sync_states.decode(token, kind=SyncKind.ITEMS, scope_key=folder.key)
    if sequence is None or sequence > folder.sequence:
        raise ItemError(
            "ErrorInvalidSyncStateData",
            "Synchronization state data is corrupt or otherwise invalid.",
        )
    return sequence


def sync_folder_items(ctx: OperationContext) -> etree._Element:
    """SyncFolderItems: one page of changes since the given state."""
    shape = parse_shape(required(ctx.request, "ItemShape"))
    target = children(required(ctx.request, "SyncFolderId"))
    if len(target) != 1:
        raise schema_fault("'SyncFolderId' holds exactly one folder id.")
    limit = _max_changes(ctx.request)
    ignored = _ignored(ctx.request)

    response = new_response("SyncFolderItems")
    try:
        folder = resolve_folder(ctx, target[0])
        since = _start(ctx, folder)
    except ItemError as error:
        message = add_message(
            response, "SyncFolderItems", code=error.code, text=error.text
        )
        etree.SubElement(message, m("SyncState"))
        etree.SubElement(message, m("IncludesLastItemInRange")).text = "true"
        return response

    message = add_message(response, "SyncFolderItems")
    state = etree.SubElement(message, m("SyncState"))
    complete = etree.SubElement(message, m("IncludesLastItemInRange"))
    changes = etree.SubElement(message, m("Changes"))
    position, finished = _fill(folder, since, limit, ignored, shape, changes)
    state.text = ctx.sync_states.encode(SyncState(SyncKind.ITEMS, folder.key, position))
    complete.text = "true" if finished else "false"
    return response


def _fill(
    folder: Folder,
    since: int,
    limit: int,
    ignored: set[str],
    shape: Shape,
    changes: etree._Element,
) -> tuple[int, bool]:
    """Append up to ``limit`` changes; return the new position and completeness."""
    pending = folder.changes_since(since)
    position = since
    reported = 0
    for item_id, number in pending:
        if reported == limit:
            return position, False
        position = number
        if item_id in ignored:
            continue
        item = folder.items.get(item_id)
        if item is not None:
            kind = "Create" if item.created_seq > since else "Update"
            entry = etree.SubElement(changes, t(kind))
            entry.append(render_item(item.element, item.item_type, shape))
            reported += 1
            continue
        tombstone = folder.tombstones.get(item_id)
        if tombstone is not None and tombstone.created_seq <= since:
            deleted = etree.SubElement(changes, t("Delete"))
            etree.SubElement(deleted, t("ItemId"), Id=item_id)
            reported += 1
    return position, True
