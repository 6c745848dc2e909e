"""Folder operations: GetFolder, FindFolder, CreateFolder, DeleteFolder and
SyncFolderHierarchy."""

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
from crm_ews.testing._fields import ItemType, local
from crm_ews.testing._ids import SyncKind, SyncState
from crm_ews.testing._query import compile_restriction
from crm_ews.testing._render import Shape, parse_shape, render_folder
from crm_ews.testing._store import FOLDER_TAGS, Folder
from crm_ews.testing._wire import ItemError, add_message, new_response, schema_fault

#: Lets restrictions on ``folder:`` paths run against rendered folders.
_FOLDER_KIND: Final = ItemType(
    tag="Folder",
    item_class="",
    folder_class=None,
    order={},
    prefixes=frozenset({"folder"}),
    wrong_folder_code=None,
)
_ALL_FOLDER_PROPERTIES: Final = Shape(base="AllProperties")

#: Element name -> default folder class for folders created without one.
_DEFAULT_CLASSES: Final = {
    "Folder": "IPF.Note",
    "CalendarFolder": "IPF.Appointment",
    "ContactsFolder": "IPF.Contact",
    "TasksFolder": "IPF.Task",
}


def _target_folder(ctx: OperationContext, container: etree._Element) -> Folder:
    """The folder inside a ``TargetFolderIdType`` element."""
    refs = children(container)
    if len(refs) != 1:
        raise schema_fault(
            f"'{etree.QName(container).localname}' holds exactly one folder id."
        )
    return resolve_folder(ctx, refs[0])


def get_folder(ctx: OperationContext) -> etree._Element:
    """GetFolder: one response message per requested folder."""
    shape = parse_shape(required(ctx.request, "FolderShape"))
    response = new_response("GetFolder")
    for ref in children(required(ctx.request, "FolderIds")):
        try:
            folder = resolve_folder(ctx, ref)
        except ItemError as error:
            add_message(response, "GetFolder", code=error.code, text=error.text)
            continue
        message = add_message(response, "GetFolder")
        etree.SubElement(message, m("Folders")).append(render_folder(folder, shape))
    return response


def _page(request: etree._Element, total: int) -> tuple[int, int, bool]:
    """``(start, stop, from_end)`` of an ``IndexedPageFolderView`` page."""
    view = optional(request, "IndexedPageFolderView")
    if view is None:
        return 0, total, False
    try:
        offset = int(view.get("Offset") or "0")
        limit = int(view.get("MaxEntriesReturned") or str(total))
    except ValueError as exc:
        raise schema_fault("The paging attributes must be integers.") from exc
    if offset < 0 or limit < 1:
        raise ItemError(
            "ErrorInvalidIndexedPagingParameters", "The paging parameters are invalid."
        )
    from_end = view.get("BasePoint") == "End"
    start = max(total - offset - limit, 0) if from_end else min(offset, total)
    stop = max(total - offset, 0) if from_end else min(offset + limit, total)
    return start, stop, from_end


def find_folder(ctx: OperationContext) -> etree._Element:
    """FindFolder: Shallow or Deep, with paging and an optional restriction."""
    traversal = ctx.request.get("Traversal")
    if traversal not in ("Shallow", "Deep", "SoftDeleted"):
        raise schema_fault("The 'Traversal' attribute is invalid.")
    shape = parse_shape(required(ctx.request, "FolderShape"))
    restriction = optional(ctx.request, "Restriction")
    predicate = compile_restriction(restriction) if restriction is not None else None

    response = new_response("FindFolder")
    for ref in children(required(ctx.request, "ParentFolderIds")):
        try:
            parent = resolve_folder(ctx, ref)
            if traversal == "SoftDeleted":
                found: list[Folder] = []
            elif traversal == "Deep":
                found = list(parent.descendants())
            else:
                found = list(parent.children)
            if predicate is not None:
                found = [
                    folder
                    for folder in found
                    if predicate(
                        render_folder(folder, _ALL_FOLDER_PROPERTIES), _FOLDER_KIND
                    )
                ]
            start, stop, _ = _page(ctx.request, len(found))
        except ItemError as error:
            add_message(response, "FindFolder", code=error.code, text=error.text)
            continue

        message = add_message(response, "FindFolder")
        root = etree.SubElement(message, m("RootFolder"))
        root.set("IndexedPagingOffset", str(stop))
        root.set("TotalItemsInView", str(len(found)))
        root.set("IncludesLastItemInRange", "true" if stop >= len(found) else "false")
        container = etree.SubElement(root, t("Folders"))
        for folder in found[start:stop]:
            container.append(render_folder(folder, shape))
    return response


