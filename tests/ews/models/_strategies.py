"""Hypothesis strategies for the EWS models, shared by the round-trip tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from crm_ews.ews._models import (
    AbsoluteMonthlyRecurrence,
    AbsoluteYearlyRecurrence,
    Attendee,
    Body,
    BodyType,
    CalendarItem,
    CalendarItemType,
    Contact,
    DailyRecurrence,
    DayOfWeek,
    DayOfWeekIndex,
    DeletedOccurrence,
    DistinguishedPropertySet,
    EmailAddress,
    EmailAddressKey,
    EndDateRecurrence,
    ExtendedProperty,
    ExtendedPropertyKey,
    Folder,
    FolderId,
    FolderKind,
    Importance,
    ItemId,
    LegacyFreeBusyStatus,
    Mailbox,
    MailboxType,
    MapiPropertyType,
    Month,
    NoEndRecurrence,
    NumberedRecurrence,
    OccurrenceInfo,
    PhoneNumber,
    PhoneNumberKey,
    PhysicalAddress,
    PhysicalAddressKey,
    Recurrence,
    RelativeMonthlyRecurrence,
    RelativeYearlyRecurrence,
    ResponseType,
    Sensitivity,
    Task,
    TaskStatus,
    WeeklyRecurrence,
)

_M = TypeVar("_M")


def _build(
    cls: Callable[..., _M], **fields: st.SearchStrategy[Any]
) -> st.SearchStrategy[_M]:
    """Like ``st.builds`` but by keyword only: pydantic signatures show aliases."""
    return st.fixed_dictionaries(fields).map(lambda values: cls(**values))


#: Zones that are CLDR's default for their Windows id, so a decoded datetime
#: comes back in the very same zone object.
ZONES: tuple[tzinfo, ...] = (
    UTC,
    ZoneInfo("Europe/Berlin"),
    ZoneInfo("America/New_York"),
    ZoneInfo("America/Los_Angeles"),
    ZoneInfo("Asia/Tokyo"),
    ZoneInfo("Asia/Kolkata"),
    ZoneInfo("Australia/Sydney"),
    ZoneInfo("Pacific/Auckland"),
    ZoneInfo("America/Sao_Paulo"),
)

# XML 1.0 cannot carry control characters, and parsers fold "\r" into "\n",
# so generated text avoids both; every other character must survive.
text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))
    | st.sampled_from("\n\t"),
    max_size=30,
)
non_empty_text = text.filter(bool)
ids = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40
)

instants = st.datetimes(
    min_value=datetime(1950, 1, 1),
    max_value=datetime(2150, 1, 1),
    timezones=st.just(UTC),
)
zones = st.sampled_from(ZONES)


@st.composite
def zoned_datetimes(draw: st.DrawFn) -> datetime:
    """An aware datetime in one of :data:`ZONES`, never in a DST gap."""
    return draw(instants).astimezone(draw(zones))


item_ids = _build(ItemId, id=ids, change_key=st.none() | ids)
folder_ids = _build(FolderId, id=ids, change_key=st.none() | ids)
mailboxes = _build(
    Mailbox,
    email_address=ids,
    name=st.none() | text,
    routing_type=st.sampled_from(["SMTP", "EX", None]),
    mailbox_type=st.none() | st.sampled_from(MailboxType),
)
attendees = _build(
    Attendee,
    mailbox=mailboxes,
    response_type=st.none() | st.sampled_from(ResponseType),
    last_response_time=st.none() | instants,
)
bodies = _build(
    Body, content=text, body_type=st.sampled_from(BodyType), is_truncated=st.just(False)
)

named_keys = _build(
    ExtendedPropertyKey,
    distinguished_property_set_id=st.sampled_from(DistinguishedPropertySet),
    property_name=ids,
    property_type=st.sampled_from(MapiPropertyType),
)
guid_keys = _build(
    ExtendedPropertyKey,
    property_set_id=st.uuids(),
    property_id=st.integers(min_value=0, max_value=2**31 - 1),
    property_type=st.sampled_from(MapiPropertyType),
)
tag_keys = _build(
    ExtendedPropertyKey,
    property_tag=st.integers(min_value=0, max_value=0xFFFF),
    property_type=st.sampled_from(MapiPropertyType),
)
property_keys = named_keys | guid_keys | tag_keys


@st.composite
def extended_properties(draw: st.DrawFn) -> ExtendedProperty:
    """A property whose value shape matches its key's type."""
    key = draw(property_keys)
    if key.property_type.is_array:
        value: str | tuple[str, ...] = tuple(
            draw(st.lists(text, min_size=1, max_size=3))
        )
    else:
        value = draw(text)
    return ExtendedProperty(key=key, value=value)


