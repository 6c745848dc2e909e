"""Decoding server responses: tolerant of extras, strict about broken data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from lxml import etree

from crm_ews._soap import TYPES_NS, parse_xml
from crm_ews.errors import ResponseDecodeError
from crm_ews.ews._models import (
    Attendee,
    CalendarItem,
    CalendarItemType,
    Contact,
    DistinguishedFolderId,
    EmailAddressKey,
    ExtendedProperty,
    Folder,
    FolderId,
    FolderKind,
    Item,
    ItemId,
    NumberedRecurrence,
    OccurrenceItemId,
    PhoneNumberKey,
    Recurrence,
    ResponseType,
    Task,
    WeeklyRecurrence,
    folder_from_xml,
    folder_id_from_xml,
    item_from_xml,
)


def _parse(body: str) -> etree._Element:
    return parse_xml(f'<t:X xmlns:t="{TYPES_NS}">{body}</t:X>'.encode())[0]


CALENDAR_ITEM = """
<t:CalendarItem>
  <t:ItemId Id="AAMk1" ChangeKey="DwAA1"/>
  <t:ParentFolderId Id="AAMkF" ChangeKey="AQAA"/>
  <t:ItemClass>IPM.Appointment</t:ItemClass>
  <t:Subject>Planning</t:Subject>
  <t:Body BodyType="HTML" IsTruncated="false">&lt;p&gt;Agenda&lt;/p&gt;</t:Body>
  <t:DateTimeReceived>2024-03-01T08:00:00Z</t:DateTimeReceived>
  <t:Size>4096</t:Size>
  <t:Categories><t:String>Red</t:String></t:Categories>
  <t:Importance>Normal</t:Importance>
  <t:ResponseObjects><t:AcceptItem/></t:ResponseObjects>
  <t:ReminderIsSet>true</t:ReminderIsSet>
  <t:ReminderMinutesBeforeStart>15</t:ReminderMinutesBeforeStart>
  <t:ExtendedProperty>
    <t:ExtendedFieldURI DistinguishedPropertySetId="PublicStrings"
        PropertyName="crm_id" PropertyType="String"/>
    <t:Value>42</t:Value>
  </t:ExtendedProperty>
  <t:ExtendedProperty>
    <t:ExtendedFieldURI PropertyTag="0x3007" PropertyType="SystemTime"/>
    <t:Value>2024-03-01T08:00:00Z</t:Value>
  </t:ExtendedProperty>
  <t:LastModifiedTime>2024-03-02T09:30:00.123Z</t:LastModifiedTime>
  <t:UID>040000008200E00074C5B7101A82E008</t:UID>
  <t:Start>2024-03-31T00:30:00Z</t:Start>
  <t:End>2024-03-31T01:30:00+00:00</t:End>
  <t:IsAllDayEvent>false</t:IsAllDayEvent>
  <t:LegacyFreeBusyStatus>Busy</t:LegacyFreeBusyStatus>
  <t:Location>Room 1</t:Location>
  <t:IsMeeting>true</t:IsMeeting>
  <t:IsCancelled>false</t:IsCancelled>
  <t:IsRecurring>false</t:IsRecurring>
  <t:CalendarItemType>RecurringMaster</t:CalendarItemType>
  <t:MyResponseType>Organizer</t:MyResponseType>
  <t:Organizer><t:Mailbox><t:Name>Alice</t:Name>
    <t:EmailAddress>alice@example.com</t:EmailAddress>
    <t:RoutingType>SMTP</t:RoutingType><t:MailboxType>Mailbox</t:MailboxType>
  </t:Mailbox></t:Organizer>
  <t:RequiredAttendees><t:Attendee>
    <t:Mailbox><t:Name>Bob</t:Name><t:EmailAddress>bob@example.com</t:EmailAddress></t:Mailbox>
    <t:ResponseType>Accept</t:ResponseType>
    <t:LastResponseTime>2024-03-01T10:00:00Z</t:LastResponseTime>
  </t:Attendee></t:RequiredAttendees>
  <t:Recurrence>
    <t:WeeklyRecurrence><t:Interval>1</t:Interval>
      <t:DaysOfWeek>Sunday</t:DaysOfWeek><t:FirstDayOfWeek>Monday</t:FirstDayOfWeek>
    </t:WeeklyRecurrence>
    <t:NumberedRecurrence><t:StartDate>2024-03-31+02:00</t:StartDate>
      <t:NumberOfOccurrences>4</t:NumberOfOccurrences></t:NumberedRecurrence>
  </t:Recurrence>
  <t:FirstOccurrence><t:ItemId Id="O1"/><t:Start>2024-03-31T00:30:00Z</t:Start>
    <t:End>2024-03-31T01:30:00Z</t:End><t:OriginalStart>2024-03-31T00:30:00Z</t:OriginalStart>
  </t:FirstOccurrence>
  <t:DeletedOccurrences><t:DeletedOccurrence><t:Start>2024-04-07T00:30:00Z</t:Start>
  </t:DeletedOccurrence></t:DeletedOccurrences>
  <t:StartTimeZone Id="W. Europe Standard Time" Name="(UTC+01:00) Amsterdam">
    <t:Periods>
      <t:Period Bias="-P0DT1H0M0.0S" Name="Standard" Id="trule:Std"/>
    </t:Periods>
    <t:TransitionsGroups><t:TransitionsGroup Id="0">
      <t:Transition><t:To Kind="Period">trule:Std</t:To>
      </t:Transition>
    </t:TransitionsGroup></t:TransitionsGroups>
    <t:Transitions><t:Transition><t:To Kind="Group">0</t:To>
    </t:Transition></t:Transitions>
  </t:StartTimeZone>
  <t:EndTimeZone Id="W. Europe Standard Time"/>
  <t:IsOnlineMeeting>false</t:IsOnlineMeeting>
  <t:SomethingFromTheFuture><t:Nested/></t:SomethingFromTheFuture>
