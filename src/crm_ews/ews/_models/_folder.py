"""Folders: the containers items live in, of five kinds.

The kind is the element name (``t:Folder``, ``t:CalendarFolder``...); the
model keeps it in :attr:`Folder.kind` rather than in five classes, since the
fields a sync needs are the same for all of them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Final

from lxml import etree
from pydantic import Field

from crm_ews._soap import t
from crm_ews.ews._models._base import (
    EWSModel,
    decode_error,
    local_name,
    new_element,
    parse_int,
    sub_element,
)
from crm_ews.ews._models._ids import FolderId

__all__ = ["Folder", "FolderKind", "folder_from_xml"]


class FolderKind(StrEnum):
    """The element a folder is sent as; it decides which items it holds."""

    FOLDER = "Folder"
    CALENDAR_FOLDER = "CalendarFolder"
    CONTACTS_FOLDER = "ContactsFolder"
    TASKS_FOLDER = "TasksFolder"
    SEARCH_FOLDER = "SearchFolder"


#: Kinds whose schema type derives from ``FolderType`` and so has UnreadCount.
_HAS_UNREAD_COUNT: Final = frozenset(
    {FolderKind.FOLDER, FolderKind.TASKS_FOLDER, FolderKind.SEARCH_FOLDER}
)

_KIND_BY_CLARK: Final = {t(kind.value): kind for kind in FolderKind}

_FOLDER_ID: Final = t("FolderId")
_PARENT_FOLDER_ID: Final = t("ParentFolderId")
_FOLDER_CLASS: Final = t("FolderClass")
_DISPLAY_NAME: Final = t("DisplayName")
_TOTAL_COUNT: Final = t("TotalCount")
_CHILD_FOLDER_COUNT: Final = t("ChildFolderCount")
_UNREAD_COUNT: Final = t("UnreadCount")

#: The properties a folder shape asks for, in schema order.
_SHAPE_URIS: Final = (
    "folder:FolderId",
    "folder:ParentFolderId",
    "folder:FolderClass",
    "folder:DisplayName",
    "folder:TotalCount",
    "folder:ChildFolderCount",
    "folder:UnreadCount",
)


class Folder(EWSModel):
    """A mailbox folder.

    ``folder_class`` is the MAPI container class (``"IPF.Appointment"``,
    ``"IPF.Contact"``, ``"IPF.Task"``, ``"IPF.Note"``).  Ids and counts are
    the server's (read-only).
    """

    kind: FolderKind = FolderKind.FOLDER
    folder_id: Annotated[FolderId | None, Field(alias="FolderId")] = None
    parent_folder_id: Annotated[FolderId | None, Field(alias="ParentFolderId")] = None
    folder_class: Annotated[str | None, Field(alias="FolderClass")] = None
    display_name: Annotated[str | None, Field(alias="DisplayName")] = None
    total_count: Annotated[int | None, Field(alias="TotalCount", ge=0)] = None
    child_folder_count: Annotated[int | None, Field(alias="ChildFolderCount", ge=0)] = (
        None
    )
    unread_count: Annotated[int | None, Field(alias="UnreadCount", ge=0)] = None

    def to_xml(self, *, include_read_only: bool = False) -> etree._Element:
        """Build the folder element (for CreateFolder) in schema order.

        Only ``folder_class`` and ``display_name`` are sent, unless
        ``include_read_only`` asks for the ids and counts too.
        """
        element = new_element(self.kind.value)
        if include_read_only and self.folder_id is not None:
            element.append(self.folder_id.to_xml("FolderId"))
        if include_read_only and self.parent_folder_id is not None:
            element.append(self.parent_folder_id.to_xml("ParentFolderId"))
        if self.folder_class is not None:
            sub_element(element, "FolderClass", self.folder_class)
        if self.display_name is not None:
            sub_element(element, "DisplayName", self.display_name)
        if include_read_only:
            if self.total_count is not None:
                sub_element(element, "TotalCount", str(self.total_count))
            if self.child_folder_count is not None:
                sub_element(element, "ChildFolderCount", str(self.child_folder_count))
            if self.unread_count is not None and self.kind in _HAS_UNREAD_COUNT:
                sub_element(element, "UnreadCount", str(self.unread_count))
        return element

    @classmethod
    def from_xml(cls, element: etree._Element) -> Folder:
        """Read any of the five folder elements; the tag gives the kind.

        Raises:
            ResponseDecodeError: The element is not a folder, or a known child
                is malformed.
        """
        kind = _KIND_BY_CLARK.get(str(element.tag))
        if kind is None:
            raise decode_error(f"{local_name(element)} is not a folder")
        values: dict[str, Any] = {"kind": kind}
        for child in element:
            tag = child.tag
            if tag == _FOLDER_ID:
                values["folder_id"] = FolderId.from_xml(child)
            elif tag == _PARENT_FOLDER_ID:
                values["parent_folder_id"] = FolderId.from_xml(child)
            elif tag == _FOLDER_CLASS:
                values["folder_class"] = child.text or ""
            elif tag == _DISPLAY_NAME:
                values["display_name"] = child.text or ""
            elif tag == _TOTAL_COUNT:
                values["total_count"] = parse_int(child.text, "TotalCount")
            elif tag == _CHILD_FOLDER_COUNT:
                values["child_folder_count"] = parse_int(child.text, "ChildFolderCount")
            elif tag == _UNREAD_COUNT:
                values["unread_count"] = parse_int(child.text, "UnreadCount")
        return cls._trusted(**values)

    @classmethod
    def shape_elements(cls) -> list[etree._Element]:
        """``t:FieldURI`` paths for every property the model maps."""
        return [
            new_element("FieldURI", attrib={"FieldURI": uri}) for uri in _SHAPE_URIS
        ]


def folder_from_xml(element: etree._Element) -> Folder:
    """Decode a ``t:Folder``/``t:CalendarFolder``/... element.

    Raises:
        ResponseDecodeError: The element is not a folder or is malformed.
    """
    return Folder.from_xml(element)
