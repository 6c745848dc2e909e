"""Construction rules of the models: what they accept and what they refuse."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings

import crm_ews.ews._models as models
from crm_ews._soap import parse_xml, t
from crm_ews.errors import ResponseDecodeError
from crm_ews.ews._models import (
    Body,
    CalendarItem,
    Contact,
    DistinguishedFolderId,
    DistinguishedFolderName,
    EmailAddress,
    EndDateRecurrence,
    ExtendedProperty,
    ExtendedPropertyKey,
    Folder,
    FolderId,
    FolderKind,
    ItemId,
    Mailbox,
    OccurrenceItemId,
    PhysicalAddress,
    Task,
    WeeklyRecurrence,
)
from crm_ews.ews._models._base import (
    format_datetime,
    parse_bool,
    parse_date,
    parse_datetime,
)

from ._strategies import extended_properties, folders
from .conftest import reparse


def test_all_is_sorted_and_complete() -> None:
    """__all__ is sorted and names every public object of the package."""
    public = {
        name
        for name, value in vars(models).items()
        if not name.startswith("_")
        and getattr(value, "__module__", "").startswith("crm_ews.ews._models")
    }

    assert models.__all__ == sorted(models.__all__)
    assert public <= set(models.__all__)


@pytest.mark.parametrize(
    "build",
    [
        lambda: CalendarItem(start=datetime(2024, 1, 1, 9)),
        lambda: Task(due_date=datetime(2024, 1, 1)),
        lambda: Task(percent_complete=150),
        lambda: Task(percent_complete=-1),
        lambda: CalendarItem(
            start=datetime(2024, 1, 2, tzinfo=UTC), end=datetime(2024, 1, 1, tzinfo=UTC)
        ),
        lambda: CalendarItem(subjekt="typo"),  # type: ignore[call-arg]  # the typo is the point
        lambda: CalendarItem(reminder_minutes_before_start=-5),
        lambda: ItemId(id=""),
        lambda: WeeklyRecurrence(days_of_week=()),
        lambda: EndDateRecurrence(
            start_date=date(2024, 2, 1), end_date=date(2024, 1, 1)
        ),
        lambda: PhysicalAddress(key="Home"),
        lambda: Contact(
            email_addresses=(
                EmailAddress(key="EmailAddress1", address="a@x"),
                EmailAddress(key="EmailAddress1", address="b@x"),
            )
        ),
        lambda: ExtendedPropertyKey(property_name="x", property_type="String"),
        lambda: ExtendedPropertyKey(
            distinguished_property_set_id="PublicStrings",
            property_set_id=UUID(int=1),
            property_name="x",
            property_type="String",
        ),
        lambda: ExtendedPropertyKey(
            distinguished_property_set_id="PublicStrings",
            property_name="x",
            property_id=1,
            property_type="String",
        ),
        lambda: ExtendedPropertyKey(
            property_tag=0x3007, property_name="x", property_type="String"
        ),
        lambda: ExtendedPropertyKey(
            distinguished_property_set_id="Nowhere",
            property_id=1,
            property_type="String",
        ),
        lambda: ExtendedProperty(
            key=ExtendedPropertyKey(property_tag=1, property_type="StringArray"),
            value="x",
        ),
        lambda: ExtendedProperty(
            key=ExtendedPropertyKey(property_tag=1, property_type="String"),
            value=("x",),
        ),
    ],
)
def test_bad_input_raises_value_error(build: object) -> None:
    """Invalid values fail at construction with a ValueError."""
    with pytest.raises(ValueError):  # noqa: PT011 - pydantic words each case differently
        build()  # type: ignore[operator]  # each case is a zero-argument builder


def test_models_are_frozen() -> None:
    """Models are values: assigning to a field fails."""
    item = Task(subject="a")

    with pytest.raises(ValueError, match="frozen"):
        item.subject = "b"  # type: ignore[misc]  # the point of the test


def test_aliases_are_accepted() -> None:
    """Wire names work as keywords too."""
    assert ItemId(Id="a", ChangeKey="b") == ItemId(id="a", change_key="b")  # type: ignore[call-arg]  # alias spelling


def test_zoned_start_fills_time_zones() -> None:
    """A ZoneInfo start and end fill start_time_zone and end_time_zone."""
    start = datetime(2024, 7, 1, 9, tzinfo=ZoneInfo("America/New_York"))
    end = datetime(2024, 7, 1, 17, tzinfo=ZoneInfo("Europe/London"))

    item = CalendarItem(start=start, end=end)

    assert item.start_time_zone == "Eastern Standard Time"
    assert item.end_time_zone == "GMT Standard Time"


def test_explicit_time_zone_is_kept() -> None:
    """A given start_time_zone is not replaced by the derived one."""
    item = CalendarItem(
        start=datetime(2024, 7, 1, 9, tzinfo=ZoneInfo("Europe/Berlin")),
        start_time_zone="Romance Standard Time",
    )

    assert item.start_time_zone == "Romance Standard Time"


def test_datetime_wire_format() -> None:
    """Datetimes go out as UTC with Z; Z, offsets and naive values come back."""
    berlin = datetime(2024, 1, 1, 10, tzinfo=ZoneInfo("Europe/Berlin"))

    assert format_datetime(berlin) == "2024-01-01T09:00:00Z"
    assert parse_datetime("2024-01-01T09:00:00Z", "x") == berlin
    assert parse_datetime("2024-01-01T10:00:00+01:00", "x") == berlin
    assert parse_datetime("2024-01-01T09:00:00", "x") == berlin
    assert parse_datetime("2024-01-01T09:00:00.5Z", "x").microsecond == 500000
    with pytest.raises(ValueError, match="timezone-aware"):
        format_datetime(datetime(2024, 1, 1))


def test_date_and_bool_parsing() -> None:
    """xs:date with zone suffixes and xs:boolean in both spellings parse."""
    assert parse_date("2024-03-01+02:00", "x") == date(2024, 3, 1)
    assert parse_date("2024-03-01Z", "x") == date(2024, 3, 1)
    assert parse_bool("1", "x") is True
    assert parse_bool("false", "x") is False
    with pytest.raises(ResponseDecodeError):
        parse_bool("yes", "x")
    with pytest.raises(ResponseDecodeError):
        parse_date("", "x")


def test_id_elements() -> None:
    """Ids build the attributes and children the schema names."""
    item_id = ItemId(id="A", change_key="B").to_xml()
    folder_id = FolderId(id="F").to_xml()
    distinguished = DistinguishedFolderId(
        id=DistinguishedFolderName.CALENDAR,
        mailbox=Mailbox(email_address="u@example.com"),
    ).to_xml()
    occurrence = OccurrenceItemId(recurring_master_id="R", instance_index=2).to_xml()

    assert (item_id.tag, dict(item_id.attrib)) == (
        t("ItemId"),
        {"Id": "A", "ChangeKey": "B"},
    )
    assert dict(folder_id.attrib) == {"Id": "F"}
    assert distinguished.get("Id") == "calendar"
    assert (
        distinguished.findtext(f"{t('Mailbox')}/{t('EmailAddress')}") == "u@example.com"
    )
    assert dict(occurrence.attrib) == {"RecurringMasterId": "R", "InstanceIndex": "2"}
    assert ItemId.from_xml(reparse(item_id)) == ItemId(id="A", change_key="B")


def test_distinguished_folder_names_cover_the_brief() -> None:
    """The folders a sync addresses are all named."""
    names = {name.value for name in DistinguishedFolderName}

    assert {
        "msgfolderroot",
        "root",
        "calendar",
        "contacts",
        "tasks",
        "deleteditems",
        "inbox",
        "drafts",
        "sentitems",
    } <= names


@settings(max_examples=100, deadline=None)
@given(extended_properties())
def test_extended_property_round_trips(prop: ExtendedProperty) -> None:
    """An extended property decodes to an equal model."""
    assert ExtendedProperty.from_xml(reparse(prop.to_xml())) == prop


def test_extended_field_uri_attributes() -> None:
    """Keys write exactly the attributes they were given."""
    named = ExtendedPropertyKey(
        property_set_id=UUID("00020329-0000-0000-c000-000000000046"),
        property_name="crm_id",
        property_type="String",
    ).to_xml()
    tagged = ExtendedPropertyKey(
        property_tag=0x3007, property_type="SystemTime"
    ).to_xml()

    assert dict(named.attrib) == {
        "PropertySetId": "00020329-0000-0000-c000-000000000046",
        "PropertyName": "crm_id",
        "PropertyType": "String",
    }
    assert dict(tagged.attrib) == {
        "PropertyTag": "0x3007",
        "PropertyType": "SystemTime",
    }


@settings(max_examples=100, deadline=None)
@given(folders)
def test_folder_round_trips(folder: Folder) -> None:
    """A folder decodes to an equal model, counts included."""
    decoded = Folder.from_xml(reparse(folder.to_xml(include_read_only=True)))

    if folder.kind in (FolderKind.CALENDAR_FOLDER, FolderKind.CONTACTS_FOLDER):
        # Those two schema types have no UnreadCount, so it is not sent.
        folder = folder.model_copy(update={"unread_count": None})
    assert decoded == folder


def test_folder_create_xml_has_only_writable_fields() -> None:
    """Folder.to_xml() for CreateFolder sends class and name only."""
    element = Folder(
        kind=FolderKind.CALENDAR_FOLDER,
        folder_id=FolderId(id="x"),
        folder_class="IPF.Appointment",
        display_name="CRM",
        total_count=3,
    ).to_xml()

    assert element.tag == t("CalendarFolder")
    assert [child.tag for child in element] == [t("FolderClass"), t("DisplayName")]


def test_body_type_defaults_to_text() -> None:
    """A body without BodyType reads as text; to_xml always names the type."""
    element = parse_xml(
        b'<t:Body xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">'
        b"x</t:Body>"
    )

    assert Body.from_xml(element) == Body(content="x")
    assert Body(content="x").to_xml().get("BodyType") == "Text"
