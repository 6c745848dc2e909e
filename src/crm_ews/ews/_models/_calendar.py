"""Calendar items (``CalendarItemType``): appointments, meetings and series.

Exchange keeps ``Start`` and ``End`` as UTC instants and the event's zone as
a separate Windows time zone id (``StartTimeZone``).  The model joins them:
a start given in a :class:`zoneinfo.ZoneInfo` zone fills ``start_time_zone``
with the matching Windows id, and a decoded item's start and end come back in
the event's own zone whenever that id is known.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Final, Self

from lxml import etree
from pydantic import AwareDatetime, Field, model_validator

from crm_ews._soap import t
from crm_ews.ews._models._base import (
    EWSModel,
    decode_error,
    format_datetime,
    local_name,
    new_element,
    parse_datetime,
    sub_element,
)
from crm_ews.ews._models._common import (
    Attendee,
    LegacyFreeBusyStatus,
    Mailbox,
    ResponseType,
)
from crm_ews.ews._models._fields import (
    BoolCodec,
    Codec,
    DateTimeCodec,
    EnumCodec,
    ListCodec,
    ModelCodec,
    RecipientCodec,
    TextCodec,
    Wire,
)
from crm_ews.ews._models._ids import ItemId
from crm_ews.ews._models._item import Item
from crm_ews.ews._models._recurrence import Recurrence
from crm_ews.ews._timezones import windows_id_for, zone_for_windows_id

__all__ = [
    "CalendarItem",
    "CalendarItemType",
    "DeletedOccurrence",
    "OccurrenceInfo",
]


class CalendarItemType(StrEnum):
    """What part of a series an item is (``CalendarItemTypeType``)."""

    SINGLE = "Single"
    OCCURRENCE = "Occurrence"
    EXCEPTION = "Exception"
    RECURRING_MASTER = "RecurringMaster"


_ITEM_ID: Final = t("ItemId")
_START: Final = t("Start")
_END: Final = t("End")
_ORIGINAL_START: Final = t("OriginalStart")


class OccurrenceInfo(EWSModel):
    """Where one occurrence of a series is (``OccurrenceInfoType``); read-only."""

    item_id: Annotated[ItemId, Field(alias="ItemId")]
    start: Annotated[AwareDatetime, Field(alias="Start")]
    end: Annotated[AwareDatetime, Field(alias="End")]
    original_start: Annotated[AwareDatetime, Field(alias="OriginalStart")]

    def to_xml(self, tag: str = "Occurrence") -> etree._Element:
        """Build the element, as a test double answering GetItem would."""
        element = new_element(tag)
        element.append(self.item_id.to_xml())
        sub_element(element, "Start", format_datetime(self.start))
        sub_element(element, "End", format_datetime(self.end))
        sub_element(element, "OriginalStart", format_datetime(self.original_start))
        return element

    @classmethod
    def from_xml(cls, element: etree._Element) -> OccurrenceInfo:
        """Read an ``OccurrenceInfoType`` element.

        Raises:
            ResponseDecodeError: One of its four required children is missing.
        """
        values: dict[str, Any] = {}
        for child in element:
            tag = child.tag
            if tag == _ITEM_ID:
                values["item_id"] = ItemId.from_xml(child)
            elif tag == _START:
                values["start"] = parse_datetime(child.text, "Start")
            elif tag == _END:
                values["end"] = parse_datetime(child.text, "End")
            elif tag == _ORIGINAL_START:
                values["original_start"] = parse_datetime(child.text, "OriginalStart")
        if len(values) != 4:
            raise decode_error(f"{local_name(element)} is incomplete")
        return cls._trusted(**values)


class DeletedOccurrence(EWSModel):
    """An occurrence removed from a series, by its original start; read-only."""

    start: Annotated[AwareDatetime, Field(alias="Start")]

    def to_xml(self, tag: str = "DeletedOccurrence") -> etree._Element:
        """Build ``t:DeletedOccurrence``."""
        element = new_element(tag)
        sub_element(element, "Start", format_datetime(self.start))
        return element

    @classmethod
    def from_xml(cls, element: etree._Element) -> DeletedOccurrence:
        """Read ``t:DeletedOccurrence``.

        Raises:
            ResponseDecodeError: ``t:Start`` is missing or malformed.
        """
        for child in element:
            if child.tag == _START:
                return cls._trusted(start=parse_datetime(child.text, "Start"))
        raise decode_error("DeletedOccurrence has no Start")


class _TimeZoneCodec(Codec):
    """``TimeZoneDefinitionType`` reduced to its Windows ``Id``.

    Exchange 2010 and later accept a definition that names the zone by ``Id``
    alone and fill in the rules themselves; responses carry the full rules,
    which the id already determines.
    """

    # Limitation: a zone Exchange knows only by its rules (an id such as
    # "Customized Time Zone", from an invitation by a foreign system) decodes
    # with start/end in UTC and the raw id kept; the rules themselves are
    # dropped.  Writing such an item back with that id may be refused, so
    # callers should replace start_time_zone with a real Windows id (or leave
    # it to be derived from a ZoneInfo start) before updating.

    def append(
        self, parent: etree._Element, tag: str, value: Any, *, full: bool
    ) -> None:
        sub_element(parent, tag, attrib={"Id": value})

    def decode(self, element: etree._Element) -> str | None:
        return element.get("Id") or None


def _encode_attendee(value: Any, tag: str, full: bool) -> etree._Element:
    attendee: Attendee = value
    return attendee.to_xml(tag, full=full)


def _encode_model(value: Any, tag: str, full: bool) -> etree._Element:
    element: etree._Element = value.to_xml(tag)
    return element


_TEXT: Final = TextCodec()
_BOOL: Final = BoolCodec()
_DATETIME: Final = DateTimeCodec()
_ZONE: Final = _TimeZoneCodec()
_ATTENDEES: Final = ListCodec("Attendee", _encode_attendee, Attendee.from_xml)

#: Pairs of (datetime field, its time zone field) with their aliases.
_ZONED_FIELDS: Final = (
    ("start", "Start", "start_time_zone", "StartTimeZone"),
    ("end", "End", "end_time_zone", "EndTimeZone"),
)


class CalendarItem(Item):
    """An appointment, a meeting, or a recurring series' master or exception.

    ``start``/``end`` must be timezone-aware.  When ``start_time_zone`` is not
    given and ``start`` carries a :class:`zoneinfo.ZoneInfo` (or UTC), the
    Windows id of that zone is filled in, so Exchange shows the event in the
    zone it was planned in; likewise for ``end``.

    Fields from ``is_meeting`` through ``my_response_type``, ``organizer``,
    and the occurrence lists are the server's (read-only).

    Warning:
        Within one zone Python subtracts wall-clock times, so ``end - start``
        of a meeting that spans a DST switch is off by the shift; convert
        both to UTC first to get its real length.

        For an all-day event, ``start`` and ``end`` must be midnights in the
        event's time zone, and ``end`` is the midnight after the last day.

    Raises:
        ValueError: A datetime is naive, or ``end`` is before ``start``.
    """

    element_tag: ClassVar[str] = "CalendarItem"

    uid: Annotated[str | None, Field(alias="UID"), Wire("calendar:UID", _TEXT)] = None
    start: Annotated[
        AwareDatetime | None, Field(alias="Start"), Wire("calendar:Start", _DATETIME)
    ] = None
    end: Annotated[
        AwareDatetime | None, Field(alias="End"), Wire("calendar:End", _DATETIME)
    ] = None
    is_all_day_event: Annotated[
        bool | None,
        Field(alias="IsAllDayEvent"),
        Wire("calendar:IsAllDayEvent", _BOOL),
    ] = None
    legacy_free_busy_status: Annotated[
        LegacyFreeBusyStatus | None,
        Field(alias="LegacyFreeBusyStatus"),
        Wire("calendar:LegacyFreeBusyStatus", EnumCodec(LegacyFreeBusyStatus)),
    ] = None
    location: Annotated[
        str | None, Field(alias="Location"), Wire("calendar:Location", _TEXT)
    ] = None
    is_meeting: Annotated[
        bool | None,
        Field(alias="IsMeeting"),
        Wire("calendar:IsMeeting", _BOOL, read_only=True),
    ] = None
    is_cancelled: Annotated[
        bool | None,
        Field(alias="IsCancelled"),
        Wire("calendar:IsCancelled", _BOOL, read_only=True),
    ] = None
    is_recurring: Annotated[
        bool | None,
        Field(alias="IsRecurring"),
        Wire("calendar:IsRecurring", _BOOL, read_only=True),
    ] = None
    calendar_item_type: Annotated[
        CalendarItemType | None,
        Field(alias="CalendarItemType"),
        Wire(
            "calendar:CalendarItemType",
            EnumCodec(CalendarItemType),
            read_only=True,
        ),
    ] = None
    my_response_type: Annotated[
        ResponseType | None,
        Field(alias="MyResponseType"),
        Wire("calendar:MyResponseType", EnumCodec(ResponseType), read_only=True),
    ] = None
    organizer: Annotated[
        Mailbox | None,
        Field(alias="Organizer"),
        Wire("calendar:Organizer", RecipientCodec(), read_only=True),
    ] = None
    required_attendees: Annotated[
        tuple[Attendee, ...],
        Field(alias="RequiredAttendees"),
        Wire("calendar:RequiredAttendees", _ATTENDEES, in_summary=False),
    ] = ()
    optional_attendees: Annotated[
        tuple[Attendee, ...],
        Field(alias="OptionalAttendees"),
        Wire("calendar:OptionalAttendees", _ATTENDEES, in_summary=False),
    ] = ()
    recurrence: Annotated[
        Recurrence | None,
        Field(alias="Recurrence"),
        Wire("calendar:Recurrence", ModelCodec(Recurrence.from_xml), in_summary=False),
    ] = None
    first_occurrence: Annotated[
        OccurrenceInfo | None,
        Field(alias="FirstOccurrence"),
        Wire(
            "calendar:FirstOccurrence",
            ModelCodec(OccurrenceInfo.from_xml),
            read_only=True,
            in_summary=False,
        ),
    ] = None
    last_occurrence: Annotated[
        OccurrenceInfo | None,
        Field(alias="LastOccurrence"),
        Wire(
            "calendar:LastOccurrence",
            ModelCodec(OccurrenceInfo.from_xml),
            read_only=True,
            in_summary=False,
        ),
    ] = None
    modified_occurrences: Annotated[
        tuple[OccurrenceInfo, ...],
        Field(alias="ModifiedOccurrences"),
        Wire(
            "calendar:ModifiedOccurrences",
            ListCodec("Occurrence", _encode_model, OccurrenceInfo.from_xml),
            read_only=True,
            in_summary=False,
        ),
    ] = ()
    deleted_occurrences: Annotated[
        tuple[DeletedOccurrence, ...],
        Field(alias="DeletedOccurrences"),
        Wire(
            "calendar:DeletedOccurrences",
            ListCodec("DeletedOccurrence", _encode_model, DeletedOccurrence.from_xml),
            read_only=True,
            in_summary=False,
        ),
    ] = ()
    start_time_zone: Annotated[
        str | None,
        Field(alias="StartTimeZone", min_length=1),
        Wire("calendar:StartTimeZone", _ZONE, in_summary=False),
    ] = None
    end_time_zone: Annotated[
        str | None,
        Field(alias="EndTimeZone", min_length=1),
        Wire("calendar:EndTimeZone", _ZONE, in_summary=False),
    ] = None

    @model_validator(mode="before")
    @classmethod
    def _derive_time_zones(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            return _with_derived_zones(data)
        return data

    @model_validator(mode="after")
    def _check_order(self) -> Self:
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError("end must not be before start")
        return self

    @classmethod
    def _construct(cls, values: dict[str, Any]) -> Self:
        # Show start and end in the event's own zone when Exchange names one
        # we know; otherwise they stay in UTC, which is still the same instant.
        start_zone_id = values.get("start_time_zone")
        end_zone_id = values.get("end_time_zone") or start_zone_id
        if start_zone_id and "start" in values:
            zone = zone_for_windows_id(start_zone_id)
            if zone is not None:
                values["start"] = values["start"].astimezone(zone)
        if end_zone_id and "end" in values:
            zone = zone_for_windows_id(end_zone_id)
            if zone is not None:
                values["end"] = values["end"].astimezone(zone)
        return cls._trusted(**values)

    @classmethod
    def complete_updates(cls, updates: Mapping[str, object]) -> dict[str, object]:
        """Add ``start_time_zone``/``end_time_zone`` implied by zoned datetimes."""
        return _with_derived_zones(updates)


def _with_derived_zones(data: Mapping[str, Any]) -> dict[str, Any]:
    """Fill each missing time zone field from its datetime's ``ZoneInfo``."""
    result = dict(data)
    for name, alias, zone_name, zone_alias in _ZONED_FIELDS:
        if zone_name in result or zone_alias in result:
            continue
        value = result.get(name, result.get(alias))
        if isinstance(value, datetime):
            windows = windows_id_for(value.tzinfo)
            if windows is not None:
                result[zone_name] = windows
    return result