</t:CalendarItem>
"""


def test_calendar_item_from_a_full_response() -> None:
    """A realistic GetItem answer decodes every mapped field and skips the rest."""
    item = item_from_xml(_parse(CALENDAR_ITEM))

    assert isinstance(item, CalendarItem)
    assert item.item_id == ItemId(id="AAMk1", change_key="DwAA1")
    assert item.subject == "Planning"
    assert item.body is not None
    assert item.body.content == "<p>Agenda</p>"
    assert item.categories == ("Red",)
    assert item.reminder_minutes_before_start == 15
    assert [prop.value for prop in item.extended_properties] == [
        "42",
        "2024-03-01T08:00:00Z",
    ]
    assert item.extended_properties[1].key.property_tag == 0x3007
    assert item.last_modified_time == datetime(2024, 3, 2, 9, 30, 0, 123000, tzinfo=UTC)
    assert item.calendar_item_type is CalendarItemType.RECURRING_MASTER
    assert item.organizer is not None
    assert item.organizer.email_address == "alice@example.com"
    assert item.required_attendees == (
        Attendee.model_validate(
            {
                "mailbox": {
                    "email_address": "bob@example.com",
                    "name": "Bob",
                    "routing_type": None,
                },
                "response_type": ResponseType.ACCEPT,
                "last_response_time": datetime(2024, 3, 1, 10, tzinfo=UTC),
            }
        ),
    )
    assert item.recurrence == Recurrence(
        pattern=WeeklyRecurrence(days_of_week=("Sunday",), first_day_of_week="Monday"),
        range=NumberedRecurrence(start_date=date(2024, 3, 31), number_of_occurrences=4),
    )
    assert item.first_occurrence is not None
    assert item.deleted_occurrences[0].start == datetime(2024, 4, 7, 0, 30, tzinfo=UTC)
    assert item.start_time_zone == "W. Europe Standard Time"


def test_calendar_times_come_back_in_the_event_zone_across_dst() -> None:
    """Start and end are shown in the event's zone, on both sides of a DST switch."""
    item = item_from_xml(_parse(CALENDAR_ITEM))

    berlin = ZoneInfo("Europe/Berlin")
    assert isinstance(item, CalendarItem)
    assert item.start is not None
    assert item.end is not None
    assert item.start.tzinfo is berlin
    # 00:30Z is 01:30 CET and 01:30Z is already 03:30 CEST: two hours apart
    # on the wall clock (which is what Python subtracts within one zone), one
    # hour apart in real time.
    assert item.start.isoformat() == "2024-03-31T01:30:00+01:00"
    assert item.end.isoformat() == "2024-03-31T03:30:00+02:00"
    assert item.end.astimezone(UTC) - item.start.astimezone(UTC) == timedelta(hours=1)