@st.composite
def unique_extended_properties(draw: st.DrawFn) -> tuple[ExtendedProperty, ...]:
    """Up to three properties with distinct keys."""
    props = draw(st.lists(extended_properties(), max_size=3))
    return tuple({prop.key: prop for prop in props}.values())


recurrence_dates = st.dates(min_value=date(1980, 1, 1), max_value=date(2100, 1, 1))
patterns = st.one_of(
    _build(DailyRecurrence, interval=st.integers(1, 999)),
    _build(
        WeeklyRecurrence,
        interval=st.integers(1, 999),
        days_of_week=st.lists(st.sampled_from(DayOfWeek), min_size=1, max_size=7).map(
            tuple
        ),
        first_day_of_week=st.none() | st.sampled_from(DayOfWeek),
    ),
    _build(
        AbsoluteMonthlyRecurrence,
        interval=st.integers(1, 999),
        day_of_month=st.integers(1, 31),
    ),
    _build(
        RelativeMonthlyRecurrence,
        interval=st.integers(1, 999),
        days_of_week=st.sampled_from(DayOfWeek),
        day_of_week_index=st.sampled_from(DayOfWeekIndex),
    ),
    _build(
        AbsoluteYearlyRecurrence,
        day_of_month=st.integers(1, 31),
        month=st.sampled_from(Month),
    ),
    _build(
        RelativeYearlyRecurrence,
        days_of_week=st.sampled_from(DayOfWeek),
        day_of_week_index=st.sampled_from(DayOfWeekIndex),
        month=st.sampled_from(Month),
    ),
)


@st.composite
def ranges(draw: st.DrawFn) -> NoEndRecurrence | EndDateRecurrence | NumberedRecurrence:
    """Any of the three ranges, with a consistent end."""
    start = draw(recurrence_dates)
    kind = draw(st.sampled_from(["none", "end", "count"]))
    if kind == "none":
        return NoEndRecurrence(start_date=start)
    if kind == "end":
        end = start + timedelta(days=draw(st.integers(0, 3000)))
        return EndDateRecurrence(start_date=start, end_date=end)
    return NumberedRecurrence(
        start_date=start, number_of_occurrences=draw(st.integers(1, 999))
    )


recurrences = _build(Recurrence, pattern=patterns, range=ranges())

occurrences = _build(
    OccurrenceInfo,
    item_id=item_ids,
    start=instants,
    end=instants,
    original_start=instants,
)


def _base_fields(draw: st.DrawFn, *, read_only: bool) -> dict[str, object]:
    fields: dict[str, object] = {
        "item_class": draw(st.none() | st.sampled_from(["IPM.Appointment", "IPM.X"])),
        "subject": draw(st.none() | text),
        "sensitivity": draw(st.none() | st.sampled_from(Sensitivity)),
        "body": draw(st.none() | bodies),
        "categories": tuple(draw(st.lists(text, max_size=3))),
        "importance": draw(st.none() | st.sampled_from(Importance)),
        "reminder_due_by": draw(st.none() | instants),
        "reminder_is_set": draw(st.none() | st.booleans()),
        "reminder_minutes_before_start": draw(st.none() | st.integers(0, 2_629_800)),
        "extended_properties": draw(unique_extended_properties()),
    }
    if read_only:
        fields.update(
            item_id=draw(st.none() | item_ids),
            parent_folder_id=draw(st.none() | folder_ids),
            date_time_created=draw(st.none() | instants),
            last_modified_time=draw(st.none() | instants),
        )
    return fields


@st.composite
def calendar_items(draw: st.DrawFn, *, read_only: bool = True) -> CalendarItem:
    """A calendar item: timed or all-day, maybe recurring, in varied zones."""
    fields = _base_fields(draw, read_only=read_only)
    zone = draw(zones)
    if draw(st.booleans()):
        day = draw(recurrence_dates)
        start = datetime.combine(day, time(0), tzinfo=zone)
        end = datetime.combine(
            day + timedelta(days=draw(st.integers(1, 5))), time(0), tzinfo=zone
        )
        fields["is_all_day_event"] = True
    else:
        start = draw(instants).astimezone(zone)
        end = start + timedelta(minutes=draw(st.integers(0, 60 * 24 * 3)))
        fields["is_all_day_event"] = draw(st.none() | st.just(False))
    if draw(st.booleans()):
        fields.update(start=start, end=end)
    fields.update(
        uid=draw(st.none() | ids),
        legacy_free_busy_status=draw(st.none() | st.sampled_from(LegacyFreeBusyStatus)),
        location=draw(st.none() | text),
        required_attendees=tuple(draw(st.lists(attendees, max_size=3))),
        optional_attendees=tuple(draw(st.lists(attendees, max_size=2))),
        recurrence=draw(st.none() | recurrences),
    )
    if read_only:
        fields.update(
            is_meeting=draw(st.none() | st.booleans()),
            is_cancelled=draw(st.none() | st.booleans()),
            is_recurring=draw(st.none() | st.booleans()),
            calendar_item_type=draw(st.none() | st.sampled_from(CalendarItemType)),
            my_response_type=draw(st.none() | st.sampled_from(ResponseType)),
            organizer=draw(st.none() | mailboxes),
            first_occurrence=draw(st.none() | occurrences),
            last_occurrence=draw(st.none() | occurrences),
            modified_occurrences=tuple(draw(st.lists(occurrences, max_size=2))),
            deleted_occurrences=tuple(
                DeletedOccurrence(start=value)
                for value in draw(st.lists(instants, max_size=2))
            ),
        )
    return CalendarItem(**fields)