def create_folder(ctx: OperationContext) -> etree._Element:
    """CreateFolder: new folders under one parent; names are unique per parent."""
    response = new_response("CreateFolder")
    parent_error: ItemError | None = None
    parent: Folder | None = None
    try:
        parent = _target_folder(ctx, required(ctx.request, "ParentFolderId"))
    except ItemError as error:
        parent_error = error

    for spec in children(required(ctx.request, "Folders")):
        tag = local(spec)
        if tag not in _DEFAULT_CLASSES:
            raise schema_fault(
                f"The element '{etree.QName(spec).localname}' is not a folder type."
            )
        try:
            if parent_error is not None:
                raise parent_error
            if parent is None:
                raise ItemError(
                    "ErrorFolderNotFound", "The parent folder was not found."
                )
            folder = _create_one(ctx, parent, spec, tag)
        except ItemError as error:
            add_message(response, "CreateFolder", code=error.code, text=error.text)
            continue
        message = add_message(response, "CreateFolder")
        created = etree.SubElement(
            etree.SubElement(message, m("Folders")), t(folder.tag)
        )
        etree.SubElement(
            created, t("FolderId"), Id=folder.folder_id, ChangeKey=folder.change_key
        )
    return response


def _create_one(
    ctx: OperationContext, parent: Folder, spec: etree._Element, tag: str
) -> Folder:
    name = (spec.findtext(t("DisplayName")) or "").strip()
    if not name:
        raise ItemError("ErrorFolderSave", "A folder needs a DisplayName.")
    if ctx.mailbox.folder_named(parent, name) is not None:
        raise ItemError(
            "ErrorFolderExists", "A folder with the specified name already exists."
        )
    folder_class = (spec.findtext(t("FolderClass")) or "").strip() or _DEFAULT_CLASSES[
        tag
    ]
    element_tag = tag
    if tag == "Folder":
        base = folder_class.split(".")[:2]
        element_tag = FOLDER_TAGS.get(".".join(base), "Folder")
    folder = ctx.mailbox.new_folder(name, folder_class, element_tag, parent=parent)
    parent.change_key = folder.change_key
    return folder


def delete_folder(ctx: OperationContext) -> etree._Element:
    """DeleteFolder: distinguished folders cannot be deleted."""
    if ctx.request.get("DeleteType") not in (
        "HardDelete",
        "SoftDelete",
        "MoveToDeletedItems",
    ):
        raise schema_fault("The 'DeleteType' attribute is invalid.")
    response = new_response("DeleteFolder")
    for ref in children(required(ctx.request, "FolderIds")):
        try:
            folder = resolve_folder(ctx, ref)
            if folder.distinguished is not None:
                raise ItemError(
                    "ErrorDeleteDistinguishedFolder",
                    "Distinguished folders cannot be deleted.",
                )
            ctx.mailbox.delete_folder(folder)
        except ItemError as error:
            add_message(response, "DeleteFolder", code=error.code, text=error.text)
            continue
        add_message(response, "DeleteFolder")
    return response


def _is_below(folder: Folder, root: Folder) -> bool:
    parent = folder.parent
    while parent is not None:
        if parent is root:
            return True
        parent = parent.parent
    return False


def sync_folder_hierarchy(ctx: OperationContext) -> etree._Element:
    """SyncFolderHierarchy: every folder change below the sync root at once."""
    shape = parse_shape(required(ctx.request, "FolderShape"))
    response = new_response("SyncFolderHierarchy")
    try:
        target = optional(ctx.request, "SyncFolderId")
        root = _target_folder(ctx, target) if target is not None else ctx.mailbox.root
        token = text_of(optional(ctx.request, "SyncState"))
        since = 0
        if token.strip():
            decoded = ctx.sync_states.decode(
                token, kind=SyncKind.HIERARCHY, scope_key=root.key
            )
            if decoded is None:
                raise ItemError(
                    "ErrorInvalidSyncStateData",
                    "Synchronization state data is corrupt or otherwise invalid.",
                )
            since = decoded
    except ItemError as error:
        message = add_message(
            response, "SyncFolderHierarchy", code=error.code, text=error.text
        )
        etree.SubElement(message, m("SyncState"))
        etree.SubElement(message, m("IncludesLastFolderInRange")).text = "true"
        return response

    mailbox = ctx.mailbox
    message = add_message(response, "SyncFolderHierarchy")
    state = SyncState(SyncKind.HIERARCHY, root.key, mailbox.hierarchy_sequence)
    etree.SubElement(message, m("SyncState")).text = ctx.sync_states.encode(state)
    etree.SubElement(message, m("IncludesLastFolderInRange")).text = "true"
    changes = etree.SubElement(message, m("Changes"))
    for folder_id, number in mailbox.hierarchy_changes.items():
        if number <= since:
            continue
        folder = mailbox.folders.get(folder_id)
        if folder is not None:
            if not _is_below(folder, root):
                continue
            kind = "Create" if folder.created_hseq > since else "Update"
            etree.SubElement(changes, t(kind)).append(render_folder(folder, shape))
        elif mailbox.folder_tombstones.get(folder_id, since + 1) <= since:
            deleted = etree.SubElement(changes, t("Delete"))
            etree.SubElement(deleted, t("FolderId"), Id=folder_id)
    return response