def test_unknown_time_zone_id_keeps_utc() -> None:
    """A custom zone id Exchange may send leaves the times in UTC, unchanged."""
    element = _parse(
        "<t:CalendarItem><t:Start>2024-01-01T10:00:00Z</t:Start>"
        '<t:StartTimeZone Id="Customized Time Zone"/></t:CalendarItem>'
    )

    item = item_from_xml(element)

    assert isinstance(item, CalendarItem)
    assert item.start == datetime(2024, 1, 1, 10, tzinfo=UTC)
    assert item.start is not None
    assert item.start.tzinfo is UTC
    assert item.start_time_zone == "Customized Time Zone"


def test_other_item_kinds_decode_as_plain_items() -> None:
    """A meeting request decodes as an Item with the common fields only."""
    element = _parse(
        '<t:MeetingRequest><t:ItemId Id="M1"/><t:Subject>Invite</t:Subject>'
        "<t:Start>2024-01-01T10:00:00Z</t:Start></t:MeetingRequest>"
    )

    item = item_from_xml(element)

    assert type(item) is Item
    assert item.subject == "Invite"
    assert item.item_id == ItemId(id="M1")


def test_contact_dictionaries_decode() -> None:
    """Contact e-mail, phone and address dictionaries decode by key."""
    element = _parse(
        "<t:Contact><t:EmailAddresses>"
        '<t:Entry Key="EmailAddress1" Name="Ann">ann@example.com</t:Entry>'
        '</t:EmailAddresses><t:PhysicalAddresses><t:Entry Key="Business">'
        "<t:City>Köln</t:City><t:PostalCode>50667</t:PostalCode></t:Entry>"
        "</t:PhysicalAddresses><t:PhoneNumbers>"
        '<t:Entry Key="MobilePhone">+49 1</t:Entry>'
        "</t:PhoneNumbers><t:Birthday>1980-05-03T22:00:00Z</t:Birthday></t:Contact>"
    )

    item = item_from_xml(element)

    assert isinstance(item, Contact)
    assert item.email_addresses[0].key is EmailAddressKey.EMAIL_ADDRESS_1
    assert item.email_addresses[0].name == "Ann"
    assert item.physical_addresses[0].city == "Köln"
    assert item.phone_numbers[0].key is PhoneNumberKey.MOBILE_PHONE
    # Outlook in Berlin stores local midnight of 4 May as 22:00Z on 3 May.
    assert item.birthday == date(1980, 5, 4)


def test_contact_notes_read_the_body() -> None:
    """Contact.notes is the text of the body."""
    element = _parse('<t:Contact><t:Body BodyType="Text">VIP</t:Body></t:Contact>')

    item = item_from_xml(element)

    assert isinstance(item, Contact)
    assert item.notes == "VIP"


def test_regenerating_task_recurrence_is_skipped() -> None:
    """A task with a regenerating rule decodes without a recurrence."""
    element = _parse(
        "<t:Task><t:Recurrence><t:DailyRegeneration><t:Interval>2</t:Interval>"
        "</t:DailyRegeneration><t:NoEndRecurrence><t:StartDate>2024-01-01</t:StartDate>"
        "</t:NoEndRecurrence></t:Recurrence><t:PercentComplete>12.5</t:PercentComplete>"
        "</t:Task>"
    )

    item = item_from_xml(element)

    assert isinstance(item, Task)
    assert item.recurrence is None
    assert item.percent_complete == 12.5


