"""Typed EWS items, folders and ids, and their XML encoding.

Everything here is a frozen pydantic model with snake_case fields whose
aliases are the EWS wire names.  Models build their own request elements
(``to_xml``) and decode response elements (``from_xml``,
:func:`item_from_xml`, :func:`folder_from_xml`); decoding raises
:class:`~crm_ews.errors.ResponseDecodeError` for malformed data and skips
elements it does not know.
"""

from __future__ import annotations

from crm_ews.ews._models._base import EWSModel
from crm_ews.ews._models._calendar import (
    CalendarItem,
    CalendarItemType,
    DeletedOccurrence,
    OccurrenceInfo,
)
from crm_ews.ews._models._changes import ItemChange
from crm_ews.ews._models._common import (
    Attendee,
    Body,
    BodyType,
    Importance,
    LegacyFreeBusyStatus,
    Mailbox,
    MailboxType,
    ResponseType,
    Sensitivity,
)
from crm_ews.ews._models._contact import (
    Contact,
    EmailAddress,
    EmailAddressKey,
    PhoneNumber,
    PhoneNumberKey,
    PhysicalAddress,
    PhysicalAddressKey,
)
from crm_ews.ews._models._extended import (
    DistinguishedPropertySet,
    ExtendedProperty,
    ExtendedPropertyKey,
    MapiPropertyType,
)
from crm_ews.ews._models._fields import FieldSpec
from crm_ews.ews._models._folder import Folder, FolderKind, folder_from_xml
from crm_ews.ews._models._ids import (
    DistinguishedFolderId,
    DistinguishedFolderName,
    FolderId,
    ItemId,
    OccurrenceItemId,
    folder_id_from_xml,
)
from crm_ews.ews._models._item import Item, item_from_xml
from crm_ews.ews._models._recurrence import (
    AbsoluteMonthlyRecurrence,
    AbsoluteYearlyRecurrence,
    DailyRecurrence,
    DayOfWeek,
    DayOfWeekIndex,
    EndDateRecurrence,
    Month,
    NoEndRecurrence,
    NumberedRecurrence,
    Recurrence,
    RecurrencePattern,
    RecurrenceRange,
    RelativeMonthlyRecurrence,
    RelativeYearlyRecurrence,
    WeeklyRecurrence,
)
from crm_ews.ews._models._task import Task, TaskStatus

__all__ = [
    "AbsoluteMonthlyRecurrence",
    "AbsoluteYearlyRecurrence",
    "Attendee",
    "Body",
    "BodyType",
    "CalendarItem",
    "CalendarItemType",
    "Contact",
    "DailyRecurrence",
    "DayOfWeek",
    "DayOfWeekIndex",
    "DeletedOccurrence",
    "DistinguishedFolderId",
    "DistinguishedFolderName",
    "DistinguishedPropertySet",
    "EWSModel",
    "EmailAddress",
    "EmailAddressKey",
    "EndDateRecurrence",
    "ExtendedProperty",
    "ExtendedPropertyKey",
    "FieldSpec",
    "Folder",
    "FolderId",
    "FolderKind",
    "Importance",
    "Item",
    "ItemChange",
    "ItemId",
    "LegacyFreeBusyStatus",
    "Mailbox",
    "MailboxType",
    "MapiPropertyType",
    "Month",
    "NoEndRecurrence",
    "NumberedRecurrence",
    "OccurrenceInfo",
    "OccurrenceItemId",
    "PhoneNumber",
    "PhoneNumberKey",
    "PhysicalAddress",
    "PhysicalAddressKey",
    "Recurrence",
    "RecurrencePattern",
    "RecurrenceRange",
    "RelativeMonthlyRecurrence",
    "RelativeYearlyRecurrence",
    "ResponseType",
    "Sensitivity",
    "Task",
    "TaskStatus",
    "WeeklyRecurrence",
    "folder_from_xml",
    "folder_id_from_xml",
    "item_from_xml",
]
