"""Response shapes: which properties of a stored item or folder go out.

``ItemShape``/``FolderShape`` requests name a base shape (``IdOnly``,
``Default``, ``AllProperties``) plus ``AdditionalProperties``.  Like Exchange,
properties that an item does not have are simply left out, properties of
other item types are ignored, and extended properties are returned only when
asked for by name.
"""

from __future__ import annotations

import copy
import html
import re
from dataclasses import dataclass
from typing import Final

from lxml import etree

from crm_ews._soap import t
from crm_ews.testing._fields import (
    FieldPath,
    ItemType,
    local,
    matches_extended,
    path_children,
)
from crm_ews.testing._store import Folder
from crm_ews.testing._wire import schema_fault

_BASE_SHAPES: Final = frozenset({"IdOnly", "Default", "AllProperties"})

#: Never part of a base shape: expensive or only returned on request.
_NEVER_IMPLIED: Final = frozenset({"MimeContent", "ExtendedProperty"})

#: Left out of the ``Default`` shape (bodies, lists, recurrence details).
# Limitation: Exchange's Default shape is a fixed per-type property list;
# this approximation returns every other stored property, so a client relying
# on Default omitting something sees more.  Clients that ask for IdOnly plus
# named properties (as crm_ews and exchangelib do) see no difference.
_NOT_IN_DEFAULT: Final = frozenset(
    {
        "Body",
        "UniqueBody",
        "TextBody",
        "NormalizedBody",
        "Attachments",
        "InternetMessageHeaders",
        "RequiredAttendees",
        "OptionalAttendees",
        "Resources",
        "Recurrence",
        "ModifiedOccurrences",
        "DeletedOccurrences",
        "EmailAddresses",
        "PhysicalAddresses",
        "PhoneNumbers",
        "ImAddresses",
    }
)

#: Properties ``FindItem`` does not return; clients fetch them with GetItem.
# Limitation: Exchange returns shortened forms of some of these in FindItem
# (an Organizer's name, a truncated preview); the simulator omits them
# entirely, which is the stricter behaviour for clients.
FIND_ITEM_EXCLUDED: Final = frozenset(
    {
        "MimeContent",
        "Body",
        "UniqueBody",
        "TextBody",
        "NormalizedBody",
        "Attachments",
        "InternetMessageHeaders",
        "RequiredAttendees",
        "OptionalAttendees",
        "Resources",
        "Recurrence",
        "ModifiedOccurrences",
        "DeletedOccurrences",
    }
)

_TAG_RE: Final = re.compile(r"<[^>]*>")


@dataclass(frozen=True, slots=True)
class Shape:
    """A parsed ``ItemShape`` or ``FolderShape``."""

    base: str
    additional: tuple[FieldPath, ...] = ()
    body_type: str | None = None


def parse_shape(element: etree._Element | None) -> Shape:
    """Parse an ``ItemShape``/``FolderShape`` element.

    Raises:
        SimulatorFault: ``ErrorSchemaValidation`` when ``BaseShape`` is absent
            or unknown.
    """
    if element is None:
        raise schema_fault("The response shape element is missing.")
    base = (element.findtext(t("BaseShape")) or "").strip()
    if base not in _BASE_SHAPES:
        raise schema_fault(f"The BaseShape value '{base}' is invalid.")
    body_type = element.findtext(t("BodyType"))
    return Shape(
        base=base,
        additional=tuple(path_children(element.find(t("AdditionalProperties")))),
        body_type=body_type.strip() if body_type else None,
    )


def _implied(name: str, base: str, excluded: frozenset[str]) -> bool:
    if name == "ItemId" or name == "FolderId":
        return True
    if name in _NEVER_IMPLIED or name in excluded or base == "IdOnly":
        return False
    return base == "AllProperties" or name not in _NOT_IN_DEFAULT