def test_folder_kinds_come_from_the_tag() -> None:
    """Each folder element decodes with its kind and counts."""
    element = _parse(
        '<t:TasksFolder><t:FolderId Id="F1" ChangeKey="C"/>'
        "<t:FolderClass>IPF.Task</t:FolderClass><t:DisplayName>Tasks</t:DisplayName>"
        "<t:TotalCount>3</t:TotalCount><t:ChildFolderCount>0</t:ChildFolderCount>"
        "<t:UnreadCount>1</t:UnreadCount></t:TasksFolder>"
    )

    folder = folder_from_xml(element)

    assert folder == Folder(
        kind=FolderKind.TASKS_FOLDER,
        folder_id=FolderId(id="F1", change_key="C"),
        folder_class="IPF.Task",
        display_name="Tasks",
        total_count=3,
        child_folder_count=0,
        unread_count=1,
    )


def test_ids_decode() -> None:
    """Folder ids of both kinds and occurrence ids decode."""
    distinguished = folder_id_from_xml(
        _parse(
            '<t:DistinguishedFolderId Id="calendar"><t:Mailbox>'
            "<t:EmailAddress>a@example.com</t:EmailAddress></t:Mailbox>"
            "</t:DistinguishedFolderId>"
        )
    )
    occurrence = OccurrenceItemId.from_xml(
        _parse('<t:OccurrenceItemId RecurringMasterId="R" InstanceIndex="3"/>')
    )

    assert isinstance(distinguished, DistinguishedFolderId)
    assert distinguished.mailbox is not None
    assert distinguished.mailbox.email_address == "a@example.com"
    assert occurrence == OccurrenceItemId(recurring_master_id="R", instance_index=3)


def test_items_of_one_page_share_their_parent_folder_id() -> None:
    """Equal parent folder ids decode to one frozen instance; others stay apart."""
    first, second, other = (
        item_from_xml(
            _parse(
                f'<t:Contact><t:ParentFolderId Id="{folder}" ChangeKey="k"/>'
                "</t:Contact>"
            )
        )
        for folder in ("F1", "F1", "F2")
    )

    assert first.parent_folder_id is second.parent_folder_id
    assert first.parent_folder_id == FolderId(id="F1", change_key="k")
    assert other.parent_folder_id == FolderId(id="F2", change_key="k")