@st.composite
def physical_addresses(draw: st.DrawFn, key: PhysicalAddressKey) -> PhysicalAddress:
    """An address with at least one part."""
    parts = {
        name: draw(st.none() | text)
        for name in ("street", "city", "state", "country_or_region", "postal_code")
    }
    if all(value is None for value in parts.values()):
        parts["city"] = draw(text)
    return PhysicalAddress(key=key, **parts)


@st.composite
def contacts(draw: st.DrawFn, *, read_only: bool = True) -> Contact:
    """A contact with random slots filled."""
    fields = _base_fields(draw, read_only=read_only)
    email_keys = draw(
        st.lists(st.sampled_from(EmailAddressKey), unique=True, max_size=3)
    )
    phone_keys = draw(
        st.lists(st.sampled_from(PhoneNumberKey), unique=True, max_size=5)
    )
    address_keys = draw(
        st.lists(st.sampled_from(PhysicalAddressKey), unique=True, max_size=3)
    )
    fields.update(
        {
            name: draw(st.none() | text)
            for name in (
                "file_as",
                "display_name",
                "given_name",
                "initials",
                "middle_name",
                "nickname",
                "company_name",
                "assistant_name",
                "department",
                "generation",
                "job_title",
                "manager",
                "office_location",
                "profession",
                "spouse_name",
                "surname",
            )
        }
    )
    fields.update(
        email_addresses=tuple(
            EmailAddress(key=key, address=draw(ids), name=draw(st.none() | text))
            for key in email_keys
        ),
        phone_numbers=tuple(
            PhoneNumber(key=key, number=draw(non_empty_text)) for key in phone_keys
        ),
        physical_addresses=tuple(draw(physical_addresses(key)) for key in address_keys),
        business_home_page=draw(
            st.none() | st.sampled_from(["https://example.com/", "http://x.test/a?b=c"])
        ),
        birthday=draw(st.none() | recurrence_dates),
        wedding_anniversary=draw(st.none() | recurrence_dates),
        companies=tuple(draw(st.lists(text, max_size=2))),
    )
    return Contact(**fields)


@st.composite
def tasks(draw: st.DrawFn, *, read_only: bool = True) -> Task:
    """A task with random dates, status and progress."""
    fields = _base_fields(draw, read_only=read_only)
    fields.update(
        actual_work=draw(st.none() | st.integers(0, 10_000)),
        billing_information=draw(st.none() | text),
        companies=tuple(draw(st.lists(text, max_size=2))),
        complete_date=draw(st.none() | zoned_datetimes()),
        due_date=draw(st.none() | zoned_datetimes()),
        mileage=draw(st.none() | text),
        percent_complete=draw(
            st.none() | st.floats(min_value=0, max_value=100, allow_nan=False)
        ),
        recurrence=draw(st.none() | recurrences),
        start_date=draw(st.none() | zoned_datetimes()),
        status=draw(st.none() | st.sampled_from(TaskStatus)),
        total_work=draw(st.none() | st.integers(0, 10_000)),
    )
    if read_only:
        fields.update(
            is_complete=draw(st.none() | st.booleans()),
            is_recurring=draw(st.none() | st.booleans()),
            owner=draw(st.none() | text),
            status_description=draw(st.none() | text),
        )
    return Task(**fields)


folders = _build(
    Folder,
    kind=st.sampled_from(FolderKind),
    folder_id=st.none() | folder_ids,
    parent_folder_id=st.none() | folder_ids,
    folder_class=st.none()
    | st.sampled_from(["IPF.Appointment", "IPF.Contact", "IPF.Note"]),
    display_name=st.none() | text,
    total_count=st.none() | st.integers(0, 2**31 - 1),
    child_folder_count=st.none() | st.integers(0, 2**31 - 1),
    unread_count=st.none() | st.integers(0, 2**31 - 1),
)
