"""Item and folder identifiers: ``t:ItemId``, ``t:FolderId`` and friends.

An id names an object; its ``change_key`` names one version of it.  Exchange
refuses an update whose change key is stale, which is how lost updates are
detected (:class:`~crm_ews.errors.EditConflictError`).
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Final

from lxml import etree
from pydantic import Field

from crm_ews._soap import t
from crm_ews.ews._models._base import (
    EWSModel,
    decode_error,
    local_name,
    new_element,
    parse_int,
)
from crm_ews.ews._models._common import Mailbox

__all__ = [
    "DistinguishedFolderId",
    "DistinguishedFolderName",
    "FolderId",
    "ItemId",
    "OccurrenceItemId",
    "folder_id_from_xml",
]

_MAILBOX: Final = t("Mailbox")


def _id_attributes(element: etree._Element) -> tuple[str, str | None]:
    """Read the required ``Id`` and the optional ``ChangeKey`` attribute."""
    value = element.get("Id")
    if not value:
        raise decode_error(f"{local_name(element)} has no Id attribute")
    return value, element.get("ChangeKey")


def _id_attrib(value: str, change_key: str | None) -> dict[str, str]:
    if change_key is None:
        return {"Id": value}
    return {"Id": value, "ChangeKey": change_key}


class ItemId(EWSModel):
    """The id of an item, with the change key of the version it came from."""

    id: Annotated[str, Field(alias="Id", min_length=1)]
    change_key: Annotated[str | None, Field(alias="ChangeKey")] = None

    def to_xml(self, tag: str = "ItemId") -> etree._Element:
        """Build ``t:ItemId Id=".." ChangeKey=".."``."""
        return new_element(tag, attrib=_id_attrib(self.id, self.change_key))

    @classmethod
    def from_xml(cls, element: etree._Element) -> ItemId:
        """Read an ``ItemIdType`` element.

        Raises:
            ResponseDecodeError: The ``Id`` attribute is missing or empty.
        """
        value, change_key = _id_attributes(element)
        return cls._trusted(id=value, change_key=change_key)


class OccurrenceItemId(EWSModel):
    """One occurrence of a recurring series, by master id and 1-based index."""

    recurring_master_id: Annotated[str, Field(alias="RecurringMasterId", min_length=1)]
    instance_index: Annotated[int, Field(alias="InstanceIndex", ge=1)]
    change_key: Annotated[str | None, Field(alias="ChangeKey")] = None

    def to_xml(self) -> etree._Element:
        """Build ``t:OccurrenceItemId``."""
        attrib = {
            "RecurringMasterId": self.recurring_master_id,
            "InstanceIndex": str(self.instance_index),
        }
        if self.change_key is not None:
            attrib["ChangeKey"] = self.change_key
        return new_element("OccurrenceItemId", attrib=attrib)

    @classmethod
    def from_xml(cls, element: etree._Element) -> OccurrenceItemId:
        """Read ``t:OccurrenceItemId``.

        Raises:
            ResponseDecodeError: A required attribute is missing or malformed.
        """
        master = element.get("RecurringMasterId")
        if not master:
            raise decode_error("OccurrenceItemId has no RecurringMasterId attribute")
        index = parse_int(element.get("InstanceIndex"), "InstanceIndex")
        return cls._trusted(
            recurring_master_id=master,
            instance_index=index,
            change_key=element.get("ChangeKey"),
        )


class FolderId(EWSModel):
    """The id of a folder, with its change key."""

    id: Annotated[str, Field(alias="Id", min_length=1)]
    change_key: Annotated[str | None, Field(alias="ChangeKey")] = None

    def to_xml(self, tag: str = "FolderId") -> etree._Element:
        """Build ``t:FolderId Id=".." ChangeKey=".."``."""
        return new_element(tag, attrib=_id_attrib(self.id, self.change_key))

    @classmethod
    def from_xml(cls, element: etree._Element) -> FolderId:
        """Read a ``FolderIdType`` element.

        Raises:
            ResponseDecodeError: The ``Id`` attribute is missing or empty.
        """
        value, change_key = _id_attributes(element)
        if cls is FolderId:
            return _shared_folder_id(value, change_key)
        return cls._trusted(id=value, change_key=change_key)


@lru_cache(maxsize=128)
def _shared_folder_id(value: str, change_key: str | None) -> FolderId:
    # Every item in a page names the same parent folder; ids are frozen
    # values, so one instance serves them all and spares the allocations.
    return FolderId._trusted(id=value, change_key=change_key)


class DistinguishedFolderName(StrEnum):
    """Well-known folders every mailbox has (``DistinguishedFolderIdNameType``).

    Only the folders a CRM sync plausibly addresses are listed; the schema
    has many more (archive and Online-only folders).
    """

    MSGFOLDERROOT = "msgfolderroot"
    ROOT = "root"
    CALENDAR = "calendar"
    CONTACTS = "contacts"
    TASKS = "tasks"
    DELETEDITEMS = "deleteditems"
    INBOX = "inbox"
    DRAFTS = "drafts"
    SENTITEMS = "sentitems"
    OUTBOX = "outbox"
    JUNKEMAIL = "junkemail"
    NOTES = "notes"
    JOURNAL = "journal"
    SEARCHFOLDERS = "searchfolders"
    RECOVERABLEITEMSDELETIONS = "recoverableitemsdeletions"
    CONFLICTS = "conflicts"
    SYNCISSUES = "syncissues"


class DistinguishedFolderId(EWSModel):
    """A well-known folder, optionally in another mailbox than the caller's.

    With impersonation the folder already belongs to the impersonated user, so
    ``mailbox`` is only needed for delegate access.
    """

    id: Annotated[DistinguishedFolderName, Field(alias="Id")]
    mailbox: Annotated[Mailbox | None, Field(alias="Mailbox")] = None

    def to_xml(self) -> etree._Element:
        """Build ``t:DistinguishedFolderId`` with an optional ``t:Mailbox``."""
        element = new_element("DistinguishedFolderId", attrib={"Id": self.id.value})
        if self.mailbox is not None:
            element.append(self.mailbox.to_xml())
        return element

    @classmethod
    def from_xml(cls, element: etree._Element) -> DistinguishedFolderId:
        """Read ``t:DistinguishedFolderId``.

        Raises:
            ResponseDecodeError: ``Id`` is missing or not a folder we know.
        """
        raw = element.get("Id")
        try:
            name = DistinguishedFolderName(raw or "")
        except ValueError:
            raise decode_error(
                f"DistinguishedFolderId has an unknown Id: {(raw or '')[:40]!r}"
            ) from None
        mailbox = None
        for child in element:
            if child.tag == _MAILBOX:
                mailbox = Mailbox.from_xml(child)
        return cls._trusted(id=name, mailbox=mailbox)


_FOLDER_ID: Final = t("FolderId")
_DISTINGUISHED_FOLDER_ID: Final = t("DistinguishedFolderId")


def folder_id_from_xml(element: etree._Element) -> FolderId | DistinguishedFolderId:
    """Read either kind of folder id, by tag.

    Raises:
        ResponseDecodeError: The element is neither kind, or is malformed.
    """
    if element.tag == _FOLDER_ID:
        return FolderId.from_xml(element)
    if element.tag == _DISTINGUISHED_FOLDER_ID:
        return DistinguishedFolderId.from_xml(element)
    raise decode_error(f"{local_name(element)} is not a folder id")