@pytest.mark.parametrize(
    ("decode", "body"),
    [
        (item_from_xml, '<t:CalendarItem><t:ItemId ChangeKey="x"/></t:CalendarItem>'),
        (item_from_xml, '<t:CalendarItem><t:ItemId Id=""/></t:CalendarItem>'),
        (item_from_xml, "<t:CalendarItem><t:Start>tomorrow</t:Start></t:CalendarItem>"),
        (item_from_xml, "<t:CalendarItem><t:Start/></t:CalendarItem>"),
        (item_from_xml, "<t:Task><t:IsComplete>maybe</t:IsComplete></t:Task>"),
        (item_from_xml, "<t:Task><t:PercentComplete>lots</t:PercentComplete></t:Task>"),
        (item_from_xml, "<t:Task><t:Status>Done</t:Status></t:Task>"),
        (
            item_from_xml,
            "<t:Item><t:ReminderMinutesBeforeStart>x</t:ReminderMinutesBeforeStart></t:Item>",
        ),
        (item_from_xml, '<t:Item><t:Body BodyType="RTF">x</t:Body></t:Item>'),
        (
            item_from_xml,
            "<t:CalendarItem><t:Recurrence><t:DailyRecurrence><t:Interval>1</t:Interval>"
            "</t:DailyRecurrence></t:Recurrence></t:CalendarItem>",
        ),
        (
            item_from_xml,
            "<t:CalendarItem><t:Recurrence><t:NoEndRecurrence><t:StartDate>2024-01-01"
            "</t:StartDate></t:NoEndRecurrence></t:Recurrence></t:CalendarItem>",
        ),
        (
            item_from_xml,
            "<t:CalendarItem><t:Recurrence><t:WeeklyRecurrence><t:Interval>1</t:Interval>"
            "</t:WeeklyRecurrence><t:NoEndRecurrence><t:StartDate>2024-01-01</t:StartDate>"
            "</t:NoEndRecurrence></t:Recurrence></t:CalendarItem>",
        ),
        (
            item_from_xml,
            "<t:CalendarItem><t:Recurrence><t:DailyRecurrence><t:Interval>1</t:Interval>"
            "</t:DailyRecurrence><t:EndDateRecurrence><t:StartDate>2024-13-01</t:StartDate>"
            "<t:EndDate>2024-01-01</t:EndDate></t:EndDateRecurrence></t:Recurrence>"
            "</t:CalendarItem>",
        ),
        (
            item_from_xml,
            "<t:CalendarItem><t:FirstOccurrence><t:Start>2024-01-01T00:00:00Z</t:Start>"
            "</t:FirstOccurrence></t:CalendarItem>",
        ),
        (
            item_from_xml,
            "<t:CalendarItem><t:DeletedOccurrences><t:DeletedOccurrence/>"
            "</t:DeletedOccurrences></t:CalendarItem>",
        ),
        (
            item_from_xml,
            "<t:Contact><t:PhoneNumbers><t:Entry>1</t:Entry></t:PhoneNumbers></t:Contact>",
        ),
        (
            item_from_xml,
            '<t:Contact><t:PhoneNumbers><t:Entry Key="Pigeon">1</t:Entry>'
            "</t:PhoneNumbers></t:Contact>",
        ),
        (
            item_from_xml,
            '<t:Contact><t:EmailAddresses><t:Entry Key="EmailAddress1">a</t:Entry>'
            '<t:Entry Key="EmailAddress1">b</t:Entry></t:EmailAddresses></t:Contact>',
        ),
        (
            item_from_xml,
            "<t:Item><t:ExtendedProperty><t:Value>1</t:Value></t:ExtendedProperty></t:Item>",
        ),
        (
            item_from_xml,
            '<t:Item><t:ExtendedProperty><t:ExtendedFieldURI PropertyName="x" '
            'PropertyType="String"/><t:Value>1</t:Value></t:ExtendedProperty></t:Item>',
        ),
        (
            item_from_xml,
            "<t:Item><t:ExtendedProperty>"
            '<t:ExtendedFieldURI PropertySetId="not-a-guid" '
            'PropertyId="1" PropertyType="String"/><t:Value>1</t:Value>'
            "</t:ExtendedProperty></t:Item>",
        ),
        (
            item_from_xml,
            '<t:Item><t:ExtendedProperty><t:ExtendedFieldURI PropertyTag="0xZZ" '
            'PropertyType="String"/><t:Value>1</t:Value></t:ExtendedProperty></t:Item>',
        ),
        (
            item_from_xml,
            '<t:Item><t:ExtendedProperty><t:ExtendedFieldURI PropertyTag="0x1" '
            'PropertyType="StringArray"/><t:Value>1</t:Value></t:ExtendedProperty></t:Item>',
        ),
        (
            item_from_xml,
            '<t:Item><t:ExtendedProperty><t:ExtendedFieldURI PropertyTag="0x1" '
            'PropertyType="String"/></t:ExtendedProperty></t:Item>',
        ),
        (folder_from_xml, "<t:Folder><t:TotalCount>-</t:TotalCount></t:Folder>"),
        (folder_from_xml, "<t:Calendar/>"),
        (folder_from_xml, '<t:Folder><t:FolderId ChangeKey="x"/></t:Folder>'),
        (folder_id_from_xml, '<t:DistinguishedFolderId Id="attic"/>'),
        (folder_id_from_xml, '<t:ItemId Id="x"/>'),
        (OccurrenceItemId.from_xml, '<t:OccurrenceItemId InstanceIndex="1"/>'),
        (
            OccurrenceItemId.from_xml,
            '<t:OccurrenceItemId RecurringMasterId="R" InstanceIndex="one"/>',
        ),
        (ExtendedProperty.from_xml, "<t:ExtendedProperty/>"),
    ],
)
def test_malformed_data_raises_response_decode_error(decode: object, body: str) -> None:
    """Broken or schema-violating data raises ResponseDecodeError, nothing else."""
    element = _parse(body)

    with pytest.raises(ResponseDecodeError):
        decode(element)  # type: ignore[operator]  # each case's decoder takes one element