def render_item(
    stored: etree._Element,
    item_type: ItemType,
    shape: Shape,
    *,
    excluded: frozenset[str] = frozenset(),
) -> etree._Element:
    """A fresh element with the properties of ``stored`` that ``shape`` asks for."""
    wanted: set[str] = set()
    entries: dict[str, list[FieldPath]] = {}
    extended = []
    for path in shape.additional:
        if not path.applies_to(item_type):
            continue
        if path.extended is not None:
            extended.append(path.extended)
        elif path.element is not None and path.element not in excluded:
            if path.index is None:
                wanted.add(path.element)
            else:
                entries.setdefault(path.element, []).append(path)

    # One deep copy of the whole item, then pruning, costs far less than a
    # copy per property: lxml gives every copied subtree its own document.
    out = _deep(stored)
    out.attrib.clear()
    out.text = out.tail = None
    for child in list(out):
        name = local(child)
        if name == "ExtendedProperty":
            keep = any(matches_extended(child, key) for key in extended)
        elif name in wanted or _implied(name, shape.base, excluded):
            keep = True
            if name == "Body" and shape.body_type in ("Text", "HTML"):
                _convert_body(child, shape.body_type)
        elif name in entries:
            keep = _keep_entries(child, entries[name])
        else:
            keep = False
        if not keep:
            out.remove(child)
    return out


def _keep_entries(container: etree._Element, paths: list[FieldPath]) -> bool:
    """Prune a copied indexed container (``EmailAddresses``...) to the
    requested entries; whether any is left."""
    for entry in list(container):
        requested = [path for path in paths if entry.get("Key") == path.index]
        if not requested:
            container.remove(entry)
            continue
        if any(path.part is None for path in requested):
            continue
        parts = {path.part for path in requested}
        key = entry.get("Key") or ""
        entry.attrib.clear()
        entry.set("Key", key)
        entry.text = None
        for part in list(entry):
            if local(part) not in parts:
                entry.remove(part)
        if len(entry) == 0:
            container.remove(entry)
    return len(container) > 0


def _deep(element: etree._Element) -> etree._Element:
    return copy.deepcopy(element)


def _convert_body(body: etree._Element, wanted: str) -> None:
    current = body.get("BodyType", "Text")
    text = body.text or ""
    if current == wanted:
        return
    if wanted == "Text":
        body.text = html.unescape(_TAG_RE.sub("", text)).strip()
    else:
        body.text = f"<html><body>{html.escape(text)}</body></html>"
    body.set("BodyType", wanted)


_EFFECTIVE_RIGHTS: Final = (
    "CreateAssociated",
    "CreateContents",
    "CreateHierarchy",
    "Delete",
    "Modify",
    "Read",
    "ViewPrivateItems",
)


def _folder_value(folder: Folder, name: str) -> etree._Element | None:
    element = etree.Element(t(name))
    if name == "FolderId":
        element.set("Id", folder.folder_id)
        element.set("ChangeKey", folder.change_key)
    elif name == "ParentFolderId":
        if folder.parent is None:
            return None
        element.set("Id", folder.parent.folder_id)
        element.set("ChangeKey", folder.parent.change_key)
    elif name == "FolderClass":
        if folder.folder_class is None:
            return None
        element.text = folder.folder_class
    elif name == "DisplayName":
        element.text = folder.display_name
    elif name == "TotalCount":
        element.text = str(len(folder.items))
    elif name == "ChildFolderCount":
        element.text = str(len(folder.children))
    elif name == "UnreadCount":
        if folder.tag not in ("Folder", "TasksFolder"):
            return None
        element.text = "0"
    elif name == "EffectiveRights":
        for right in _EFFECTIVE_RIGHTS:
            etree.SubElement(element, t(right)).text = "true"
    else:
        return None
    return element


_FOLDER_ORDER: Final = (
    "FolderId",
    "ParentFolderId",
    "FolderClass",
    "DisplayName",
    "TotalCount",
    "ChildFolderCount",
    "EffectiveRights",
    "UnreadCount",
)
_FOLDER_DEFAULT: Final = frozenset(
    {"FolderId", "DisplayName", "TotalCount", "ChildFolderCount", "UnreadCount"}
)


def render_folder(folder: Folder, shape: Shape) -> etree._Element:
    """A ``t:Folder``/``t:CalendarFolder``... element for ``folder``."""
    wanted = {
        path.element
        for path in shape.additional
        if path.prefix == "folder" and path.element is not None
    }
    if shape.base == "AllProperties":
        wanted.update(_FOLDER_ORDER)
    elif shape.base == "Default":
        wanted.update(_FOLDER_DEFAULT)
    wanted.add("FolderId")

    out = etree.Element(t(folder.tag))
    for name in _FOLDER_ORDER:
        if name in wanted:
            value = _folder_value(folder, name)
            if value is not None:
                out.append(value)
    return out
